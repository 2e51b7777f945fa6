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
get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True): per-channel int8 weights of the
Linears, activations quantized at run time (XNNPACK's dynamically quantized fully-connected kernels).
`ExecuTorchConfig.int8_fp32` names Linears the quantizer leaves fp32 (a node filter on the module name); by default
a BERT-layout Transformer keeps TRANSFORMER_INT8_FP32 (its first blocks' feed-forward Linears) fp32
(benchmarks/results/executorch_int8_sensitivity.md), every other model quantizes every Linear.

The file's own metadata (labels, inputs, shapes, buckets, tool versions) is a constant method
`edgedistill_metadata` returning one JSON string; edge_runtime.executorch and the Android runner read it.
Inputs are int64, as torch traces them.
"""
from __future__ import annotations

import fnmatch
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
QUANTIZER = "XNNPACKQuantizer symmetric per-channel dynamic int8"

# The Transformer int8 default: Linears (fnmatch patterns on the model's module names) the XNNPACKQuantizer leaves fp32: the
# feed-forward Linears (intermediate + output dense) of blocks 0-2 of a BERT-layout encoder, the same six the ONNX study found
# (export.quantize.TEACHER_SENSITIVE). Chosen on the 1,000 dev sentences (benchmarks/results/executorch_int8_sensitivity.md,
# XNNPACK's dynamic int8 simulated): alone, those six are five of the top seven by error; of the sets left fp32 (top 1/2/3 by
# error, FFN of block 0, 0-1, 0-2, FFN output of 0-1) all have 1-4 flips (noise at this level: the simulation and the real
# .pte differ on 3), and these six have the lowest mean |dlogit|: 0.0140 vs 0.0233 with every Linear int8.
TRANSFORMER_INT8_FP32: tuple[str, ...] = tuple(f"*.layer.{i}.{part}.dense" for i in range(3) for part in ("intermediate", "output"))


@dataclass(frozen=True)
class ExecuTorchConfig:
    """How to_executorch lowers: precision, dynamic shapes or buckets, and the bounds a dynamic method is planned for.

    >>> to_executorch(student, encoder.encode(["a fine film"]), "student.int8.pte", ExecuTorchConfig("int8"))  # doctest: +SKIP
    """
    precision: str = "fp32"
    shapes: str = "auto"                          # auto | dynamic | buckets
    buckets: tuple[int, ...] = DEFAULT_BUCKETS    # buckets: one method each; dynamic: the largest is the longest sequence
    max_batch: int = 32                           # dynamic: memory is planned for (max_batch, largest bucket)
    # int8: nn.Linear module names (fnmatch patterns, e.g. "*.layer.0.output.dense") the quantizer leaves fp32; None = the
    # default: TRANSFORMER_INT8_FP32 when the model has Linears of those names (a BERT-layout Transformer), else none
    int8_fp32: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise UnsupportedError(f"precision {self.precision!r} is not an ExecuTorch precision; choose one of {', '.join(PRECISIONS)}")
        if self.shapes not in SHAPES:
            raise ConfigError(f"shapes {self.shapes!r} is not known; choose one of {', '.join(SHAPES)}")
        object.__setattr__(self, "buckets", check_buckets(self.buckets))
        if not 1 <= self.max_batch <= 1024:
            raise ConfigError(f"max_batch must be in 1..1024 (got {self.max_batch}); 32 is the default")
        if self.int8_fp32 is not None:
            if isinstance(self.int8_fp32, str) or not all(isinstance(x, str) and x.strip() for x in self.int8_fp32):
                raise ConfigError(f"int8_fp32 must be a tuple of Linear module-name patterns, e.g. ('*.layer.0.output.dense',) "
                                  f"(got {self.int8_fp32!r}); () quantizes every Linear, None takes the default")
            if self.precision != "int8" and self.int8_fp32:
                raise ConfigError(f"int8_fp32 applies to int8 only, not {self.precision}")
            object.__setattr__(self, "int8_fp32", tuple(self.int8_fp32))

    def to_dict(self) -> dict:
        return asdict(self) | {"buckets": list(self.buckets), "int8_fp32": None if self.int8_fp32 is None else list(self.int8_fp32)}


def fp32_linears(model: torch.nn.Module, config: ExecuTorchConfig) -> tuple[str, ...]:
    """The module names of the nn.Linear layers of `model` an int8 export leaves fp32 (config.int8_fp32, or the default).

    An explicit pattern that matches no Linear is an error naming the Linears there are; the default keeps whichever of its
    Linears the model has (a 2-block BERT: the blocks it has), so a model without them quantizes every Linear.
    """
    if config.precision != "int8":
        return ()
    linears = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    patterns = TRANSFORMER_INT8_FP32 if config.int8_fp32 is None else config.int8_fp32
    hits = {p: [n for n in linears if fnmatch.fnmatchcase(n, p)] for p in patterns}
    missing = [p for p, found in hits.items() if not found]
    if missing and config.int8_fp32 is not None:
        shown = ", ".join(linears[:6]) + (", ..." if len(linears) > 6 else "")
        raise ConfigError(f"int8_fp32 pattern(s) {', '.join(map(repr, missing))} match no nn.Linear of {type(model).__name__}; "
                          f"its Linears are named like {shown or '(none)'}")
    return tuple(n for n in linears if any(n in found for found in hits.values()))


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
    keep = fp32_linears(model, config)
    t0 = time.perf_counter()
    programs, shapes, fallback, linears = _export_programs(wrapper, sample, names, config, keep)
    tools = tool_versions(*TOOLS)
    meta = {**(metadata or {}), "edgedistill.precision": config.precision, "edgedistill.source": type(model).__name__,
            "edgedistill.inputs": ",".join(names), "edgedistill.input_dtype": "int64", "edgedistill.executorch.shapes": shapes,
            "edgedistill.buckets": ",".join(map(str, config.buckets)),
            "edgedistill.executorch.max_batch": str(config.max_batch if shapes == "dynamic" else 1),
            "edgedistill.executorch.backend": "XnnpackBackend",
            **({"edgedistill.executorch.quantizer": QUANTIZER + (f"; {len(keep)} Linears fp32" if keep else ""),
                "edgedistill.executorch.int8_fp32": ",".join(keep)} if config.precision == "int8" else {}),
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
                       **({"linears": linears} if linears else {}), **({"dynamic_shapes_refused": fallback} if fallback else {})}
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
                     config: ExecuTorchConfig, keep: tuple[str, ...] = ()) -> tuple[dict, str, str | None, dict]:
    """{method name: ExportedProgram} (int8 already quantized), the shapes route taken, why dynamic was refused (auto), and
    (int8) how many Linear calls of the first method got int8 weights and which stayed fp32."""
    fallback = None
    if config.shapes in ("auto", "dynamic"):
        try:
            program, linears = _export_dynamic(wrapper, sample, names, config, keep)
            return {DYNAMIC_METHOD: program}, "dynamic", None, linears
        except Exception as e:   # torch.export raises its own UserError types when the model fixes a dynamic axis
            if config.shapes == "dynamic" or not _specialised(e):
                raise
            fallback = (str(e).splitlines() or [type(e).__name__])[0][:200]
    from export.tflite import bucket_sample

    programs, linears = {}, {}
    for bucket in config.buckets:
        args = tuple(bucket_sample(sample, names, bucket)[n] for n in names)
        programs[method_name(bucket)], counted = _export(wrapper, args, None, config.precision, keep)
        linears = linears or counted
    return programs, "buckets", fallback, linears


def _specialised(e: Exception) -> bool:
    """Whether torch.export refused a dynamic axis because the model's code fixes it (e.g. an unrolled LSTM)."""
    text = str(e)
    return "Constraints violated" in text or "specialized it to be a constant" in text


def _export_dynamic(wrapper, sample, names, config: ExecuTorchConfig, keep: tuple[str, ...] = ()):
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
    return _export(wrapper, tuple(args), dims, config.precision, keep)


def _export(wrapper, args: tuple, dims, precision: str, keep: tuple[str, ...] = ()) -> tuple[object, dict]:
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.export.export(wrapper, args, dynamic_shapes=(dims,) if dims else None)
        if precision == "int8":
            program = _quantize_int8(program, args, dims, keep)
            return program, count_linears(program)
    return program, {}


def count_linears(program) -> dict:
    """{"int8": Linear calls whose weight is dequantized from int8, "fp32": the others} in a quantized ExportedProgram."""
    int8, fp32 = 0, 0
    for node in program.graph.nodes:
        if node.op == "call_function" and "linear" in str(node.target) and len(node.args) > 1:
            weight = node.args[1]
            if getattr(weight, "op", None) == "call_function" and "dequantize" in str(weight.target):
                int8 += 1
            else:
                fp32 += 1
    return {"int8": int8, "fp32": fp32}


def _quantize_int8(program, args: tuple, dims, keep: tuple[str, ...] = ()):
    """PT2E with ExecuTorch's XNNPACKQuantizer: per-channel symmetric int8 weights, dynamically quantized activations;
    the Linears named in `keep` (module names of the wrapped model) are filtered out of the annotation and stay fp32."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer.utils import get_module_name_filter

    class _LinearOnlyQuantizer(XNNPACKQuantizer):
        # The stock transform turns scalar operands into float tensor constants for add/mul annotation; a dynamic
        # config annotates only linear/conv, and the transform breaks integer index arithmetic (transformers' masks:
        # "tensors used as indices must be long"), so it is skipped
        def transform_for_annotation(self, model):
            return model

    quantizer = _LinearOnlyQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
    if keep:   # the wrapper (export.onnx.LogitsOnly) holds the model as `model`
        kept = [get_module_name_filter(f"model.{name}") for name in keep]
        quantizer.set_filter_function(lambda node: not any(f(node) for f in kept))
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
