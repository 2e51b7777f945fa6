"""PyTorch -> Core ML (.mlpackage, ML Program, iOS 17+), checked numerically before it is put in place.

Routes (verified on coremltools 9.0 / torch 2.13):
  * recurrent students (nn.LSTM / nn.GRU inside): torch.jit.trace; LSTM becomes Core ML's native
    `lstm` op, PyTorch's GRU a `while_loop` (Core ML's `gru` op has other reset-gate maths).
  * Transformers (students, Hugging Face checkpoints): torch.export + run_decompositions() with the
    default table; jit.trace fails on them.
Inputs are int32 (Core ML has no int64 inputs) of shape (1, T): T flexible within a RangeDim, or, when
the converter refuses a range, enumerated buckets (iOS 18, or a single input) or else one fixed length
(before iOS 18 Core ML allows enumerated shapes on one input only). Batch is 1, which is what an app runs.
A siamese student of sentence pairs takes pair_input_ids / pair_attention_mask as two more int32 inputs.

Precisions: fp32; fp16 (weights and compute); int8 (per-channel linear weights with zero points) and
palettize4 / palettize6 (16- or 64-entry per-tensor weight palettes, 1-D k-means), all through
coremltools.optimize on top of fp16 compute unless `compute_precision="fp32"` is asked for.

Core ML only predicts on macOS. So each package is validated here with a numpy evaluation of its MIL
program (edge_runtime._coreml) against the PyTorch source on the sentences given; on macOS, Core ML's own
predict() runs too and both are recorded. Spec checks (IO names, dtypes, shapes, ranges, op counts,
compressed weights) are recorded in `Artifact.validation["spec"]`, which the bundle manifest carries.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from edgecore import ConfigError, EdgedistillError, OutputExistsError, ParityError, UnsupportedError, formats
from edgecore.fsio import replace_dir
from edgecore.tolerances import tolerance
from export.artifact import Artifact, TensorSpec, length_buckets, tool_versions

PRECISIONS = formats.PRECISIONS["coreml"]
COMPUTE_PRECISIONS = ("fp32", "fp16")
TARGETS = ("iOS17", "iOS18")
SEQUENCES = ("auto", "range", "buckets", "fixed")
ROUTES = ("auto", "trace", "export")
PALETTE_MODES = ("kmeans", "uniform")
INT8_MODES = ("linear", "linear_symmetric")
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids", "pair_input_ids", "pair_attention_mask")
# the constexpr ops coremltools writes for each compression (iOS17 target; iOS18 uses the blockwise forms)
COMPRESSED_OPS = {"int8": ("constexpr_affine_dequantize", "constexpr_blockwise_shift_scale"),
                  "palettize4": ("constexpr_lut_to_dense",), "palettize6": ("constexpr_lut_to_dense",)}


class SpecCheckError(EdgedistillError, ValueError):
    """The converted package does not have the interface or the compressed weights it was asked for."""


@dataclass(frozen=True)
class CoreMLConfig:
    precision: str = "fp32"                  # fp32 | fp16 | int8 | palettize4 | palettize6
    compute_precision: str | None = None     # None: fp32 for fp32, else fp16 (what the GPU / Neural Engine run)
    minimum_deployment_target: str = "iOS17"
    sequence: str = "auto"                   # range (RangeDim) | buckets (EnumeratedShapes) | fixed (max_seq_len);
                                             # auto: range, else buckets (iOS18 or one input), else fixed
    max_seq_len: int = 128                   # upper bound of the range (and of the largest bucket)
    buckets: tuple[int, ...] | None = None   # None: 16, 32, 64, ... up to max_seq_len
    route: str = "auto"                      # auto: trace when the model holds an LSTM/GRU, else torch.export
    palette: str = "kmeans"                  # kmeans (1-D Lloyd) | uniform (evenly spaced entries)
    int8_mode: str = "linear"                # linear: per-channel scale + zero point | linear_symmetric: scale only
                                             # (2,000 sentences: linear met 99.5% on both benchmark models, symmetric
                                             # missed it on the 2-layer MiniLM student: 99.25%; benchmarks/results/coreml.md)
    weight_threshold: int = 2048             # only tensors with more elements are compressed
    labels: tuple[str, ...] = ()             # class names, in logit order; default: the model's id2label
    tokenizer: dict = field(default_factory=dict)   # max_len, lowercase, pad_id, ... (Encoder.settings as a dict)
    author: str = "edgedistill"
    license: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        _choice("precision", self.precision, PRECISIONS)
        if self.compute_precision is not None:
            _choice("compute_precision", self.compute_precision, COMPUTE_PRECISIONS)
            if self.precision == "fp32" and self.compute_precision != "fp32":
                raise ConfigError("precision fp32 computes in fp32; for fp16 compute choose precision='fp16'")
            if self.precision == "fp16" and self.compute_precision != "fp16":
                raise ConfigError("precision fp16 means fp16 weights and compute; for fp32 compute choose precision='fp32'")
        _choice("minimum_deployment_target", self.minimum_deployment_target, TARGETS)
        _choice("sequence", self.sequence, SEQUENCES)
        _choice("route", self.route, ROUTES)
        _choice("palette", self.palette, PALETTE_MODES)
        _choice("int8_mode", self.int8_mode, INT8_MODES)
        if not 2 <= self.max_seq_len <= 4096:
            raise ConfigError(f"max_seq_len must be in 2..4096 (got {self.max_seq_len}); 64 or 128 suit sentences")
        if self.buckets is not None and (not self.buckets or list(self.buckets) != sorted(set(self.buckets))
                                         or self.buckets[0] < 2 or self.buckets[-1] > self.max_seq_len):
            raise ConfigError(f"buckets must be increasing lengths in 2..max_seq_len={self.max_seq_len} "
                              f"(got {list(self.buckets)}), e.g. (16, 32, 64, 128)")
        if self.weight_threshold < 0:
            raise ConfigError(f"weight_threshold must be >= 0 (got {self.weight_threshold}); 2048 is coremltools' default")
        if self.labels and (len(self.labels) < 2 or len(set(self.labels)) != len(self.labels)):
            raise ConfigError(f"labels must be at least two distinct class names in logit order (got {list(self.labels)}), "
                              f"e.g. ('negative', 'positive')")

    @property
    def bucket_lengths(self) -> tuple[int, ...]:
        if self.buckets is not None:
            return tuple(self.buckets)
        return length_buckets(self.max_seq_len)

    @property
    def compute(self) -> str:
        return self.compute_precision or ("fp32" if self.precision == "fp32" else "fp16")

    def to_dict(self) -> dict:
        return asdict(self)


def _choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{name} {value!r} is not supported; choose one of {', '.join(choices)}")


class Int32Logits(torch.nn.Module):
    """int32 token tensors in (Core ML inputs), logits out; the model still sees int64 as in training."""

    def __init__(self, model: torch.nn.Module, names: tuple[str, ...]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        # named arguments, not *tensors: torch.export matches dynamic_shapes to the signature
        given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        out = self.model(**{n: given[n].to(torch.int64) for n in self.names})
        return getattr(out, "logits", out)


class Int32PairLogits(Int32Logits):
    """A siamese student's four int32 inputs (each side of the pair alone) in, logits out."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pair_input_ids: torch.Tensor,
                pair_attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids.to(torch.int64), attention_mask=attention_mask.to(torch.int64),
                          pair_input_ids=pair_input_ids.to(torch.int64), pair_attention_mask=pair_attention_mask.to(torch.int64))


