"""PyTorch -> ExecuTorch `.pte` (XNNPACK delegate), validated against the source before the file is put in place.

The documented flow: `torch.export.export` -> `executorch.exir.to_edge_transform_and_lower(...,
partitioner=[XnnpackPartitioner()])` -> `.to_executorch()`, written as one `.pte` program.

Shapes (`shapes=`):
  dynamic: one method `forward` with a dynamic batch (1..max_batch) and sequence (2..the largest bucket);
           Transformers (BERT and the other families) export this way.
  buckets: one method `seq<N>` per sequence-length bucket at batch 1, as export.tflite's signatures;
           torch.export unrolls an nn.LSTM / nn.GRU over time and so fixes the sequence length, which is
           why recurrent students take this route. The runner and an app pick the smallest bucket that
           holds a sentence and pad it with attention_mask 0 (the models mask padding).
  auto (default): dynamic, else buckets when torch.export specialises the sequence length.

Precisions: fp32; int8 = ExecuTorch's PT2E XNNPACKQuantizer with
get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True): per-channel int8 weights of every
Linear, activations quantized at run time (XNNPACK's dynamically quantized fully-connected kernels).

The file's own metadata (labels, inputs, shapes, buckets, tool versions) is a constant method
`edgedistill_metadata` returning one JSON string; edge_runtime.executorch and the Android runner read it.
Inputs are int64, as torch traces them.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from edgecore import ConfigError, ParityError, UnsupportedError, formats
from edgecore.tolerances import drift, tolerance
from export.artifact import Artifact, TensorSpec, check_bucketed_inputs, check_buckets, tool_versions

PRECISIONS = formats.PRECISIONS["executorch"]
SHAPES = ("auto", "dynamic", "buckets")
DEFAULT_BUCKETS = (16, 32, 64, 128)
METADATA_METHOD = "edgedistill_metadata"   # a constant method: () -> the file's metadata as one JSON string
DYNAMIC_METHOD = "forward"
TOOLS = ("torch", "executorch", "torchao")


@dataclass(frozen=True)
class ExecuTorchConfig:
    """How to_executorch lowers: precision, dynamic shapes or buckets, and the bounds a dynamic method is planned for.

    >>> to_executorch(student, encoder.encode(["a fine film"]), "student.int8.pte", ExecuTorchConfig("int8"))  # doctest: +SKIP
    """
    precision: str = "fp32"
    shapes: str = "auto"                          # auto | dynamic | buckets
    buckets: tuple[int, ...] = DEFAULT_BUCKETS    # buckets: one method each; dynamic: the largest is the longest sequence
    max_batch: int = 32                           # dynamic: memory is planned for (max_batch, largest bucket)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise UnsupportedError(f"precision {self.precision!r} is not an ExecuTorch precision; choose one of {', '.join(PRECISIONS)}")
        if self.shapes not in SHAPES:
            raise ConfigError(f"shapes {self.shapes!r} is not known; choose one of {', '.join(SHAPES)}")
        object.__setattr__(self, "buckets", check_buckets(self.buckets))
        if not 1 <= self.max_batch <= 1024:
            raise ConfigError(f"max_batch must be in 1..1024 (got {self.max_batch}); 32 is the default")

    def to_dict(self) -> dict:
        return asdict(self) | {"buckets": list(self.buckets)}


def method_name(bucket: int) -> str:
    return f"seq{bucket}"


def to_executorch(model: torch.nn.Module, sample: dict[str, torch.Tensor], path: str | Path, config: ExecuTorchConfig | None = None, *,
                  metadata: dict[str, str] | None = None, validate_with: list[dict[str, torch.Tensor]] | None = None,
                  force: bool = False, strict: bool = True) -> Artifact:
    """Lower `model` to an ExecuTorch program at `path`, check it against PyTorch (through edge_runtime's runner), return its Artifact.

    With strict=False a file past its tolerance is still written (its numbers are in `validation`), so the
    caller can measure and report it like any other.

    >>> art = to_executorch(student, encoder.encode(["a fine film"]), "student.fp32.pte")        # doctest: +SKIP
    >>> art.metadata["edgedistill.executorch.shapes"], art.validation["max_abs_logit_diff"] < 1e-3  # doctest: +SKIP
    ('buckets', True)
    """
    config = config or ExecuTorchConfig()
    path = Path(path)
    names = check_bucketed_inputs(path, force, sample, validate_with, config.buckets)
    feeds = [sample, *(validate_with or [])]
    from export.onnx import LogitsOnly

    wrapper = LogitsOnly(model.eval(), names).eval()
    t0 = time.perf_counter()
    programs, shapes, fallback = _export_programs(wrapper, sample, names, config)
    tools = tool_versions(*TOOLS)
    meta = {**(metadata or {}), "edgedistill.precision": config.precision, "edgedistill.source": type(model).__name__,
            "edgedistill.inputs": ",".join(names), "edgedistill.input_dtype": "int64", "edgedistill.executorch.shapes": shapes,
            "edgedistill.buckets": ",".join(map(str, config.buckets)),
            "edgedistill.executorch.max_batch": str(config.max_batch if shapes == "dynamic" else 1),
            "edgedistill.executorch.backend": "XnnpackBackend",
            **({"edgedistill.executorch.quantizer": "XNNPACKQuantizer symmetric per-channel dynamic int8"} if config.precision == "int8" else {}),
            **{f"tool.{k}": v for k, v in tools.items()}}
    program, lowered = _lower(programs, meta)
    convert_s = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.pte", dir=path.parent)
    os.close(fd)
    try:
        Path(tmp).write_bytes(program.buffer)
        validation = check_against_torch(wrapper, names, tmp, feeds, config.precision)
        validation |= {"convert_seconds": round(convert_s, 2), "shapes": shapes, "ops": lowered,
                       **({"dynamic_shapes_refused": fallback} if fallback else {})}
        tol = tolerance("executorch", config.precision)
        if strict and not validation["within_tolerance"]:
            raise ParityError(f"ExecuTorch {config.precision} export differs from PyTorch by {validation['max_abs_logit_diff']:.3g} "
                              f"with agreement {validation['agreement']:.4f} (tolerance {tol.max_abs_logit_diff:g} / "
                              f"{tol.min_agreement:g}: {tol.reason})")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    inputs, outputs = io_spec(names, shapes, config.buckets, validation["num_labels"])
    return Artifact.for_file(path, "executorch", config.precision, inputs, outputs, tools, meta, validation)


def _export_programs(wrapper: torch.nn.Module, sample: dict[str, torch.Tensor], names: tuple[str, ...],
                     config: ExecuTorchConfig) -> tuple[dict, str, str | None]:
    """{method name: ExportedProgram} (int8 already quantized), the shapes route taken, and why dynamic was refused (auto)."""
    fallback = None
    if config.shapes in ("auto", "dynamic"):
        try:
            return {DYNAMIC_METHOD: _export_dynamic(wrapper, sample, names, config)}, "dynamic", None
        except Exception as e:   # torch.export raises its own UserError types when the model fixes a dynamic axis
            if config.shapes == "dynamic" or not _specialised(e):
                raise
            fallback = (str(e).splitlines() or [type(e).__name__])[0][:200]
    from export.tflite import bucket_sample

    programs = {}
    for bucket in config.buckets:
        args = tuple(bucket_sample(sample, names, bucket)[n] for n in names)
        programs[method_name(bucket)] = _export(wrapper, args, None, config.precision)
    return programs, "buckets", fallback


def _specialised(e: Exception) -> bool:
    """Whether torch.export refused a dynamic axis because the model's code fixes it (e.g. an unrolled LSTM)."""
    text = str(e)
    return "Constraints violated" in text or "specialized it to be a constant" in text


def _export_dynamic(wrapper, sample, names, config: ExecuTorchConfig):
    # an example of batch >= 2 and sequence >= 2, so torch.export does not specialise either axis on a 1
    args = []
    for n in names:
        t = sample[n].to(torch.long)
        t = torch.cat([t, t[:1]]) if t.shape[0] < 2 else t
        args.append(torch.nn.functional.pad(t, (0, max(0, 2 - t.shape[1]))))
    batch = torch.export.Dim("batch", min=1, max=config.max_batch)
    seq = torch.export.Dim("sequence", min=2, max=config.buckets[-1])
    pair_seq = torch.export.Dim("pair_sequence", min=2, max=config.buckets[-1])
    dims = tuple({0: batch, 1: pair_seq if n.startswith("pair_") else seq} for n in names)
    return _export(wrapper, tuple(args), dims, config.precision)


def _export(wrapper, args: tuple, dims, precision: str):
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.export.export(wrapper, args, dynamic_shapes=(dims,) if dims else None)
        if precision == "int8":
            program = _quantize_int8(program, args, dims)
    return program


def _quantize_int8(program, args: tuple, dims):
    """PT2E with ExecuTorch's XNNPACKQuantizer: per-channel symmetric int8 weights, dynamically quantized activations."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    class _LinearOnlyQuantizer(XNNPACKQuantizer):
        # The stock transform turns scalar operands into float tensor constants for add/mul annotation; a dynamic
        # config annotates only linear/conv, and the transform breaks integer index arithmetic (transformers' masks:
        # "tensors used as indices must be long"), so it is skipped
        def transform_for_annotation(self, model):
            return model

    quantizer = _LinearOnlyQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
    prepared = prepare_pt2e(program.module(), quantizer)
    prepared(*args)   # dynamic activations need no calibration; one pass as the documented flow does
    converted = convert_pt2e(prepared)
    return torch.export.export(converted, args, dynamic_shapes=dims)


def _lower(programs: dict, meta: dict) -> tuple[object, dict]:
    """to_edge_transform_and_lower with the XNNPACK partitioner; returns the ExecuTorch program and, per method,
    how many calls went to the delegate and which operators stayed on the portable kernels."""
    import warnings

    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        edge = to_edge_transform_and_lower(programs, partitioner=[XnnpackPartitioner()],
                                           constant_methods={METADATA_METHOD: json.dumps(meta, sort_keys=True)})
        ops = {}
        for name in programs:
            delegated, portable = 0, {}
            for node in edge.exported_program(name).graph.nodes:
                if node.op != "call_function" or "getitem" in str(node.target):
                    continue
                if "executorch_call_delegate" in str(node.target):
                    delegated += 1
                else:
                    key = str(getattr(node.target, "__name__", node.target))
                    portable[key] = portable.get(key, 0) + 1
            ops[name] = {"delegate_calls": delegated, "portable_ops": portable}
        return edge.to_executorch(), ops


def io_spec(names: tuple[str, ...], shapes: str, buckets: tuple[int, ...], num_labels: int | None = None) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """int64 inputs: (batch, sequence) for a dynamic program, (1, one of the buckets) for a bucketed one; float32 logits."""
    labels = num_labels if num_labels else "labels"
    if shapes == "dynamic":
        return ([TensorSpec(n, "int64", ("batch", "pair_sequence" if n.startswith("pair_") else "sequence")) for n in names],
                [TensorSpec("logits", "float32", ("batch", labels))])
    axis = "bucket(" + ",".join(map(str, buckets)) + ")"
    return [TensorSpec(n, "int64", (1, axis)) for n in names], [TensorSpec("logits", "float32", (1, labels))]


def check_against_torch(wrapper: torch.nn.Module, names: tuple[str, ...], path: str | Path, feeds: list[dict[str, torch.Tensor]],
                        precision: str) -> dict:
    """Run the file (through edge_runtime's ExecuTorch runner, as an app would) and the module on the same feeds; no raising here."""
    from edge_runtime.executorch import ExecuTorchRunner

    runner = ExecuTorchRunner(path)
    pairs = []
    for feed in feeds:
        with torch.no_grad():
            ref = wrapper(*(feed[n] for n in names)).float().numpy()
        pairs.append((ref, runner({n: feed[n].numpy() for n in names})))
    return drift(pairs, "executorch", precision) | {"num_labels": int(pairs[0][0].shape[1]), "runner": runner.info.extra}


def read_metadata(path: str | Path) -> dict:
    """The edgedistill metadata stored in a .pte program (its constant method)."""
    from edge_runtime.executorch import ExecuTorchRunner

    return dict(ExecuTorchRunner(path).meta)