def to_coreml(model: torch.nn.Module, sample: dict[str, torch.Tensor], path: str | Path, config: CoreMLConfig | None = None,
              metadata: dict[str, str] | None = None, validate_with: list[dict[str, torch.Tensor]] | None = None,
              force: bool = False, strict: bool = True) -> Artifact:
    """Convert `model` to a Core ML package at `path` (.mlpackage), check it, and return its Artifact.

    The check evaluates the saved package on `sample` (+ `validate_with`: real sentences) and compares
    it with the model in fp32: past the tolerance for this precision it raises ParityError and writes
    nothing, unless `strict=False`, which keeps the package and records the failures in
    `validation["failures"]` (for benchmarks that report every precision, passing or not).

    >>> art = to_coreml(student, encoder.encode(["a fine film"]), "student.mlpackage",
    ...                 CoreMLConfig("int8", labels=("negative", "positive")))          # doctest: +SKIP
    >>> art.validation["agreement"] >= 0.995, art.validation["spec"]["compressed_weights"]["bits"]  # doctest: +SKIP
    (True, {'8': 3})
    """
    config = config or CoreMLConfig()
    path = Path(path)
    if path.suffix != ".mlpackage":
        raise ConfigError(f"a Core ML package path must end in .mlpackage (got {path.name}); e.g. {path.stem}.{config.precision}.mlpackage")
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists; pass force=True (--force) to replace it")
    names = tuple(n for n in INPUT_NAMES if n in sample)
    if "input_ids" not in names or set(sample) - set(INPUT_NAMES):
        raise ConfigError(f"sample must hold input_ids (+ attention_mask, token_type_ids, or the siamese pair_input_ids, "
                          f"pair_attention_mask); got {sorted(sample)}")
    model = model.eval()
    wrapper = (Int32PairLogits if "pair_input_ids" in names else Int32Logits)(model, names).eval()
    max_len = _max_len(model, config)
    # the package takes batch 1 and at most max_len tokens: trace/export on the first row, cut to fit
    args = tuple(sample[n][:1, :max_len].to(torch.int32) for n in names)
    with torch.no_grad():
        num_labels = int(wrapper(*args).shape[-1])
    labels = _labels(model, config, num_labels)
    route = _route(model, config)

    from edge_runtime._coreml import coremltools

    coremltools()
    mlmodel, sequence = _convert(wrapper, args, names, config, route, max_len)
    if config.precision in COMPRESSED_OPS:
        mlmodel = _compress(mlmodel, config)
    tools = tool_versions("torch", "coremltools", "numpy")
    meta = _metadata(mlmodel, model, config, labels, route, sequence, tools, metadata or {})

    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        staged = work / path.name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlmodel.save(str(staged))
        spec_report = check_spec(staged, names, num_labels, config, sequence)
        feeds = [{n: f[n][:, :max_len] for n in names} for f in (sample, *(validate_with or []))]   # same tokens on both sides
        validation = {"spec": spec_report, **validate_package(staged, wrapper, names, feeds, config.precision)}
        if validation["failures"] and strict:
            raise ParityError(f"Core ML {config.precision} package differs from PyTorch on {validation['sentences']} sentences: "
                              f"{'; '.join(validation['failures'])} (tolerance: {validation['tolerance']['reason']})")
        replace_dir(staged, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Artifact.for_file(path, "coreml", config.precision, _tensor_specs(spec_report["inputs"], sequence),
                             _tensor_specs(spec_report["outputs"]), tools, meta, validation)


# ------------------------------------------------------------------------------------------- converting

def _labels(model, config: CoreMLConfig, num_labels: int) -> tuple[str, ...]:
    labels = config.labels
    if not labels:
        id2label = getattr(getattr(model, "config", None), "id2label", None)
        if isinstance(id2label, dict) and len(id2label) == num_labels:
            labels = tuple(str(id2label[i]) for i in sorted(id2label, key=int))
    if not labels:
        raise ConfigError(f"the model gives {num_labels} logits but has no label names; pass CoreMLConfig(labels=(...)) "
                          f"with {num_labels} names in logit order, e.g. ('negative', 'positive')")
    if len(labels) != num_labels:
        raise ConfigError(f"{len(labels)} labels {list(labels)} for a model with {num_labels} logits; give one name per logit")
    return tuple(labels)


def _route(model: torch.nn.Module, config: CoreMLConfig) -> str:
    if config.route != "auto":
        return config.route
    recurrent = any(isinstance(m, (torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN)) for m in model.modules())
    return "trace" if recurrent else "export"


def _max_len(model: torch.nn.Module, config: CoreMLConfig) -> int:
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if isinstance(positions, int) and config.max_seq_len > positions:
        raise ConfigError(f"max_seq_len {config.max_seq_len} exceeds the model's max_position_embeddings {positions}; "
                          f"choose max_seq_len <= {positions}")
    return config.max_seq_len


def _convert(wrapper, args, names, config: CoreMLConfig, route: str, max_len: int):
    """(MLModel, sequence description). With sequence='auto' a refused RangeDim falls back to buckets, or,
    where Core ML allows enumerated shapes on one input only (before iOS 18), to one fixed length."""
    multi = len(names) > 1 and config.minimum_deployment_target == "iOS17"
    if config.sequence == "buckets" and multi:
        raise ConfigError(f"buckets on {len(names)} inputs need minimum_deployment_target='iOS18' (before iOS 18 Core ML "
                          f"allows enumerated shapes on one input only); choose sequence='range' or 'fixed', or target iOS18")
    kinds = ("range", "fixed" if multi else "buckets") if config.sequence == "auto" else (config.sequence,)
    errors = []
    for kind in kinds:
        try:
            mlmodel = _convert_once(wrapper, args, names, config, route, max_len, kind)
        except Exception as e:
            if config.sequence != "auto":
                raise
            errors.append(f"{kind}: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")
            continue
        seq = {"kind": kind, "route": route}
        if kind == "range":
            seq |= {"min": 1 if route == "trace" else 2, "max": max_len}
        elif kind == "buckets":
            seq |= {"buckets": list(config.bucket_lengths)}
        else:
            seq |= {"length": max_len}
        if errors:
            seq["range_failed"] = errors[0]
        return mlmodel, seq
    raise UnsupportedError(f"Core ML conversion ({route} route) failed with every sequence shape tried: {' | '.join(errors)}")


def _register_identity_ops() -> None:
    """coremltools 9 has no converter for torch.export's `aten.alias` (a view that changes nothing; DeBERTa-v2's
    relative-position code makes one): register it as the identity, once."""
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    if "alias" in _TORCH_OPS_REGISTRY:
        return

    def alias(context, node):
        context.add(_get_inputs(context, node, expected=1)[0], node.name)

    _TORCH_OPS_REGISTRY.set_func_by_name(alias, "alias")


def _convert_once(wrapper, args, names, config: CoreMLConfig, route: str, max_len: int, kind: str):
    import coremltools as ct

    _register_identity_ops()

    T = int(args[0].shape[1])
    if not 2 <= T <= max_len:
        raise ConfigError(f"the sample has {T} tokens; give 2..{max_len} tokens (a real encoded sentence)")
    if kind == "fixed":   # pad the example to the one length the package will take
        pad = int(config.tokenizer.get("pad_id", 0))
        args = tuple(torch.nn.functional.pad(a, (0, max_len - T), value=pad if n.endswith("input_ids") else 0) for n, a in zip(names, args))

    def shape(lower: int):
        if kind == "buckets":
            lengths = config.bucket_lengths
            return ct.EnumeratedShapes(shapes=[[1, b] for b in lengths], default=[1, lengths[-1]])
        if kind == "fixed":
            return (1, max_len)
        return (1, ct.RangeDim(lower_bound=lower, upper_bound=max_len, default=T))

    common = dict(outputs=[ct.TensorType(name="logits", dtype=np.float32)], convert_to="mlprogram",
                  minimum_deployment_target=getattr(ct.target, config.minimum_deployment_target),
                  compute_precision=ct.precision.FLOAT32 if config.compute == "fp32" else ct.precision.FLOAT16,
                  skip_model_load=True)
    with _quiet(), torch.no_grad():
        if route == "trace":
            traced = torch.jit.trace(wrapper, args, check_trace=False)
            inputs = [ct.TensorType(name=n, shape=shape(1), dtype=np.int32) for n in names]
            return ct.convert(traced, inputs=inputs, **common)
        seq = torch.export.Dim("sequence", min=2, max=max_len)
        dynamic = None if kind == "fixed" else tuple({1: seq} for _ in names)
        program = torch.export.export(wrapper, args, dynamic_shapes=dynamic).run_decompositions()
        inputs = [ct.TensorType(name=n, dtype=np.int32, shape=shape(2)) for n in names]
        return ct.convert(program, inputs=inputs, **common)


def _compress(mlmodel, config: CoreMLConfig):
    import coremltools.optimize as cto

    from export._coreml.palette import kmeans_lut

    if config.precision == "int8":
        op = cto.coreml.OpLinearQuantizerConfig(mode=config.int8_mode, dtype="int8", granularity="per_channel",
                                                weight_threshold=config.weight_threshold)
        compress = cto.coreml.linear_quantize_weights
    else:
        nbits = int(config.precision.removeprefix("palettize"))
        op = (cto.coreml.OpPalettizerConfig(mode="custom", lut_function=kmeans_lut(nbits), weight_threshold=config.weight_threshold)
              if config.palette == "kmeans" else
              cto.coreml.OpPalettizerConfig(mode="uniform", nbits=nbits, weight_threshold=config.weight_threshold))
        compress = cto.coreml.palettize_weights
    with _quiet(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compress(mlmodel, cto.coreml.OptimizationConfig(global_config=op))


def _metadata(mlmodel, model, config: CoreMLConfig, labels, route: str, sequence: dict, tools: dict, extra: dict) -> dict[str, str]:
    source = type(model).__name__
    params = sum(p.numel() for p in model.parameters())
    mlmodel.author = config.author
    mlmodel.license = config.license or "see the model's source"
    mlmodel.short_description = config.description or (
        f"{source} text classifier ({', '.join(labels)}) exported by edgedistill: {config.precision} weights, "
        f"{config.compute} compute. Inputs: WordPiece ids and attention mask, int32 (1, T); output: logits.")
    mlmodel.version = tools.get("edgedistill", "")
    if sequence["kind"] == "range":
        length = f"T in {sequence['min']}..{sequence['max']}"
    elif sequence["kind"] == "buckets":
        length = f"T one of {sequence['buckets']} (pad with pad_id, mask 0)"
    else:
        length = f"T = {sequence['length']} (pad with pad_id, mask 0)"
    for name in mlmodel.input_description:
        what = {"input_ids": "WordPiece token ids", "attention_mask": "1 for real tokens, 0 for padding",
                "token_type_ids": "segment ids (0 for one sentence)",
                "pair_input_ids": "token ids of the second text of the pair, encoded alone",
                "pair_attention_mask": "1 for real tokens of the second text, 0 for padding"}.get(name, name)
        mlmodel.input_description[name] = f"{what}; int32 (1, T), {length}"
    mlmodel.output_description["logits"] = f"class scores (1, {len(labels)}) in the order of edgedistill.labels; softmax for probabilities"
    meta = {
        **{str(k): str(v) for k, v in extra.items()},
        # author / licence / description also live in Core ML's own fields (Xcode shows those); mirrored here
        # so a reader of user-defined metadata alone has everything
        "edgedistill.author": mlmodel.author, "edgedistill.license": mlmodel.license,
        "edgedistill.description": mlmodel.short_description,
        "edgedistill.labels": json.dumps(list(labels)),
        "edgedistill.tokenizer": json.dumps(config.tokenizer, sort_keys=True),
        "edgedistill.precision": config.precision,
        "edgedistill.compute_precision": config.compute,
        "edgedistill.minimum_deployment_target": config.minimum_deployment_target,
        "edgedistill.sequence": json.dumps(sequence, sort_keys=True),
        "edgedistill.source": source,
        "edgedistill.source_params": str(params),
        "edgedistill.route": {"trace": "torch.jit.trace", "export": "torch.export + run_decompositions()"}[route],
        "edgedistill.config": json.dumps(config.to_dict(), sort_keys=True),
        **({"edgedistill.palette": config.palette} if config.precision.startswith("palettize") else {}),
        **({"edgedistill.int8_mode": config.int8_mode} if config.precision == "int8" else {}),
        **{f"tool.{k}": v for k, v in tools.items()},
    }
    mlmodel.user_defined_metadata.update(meta)
    return meta


@contextlib.contextmanager
def _quiet():
    """Hide coremltools' tqdm bars when progress is off (EDGEDISTILL_PROGRESS=0, as in tests), torch's
    tracer warnings about shape-dependent Python values (the numeric check covers them), and the
    converter's note that nn.Embedding's padding_idx is dropped (it only affects training gradients)."""
    import importlib
    import logging
    from functools import partial

    class _DropPaddingIdxNote(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "embedding (gather) layer does not support any inputs besides" not in record.getMessage()

    note_filter = _DropPaddingIdxNote()
    logging.getLogger("coremltools").addFilter(note_filter)

    patched = []
    if os.environ.get("EDGEDISTILL_PROGRESS", "1") == "0":
        from tqdm import tqdm

        for module, attr in (("coremltools.converters.mil.frontend.torch.ops", "_tqdm"),
                             ("coremltools.converters.mil.mil.passes.pass_pipeline", "tqdm"),
                             ("coremltools.optimize.coreml._quantization_passes", "tqdm")):
            mod = importlib.import_module(module)
            if hasattr(mod, attr):
                patched.append((mod, attr, getattr(mod, attr)))
                setattr(mod, attr, partial(tqdm, disable=True))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            yield
    finally:
        logging.getLogger("coremltools").removeFilter(note_filter)
        for mod, attr, original in patched:
            setattr(mod, attr, original)


# ------------------------------------------------------------------------------------------- checking

def check_spec(path: str | Path, names: tuple[str, ...], num_labels: int, config: CoreMLConfig, sequence: dict) -> dict:
    """Interface and structure of a saved package, raising SpecCheckError listing every mismatch."""
    from edge_runtime._coreml import compressed_weights, io_specs, load_program, op_counts

    program, spec = load_program(path)
    inputs, outputs = io_specs(spec)
    failures = []
    if [i["name"] for i in inputs] != list(names):
        failures.append(f"inputs are {[i['name'] for i in inputs]}, expected {list(names)}")
    for i in inputs:
        if i["dtype"] != "int32":
            failures.append(f"input {i['name']} is {i['dtype']}, expected int32")
        if sequence["kind"] == "range" and i.get("ranges") != [[1, 1], [sequence["min"], sequence["max"]]]:
            failures.append(f"input {i['name']} ranges {i.get('ranges')}, expected [[1, 1], [{sequence['min']}, {sequence['max']}]]")
        if sequence["kind"] == "buckets" and sorted(i.get("enumerated", [])) != [[1, b] for b in sequence["buckets"]]:
            failures.append(f"input {i['name']} shapes {i.get('enumerated')}, expected buckets {sequence['buckets']}")
        if sequence["kind"] == "fixed" and (i["shape"] != [1, sequence["length"]] or "ranges" in i or "enumerated" in i):
            got = i.get("ranges") or i.get("enumerated") or "fixed"
            failures.append(f"input {i['name']} shape {i['shape']} ({got}), expected fixed [1, {sequence['length']}]")
    if [(o["name"], o["dtype"]) for o in outputs] != [("logits", "float32")]:
        failures.append(f"outputs are {[(o['name'], o['dtype']) for o in outputs]}, expected one float32 'logits'")
    counts = op_counts(program)
    compressed = compressed_weights(program)
    summary = _weights_summary(program, compressed, config.weight_threshold)
    if config.precision in COMPRESSED_OPS:
        wanted = COMPRESSED_OPS[config.precision]
        if not any(counts.get(op, 0) for op in wanted):
            failures.append(f"no {' / '.join(wanted)} op: no weight tensor was compressed (weight_threshold={config.weight_threshold})")
        bits = {"int8": 8, "palettize4": 4, "palettize6": 6}[config.precision]
        wrong = sorted({c["bits"] for c in compressed.values()} - {bits})
        if wrong:
            failures.append(f"compressed weights use {wrong} bits, expected {bits}")
    elif compressed:
        failures.append(f"{config.precision} package holds {len(compressed)} compressed weights; expected none")
    if failures:
        raise SpecCheckError(f"{Path(path).name} fails its spec checks: {'; '.join(failures)}")
    return {"inputs": inputs, "outputs": outputs, "specification_version": spec.specificationVersion,
            "op_counts": counts, "compressed_weights": summary}


def _weights_summary(program, compressed: dict, threshold: int) -> dict:
    """Compressed weights (count, dense elements, stored dtypes) and every dense const tensor still larger
    than the threshold (the compressor may skip some, e.g. an op input it does not select)."""
    from collections import Counter

    from edge_runtime._coreml import iter_ops

    ops = list(iter_ops(program.functions["main"]))
    feeds_constexpr = {id(v) for op in ops if op.op_type.startswith("constexpr_") for v in op.inputs.values()}
    dense = {op.outputs[0].name: int(np.size(op.outputs[0].val)) for op in ops
             if op.op_type == "const" and id(op.outputs[0]) not in feeds_constexpr
             and isinstance(op.outputs[0].val, np.ndarray) and op.outputs[0].val.size > threshold}
    return {"ops": len(compressed), "params": int(sum(np.prod(c["shape"]) for c in compressed.values())),
            "stored_dtypes": dict(Counter(c["stored"] for c in compressed.values())),
            "bits": dict(Counter(str(c["bits"]) for c in compressed.values())),
            "dense_over_threshold": dense}


def validate_package(path: str | Path, wrapper: torch.nn.Module, names: tuple[str, ...], feeds: list[dict[str, torch.Tensor]],
                     precision: str) -> dict:
    """Numbers for a saved package against its PyTorch source (fp32) on `feeds`, through the numpy MIL
    evaluator and, on macOS, Core ML's predict() as well. Failures are listed, not raised."""
    from edge_runtime._coreml import NUMPY, PREDICT, PackageRunner, has_predict

    runner = PackageRunner(path, backend=NUMPY)
    mac = PackageRunner(path, backend=PREDICT) if has_predict() else None
    refs, got, mac_got = [], [], []
    for feed in feeds:
        with torch.no_grad():
            refs.append(wrapper(*(feed[n].to(torch.int32) for n in names)).float().numpy())
        arrays = {n: feed[n].numpy() for n in names}
        got.append(runner(arrays))
        if mac is not None:
            mac_got.append(mac(arrays))
    report = compare_logits(np.concatenate(got), np.concatenate(refs), precision)
    report["evaluator"] = NUMPY
    report["evaluator_ops"] = dict(runner.evaluator.how_counts)
    report["rank_mismatches"] = dict(runner.evaluator.rank_mismatches)
    if mac is not None:
        mac_report = compare_logits(np.concatenate(mac_got), np.concatenate(refs), precision)
        both = float(np.abs(np.concatenate(mac_got) - np.concatenate(got)).max(initial=0.0))
        report["predict"] = {"available": True, "compute_units": "CPU_ONLY", "max_abs_diff_vs_evaluator": both,
                             **{k: mac_report[k] for k in ("max_abs_logit_diff", "agreement")}}
        report["failures"] += [f"predict(): {f}" for f in mac_report["failures"]]
    else:
        report["predict"] = {"available": False,
                             "reason": "Core ML predict() runs only on macOS; numbers come from the numpy MIL evaluator"}
    return report


def compare_logits(got: np.ndarray, ref: np.ndarray, precision: str) -> dict:
    """max/mean |diff| and argmax agreement of (N, C) logits, with the tolerance for coreml/precision applied."""
    diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    tol = tolerance("coreml", precision)
    report = {"sentences": int(len(ref)), "max_abs_logit_diff": float(diff.max(initial=0.0)),
              "mean_abs_logit_diff": float(diff.mean()) if diff.size else 0.0,
              "agreement": float((got.argmax(1) == ref.argmax(1)).mean()) if len(ref) else 1.0,
              "tolerance": asdict(tol), "failures": []}
    if report["max_abs_logit_diff"] > tol.max_abs_logit_diff:
        report["failures"].append(f"max |logit diff| {report['max_abs_logit_diff']:.3g} > {tol.max_abs_logit_diff:g}")
    if report["agreement"] < tol.min_agreement:
        report["failures"].append(f"agreement {report['agreement']:.4f} < {tol.min_agreement:g}")
    return report


def _tensor_specs(specs: list[dict], sequence: dict | None = None) -> list[TensorSpec]:
    """Artifact IO records: inputs (1, "sequence") unless the package takes one fixed length."""
    def shape(s: dict) -> tuple:
        if sequence is None or sequence["kind"] == "fixed":
            return tuple(s["shape"])
        return (1, "sequence")

    return [TensorSpec(s["name"], s["dtype"], shape(s)) for s in specs]


def read_metadata(path: str | Path) -> dict[str, str]:
    """The user-defined metadata of a saved package (labels, tokenizer, precision, versions...)."""
    from edge_runtime._coreml import read_metadata as _read

    return _read(path)["userDefined"]


def labels_of(path: str | Path) -> list[str]:
    return json.loads(read_metadata(path)["edgedistill.labels"])
