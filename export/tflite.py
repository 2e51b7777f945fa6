"""PyTorch -> TFLite (LiteRT) with litert-torch: one signature per sequence-length bucket, in one file.

litert-torch converts at fixed shapes only, so the model is traced once per bucket (batch 1, length
16/32/64/128 by default) and every trace becomes a signature `seq<N>` of the same .tflite file; the
weights are stored once. The runner (edge_runtime.litert) and an app pick the smallest bucket that
holds a sentence and pad it with attention_mask 0; the students and BERT mask padding, so the answer
does not depend on the bucket. Inputs are int32 in the file (LiteRT's int64 inputs are downcast).
A siamese student's signatures take pair_input_ids / pair_attention_mask too, both sides at the
bucket's length (the bucket holds the longer side).

Precisions (ai-edge-quantizer recipes on the fp32 file, see `quantize_tflite`):
  fp32 | fp16 (weights) | int8 (dynamic range: int8 weights, activations quantized on the fly) |
  int8-weight (weight-only: int8 weights dequantized at load, float compute) |
  int8-full (static int8 weights and activations, calibrated; kept only if it passes parity).

Recurrent students (`recurrent=`): "while" (default) turns each LSTM into one FULLY_CONNECTED for the
input projection of all steps plus a TFLite WHILE loop whose body holds the recurrent weights once, so
XNNPACK packs them once; "stock" keeps litert-torch's own decomposition (unrolled, ~16 ops per step and
direction, weights packed once per step); "fused" emits TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM kernel
(stateful, slow on x86); "loop" is a hand-written unrolled loop. GRUs take "while" on the while route and "loop" on the others.
Measurements: benchmarks/results/tflite_routes.md.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from edgecore import ConfigError, OutputExistsError, ParityError, UnsupportedError, formats
from edgecore.tolerances import drift, tolerance
from export.artifact import MASKS, Artifact, TensorSpec, check_bucketed_inputs, check_buckets, tool_versions

PRECISIONS = formats.PRECISIONS["tflite"]   # the source precision (fp32) first; quantize_tflite writes the rest
RECURRENT_ROUTES = ("while", "stock", "fused", "loop")
DEFAULT_BUCKETS = (16, 32, 64, 128)
TOOLS = ("torch", "litert-torch", "ai-edge-litert", "ai-edge-quantizer")


@dataclass(frozen=True)
class TFLiteConfig:
    precision: str = "fp32"
    buckets: tuple[int, ...] = DEFAULT_BUCKETS   # sequence lengths, one signature each
    recurrent: str = "while"                      # while | stock | fused | loop: how LSTM/GRU layers are lowered
    loop_unroll: int = 4                          # while route: time steps per WHILE iteration (measured best of 1/4/8/16)
    calibration_size: int = 200                   # int8-full: calibration sentences used at most

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise UnsupportedError(f"precision {self.precision!r} is not a TFLite precision; choose one of {', '.join(PRECISIONS)}")
        if self.recurrent not in RECURRENT_ROUTES:
            raise ConfigError(f"recurrent {self.recurrent!r} is not known; choose one of {', '.join(RECURRENT_ROUTES)}")
        object.__setattr__(self, "buckets", check_buckets(self.buckets))
        if not 1 <= self.loop_unroll <= 64:
            raise ConfigError(f"loop_unroll must be in 1..64 (got {self.loop_unroll}); 4 is the measured default")
        if self.calibration_size < 1:
            raise ConfigError(f"calibration_size must be >= 1 (got {self.calibration_size})")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["buckets"] = list(self.buckets)
        return d


def signature_name(bucket: int) -> str:
    return f"seq{bucket}"


class LogitsDict(torch.nn.Module):
    """Keyword token tensors in, {"logits": ...} out, so the file's output is named `logits`."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, **tensors: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.model(**tensors)
        return {"logits": getattr(out, "logits", out)}


def to_tflite(model: torch.nn.Module, sample: dict[str, torch.Tensor], path: str | Path, config: TFLiteConfig | None = None, *,
              metadata: dict[str, str] | None = None, validate_with: list[dict[str, torch.Tensor]] | None = None,
              calibration: list[dict[str, np.ndarray]] | None = None, force: bool = False) -> Artifact:
    """Convert `model` to a multi-bucket .tflite at `path`, check it against PyTorch, return its Artifact.

    `sample` is one encoded batch (input_ids, attention_mask[, token_type_ids]); its first row is
    traced at every bucket length. A precision other than fp32 converts to fp32 first, then
    quantizes (`quantize_tflite`); to write several precisions, convert once and quantize the fp32 artifact.

    >>> art = to_tflite(student, encoder.encode(["a fine film"]), "student.tflite", TFLiteConfig(buckets=(16, 64)))  # doctest: +SKIP
    >>> art.metadata["edgedistill.buckets"], art.validation["max_abs_logit_diff"] < 1e-3                         # doctest: +SKIP
    ('16,64', True)
    """
    config = config or TFLiteConfig()
    path = Path(path)
    names = check_bucketed_inputs(path, force, sample, validate_with, config.buckets)
    feeds = [sample, *(validate_with or [])]
    model = model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        fp32_path = work / "fp32.tflite"
        t0 = time.perf_counter()
        route = _convert(model, sample, names, config, fp32_path)
        convert_s = time.perf_counter() - t0
        tools = tool_versions(*TOOLS)
        meta = {**(metadata or {}), "edgedistill.precision": "fp32", "edgedistill.source": type(model).__name__,
                "edgedistill.buckets": ",".join(map(str, config.buckets)),
                "edgedistill.signatures": json.dumps({str(b): signature_name(b) for b in config.buckets}),
                "edgedistill.inputs": ",".join(names), "edgedistill.input_dtype": "int32",
                "edgedistill.tflite.recurrent": route["route"],
                # the fused LSTM keeps its state in TFLite variable tensors: reset them before every invoke
                "edgedistill.tflite.reset_variables": str(route["route"] == "fused" and route["lstm"] > 0).lower(),
                "edgedistill.tflite.while_loops": str(route.get("while_loops", 0)),
                **{f"tool.{k}": v for k, v in tools.items()}}
        from export._tflite import flatbuffer

        fp32_path.write_bytes(flatbuffer.set_metadata(fp32_path.read_bytes(), meta))
        validation = check_against_torch(model, names, fp32_path, feeds)
        validation |= {"convert_seconds": round(convert_s, 2), "recurrent": route,
                       "op_counts": flatbuffer.census(fp32_path.read_bytes())["ops_per_subgraph"]}
        tol = tolerance("tflite", "fp32")
        if validation["max_abs_logit_diff"] > tol.max_abs_logit_diff:
            raise ParityError(f"TFLite fp32 export differs from PyTorch by {validation['max_abs_logit_diff']:.3g} "
                              f"(tolerance {tol.max_abs_logit_diff:g}: {tol.reason})")
        fp32 = Artifact.for_file(fp32_path, "tflite", "fp32", *io_spec(names, config.buckets, validation["num_labels"]), tools, meta,
                                 validation)
        if config.precision == "fp32":
            os.replace(fp32_path, path)
            return Artifact.for_file(path, "tflite", "fp32", fp32.inputs, fp32.outputs, tools, meta, validation)
        np_feeds = [{k: v.numpy() for k, v in f.items()} for f in feeds]
        return quantize_tflite(fp32, path, config, calibration=calibration, validate_with=np_feeds, force=force)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def _convert(model: torch.nn.Module, sample: dict[str, torch.Tensor], names: tuple[str, ...], config: TFLiteConfig, out: Path) -> dict:
    import logging
    import warnings

    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n" if os.environ.get("EDGEDISTILL_PROGRESS", "1") == "0" else "y")
    import litert_torch

    from export._tflite.graph import rewrite_row_gathers
    from export._tflite.recurrent import lower_recurrent, outline_whiles

    lowered, route = lower_recurrent(LogitsDict(model).eval(), config.recurrent, config.loop_unroll)
    converter = litert_torch.Converter()
    route["row_gathers_rewritten"] = 0
    for bucket in config.buckets:
        kwargs = bucket_sample(sample, names, bucket)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.export.export(lowered, (), kwargs=kwargs, strict=False).module()
        route["row_gathers_rewritten"] += rewrite_row_gathers(program)
        converter.signature(signature_name(bucket), program, sample_kwargs=kwargs)
    # litert-torch warns that int64 inputs become int32 (documented in the metadata) and logs at INFO
    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            converted = converter.convert()
            if route["route"] == "while" and (route["lstm"] or route["gru"]):
                # litert-torch 0.10 keeps loops as region ops; hoist them into functions so the flatbuffer
                # exporter can write WHILE ops (reaches into the pinned version's LazyModelExporter)
                from litert_converter.mlir import ir

                module = converted._exporter.module
                with module.context, ir.Location.unknown():
                    route["while_loops"] = outline_whiles(module)
            converted.export(str(out))
    finally:
        logging.getLogger().setLevel(previous)
    return route


def bucket_sample(sample: dict[str, torch.Tensor], names: tuple[str, ...], bucket: int) -> dict[str, torch.Tensor]:
    """Row 0 of `sample`, cut or right-padded (attention_mask 0) to `bucket` tokens: the trace input of one signature."""
    out = {}
    for n in names:
        row = sample[n][:1, :bucket].to(torch.long)
        out[n] = torch.nn.functional.pad(row, (0, bucket - row.shape[1]))
    for mask in (m for m in MASKS if m in out):
        if not int(out[mask].sum()):
            out[mask][0, 0] = 1
    return out


def io_spec(names: tuple[str, ...], buckets: tuple[int, ...], num_labels: int | None = None) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Batch 1, length = one of the buckets (a named axis), int32 inputs; float32 logits."""
    axis = "bucket(" + ",".join(map(str, buckets)) + ")"
    outputs = [TensorSpec("logits", "float32", (1, num_labels if num_labels else "labels"))]
    return [TensorSpec(n, "int32", (1, axis)) for n in names], outputs


def check_against_torch(model: torch.nn.Module, names: tuple[str, ...], path: Path, feeds: list[dict[str, torch.Tensor]]) -> dict:
    """Run the file (through edge_runtime's LiteRT runner, as an app would) and the module on the same feeds."""
    from edge_runtime.litert import LiteRTRunner

    runner = LiteRTRunner(path)
    diffs, same, total, buckets = [], 0, 0, {}
    for feed in feeds:
        with torch.no_grad():
            out = model(**{n: feed[n] for n in names})
        ref = getattr(out, "logits", out).float().numpy()
        got = runner({n: feed[n].numpy() for n in names})
        diffs.append(float(np.abs(got - ref).max(initial=0.0)))
        same += int((got.argmax(1) == ref.argmax(1)).sum())
        total += len(ref)
        for length in np.max([feed[m].sum(1).numpy() for m in MASKS if m in feed], axis=0).tolist():
            b = runner.bucket_for(int(length))
            buckets[str(b)] = buckets.get(str(b), 0) + 1
    return {"max_abs_logit_diff": max(diffs), "agreement": same / max(1, total), "sentences": total, "sentences_per_bucket": buckets,
            "num_labels": int(ref.shape[1])}


def quantize_tflite(source: Artifact, path: str | Path, config: TFLiteConfig, *, calibration: list[dict[str, np.ndarray]] | None = None,
                    validate_with: list[dict[str, np.ndarray]] | None = None, force: bool = False) -> Artifact:
    """Write a quantized copy of the fp32 .tflite `source` at `path` (ai-edge-quantizer) and return its Artifact.

    Numbers against the fp32 file on `validate_with` go into `Artifact.validation`; int8-full is refused
    (ParityError with the measured numbers) when it misses the tflite/int8-full tolerance.

    >>> int8 = quantize_tflite(fp32, "student.int8.tflite", TFLiteConfig("int8"), validate_with=feeds)  # doctest: +SKIP
    >>> int8.validation["int8_constant_elements"] > 0                                                  # doctest: +SKIP
    True
    """
    from export._tflite import flatbuffer

    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists; pass force=True (--force) to replace it")
    if source.format != "tflite" or source.precision != "fp32":
        raise UnsupportedError(f"quantize an fp32 TFLite artifact; got {source.format}/{source.precision}")
    if config.precision == "fp32":
        raise UnsupportedError("fp32 is the source precision; choose one of " + ", ".join(PRECISIONS[1:]))
    if config.precision == "int8-full" and not calibration:
        raise ConfigError("int8-full needs calibration feeds from real sentences; pass calibration=[...] (CLI: --calibration DATA)")
    meta = {**flatbuffer.get_metadata(Path(source.path).read_bytes()), "edgedistill.precision": config.precision,
            "edgedistill.quantized_from": source.sha256}
    if config.precision == "int8-full" and meta.get("edgedistill.tflite.reset_variables") == "true":
        raise UnsupportedError("int8-full cannot calibrate the fused LSTM (its state lives in TFLite variable tensors and "
                               "ai-edge-quantizer has no LSTM support); export with recurrent='stock' for int8-full, or use int8")
    if config.precision == "int8-full" and int(meta.get("edgedistill.tflite.while_loops", "0")):
        raise UnsupportedError("int8-full cannot calibrate recurrent WHILE loops (ai-edge-quantizer 0.10 reads no tensors inside "
                               "loop bodies); export with recurrent='stock' for int8-full, or use int8 (dynamic range)")
    buckets = tuple(int(b) for b in meta["edgedistill.buckets"].split(","))
    t0 = time.perf_counter()
    model_bytes, notes = _quantize(source.path, config, buckets, calibration)
    model_bytes = flatbuffer.set_metadata(model_bytes, meta)
    quantize_s = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.tflite", dir=path.parent)
    os.close(fd)
    try:
        Path(tmp).write_bytes(model_bytes)
        census = flatbuffer.census(model_bytes)
        by_type = census["constant_elements_by_type"]
        validation = {"quantize_seconds": round(quantize_s, 2), **notes,
                      "int8_constant_elements": by_type.get("INT8", 0), "float16_constant_elements": by_type.get("FLOAT16", 0),
                      "float32_constant_elements": by_type.get("FLOAT32", 0), "op_counts": census["ops_per_subgraph"]}
        if validate_with:
            validation |= compare_tflite(source.path, tmp, validate_with, config.precision)
            if config.precision == "int8-full" and not validation["within_tolerance"]:
                tol = tolerance("tflite", "int8-full")
                raise ParityError(f"int8-full refused: on {validation['sentences']} sentences it agrees with fp32 on "
                                  f"{validation['agreement']:.4f} (needs {tol.min_agreement:g}) and moves logits by up to "
                                  f"{validation['max_abs_logit_diff']:.3g} (allowed {tol.max_abs_logit_diff:g}); "
                                  "use int8 (dynamic range) or int8-weight instead")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    tools = dict(source.tools) | tool_versions(*TOOLS)
    return Artifact.for_file(path, "tflite", config.precision, source.inputs, source.outputs, tools, meta, validation)


def _quantize(src: str, config: TFLiteConfig, buckets: tuple[int, ...], calibration) -> tuple[bytes, dict]:
    import logging

    from ai_edge_quantizer import quantizer, recipe, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.qtyping import TFLOperationName

    from export._tflite import flatbuffer

    if config.precision == "fp16":
        manager = recipe_manager.RecipeManager()
        manager.add_weight_only_config(regex=".*", operation_name=TFLOperationName.ALL_SUPPORTED, num_bits=16,
                                       algorithm_key=AlgorithmName.FLOAT_CASTING)
        chosen = manager.get_quantization_recipe()
    else:
        chosen = {"int8": recipe.dynamic_wi8_afp32, "int8-weight": recipe.weight_only_wi8_afp32,
                  "int8-full": recipe.static_wi8_ai8}[config.precision]()
    import warnings

    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():   # calibration warns that it keeps every intermediate tensor (that is its job)
            warnings.simplefilter("ignore")
            qt = quantizer.Quantizer(src, chosen)
            result = None
            if config.precision == "int8-full":
                result = qt.calibrate(calibration_by_signature(calibration[: config.calibration_size], buckets), num_threads=1)
            model_bytes = bytes(qt.quantize(result, enable_progress_bar=False, enable_progress_report=False).quantized_model)
    finally:
        logging.getLogger().setLevel(previous)
    notes = {"recipe": {"fp16": "weight_only fp16 (float_casting)", "int8": "dynamic_wi8_afp32",
                        "int8-weight": "weight_only_wi8_afp32", "int8-full": "static_wi8_ai8"}[config.precision]}
    if config.precision == "int8":
        # ai-edge-quantizer skips UNIDIRECTIONAL_SEQUENCE_LSTM; give the fused LSTM its hybrid int8 weights here
        model_bytes, n = flatbuffer.quantize_lstm_weights(model_bytes)
        notes["lstm_weights_int8_per_tensor"] = n
    return model_bytes, notes


def calibration_by_signature(feeds: list[dict[str, np.ndarray]], buckets: tuple[int, ...]) -> dict[str, list[dict[str, np.ndarray]]]:
    """One calibration sample per sentence, in the signature of its bucket (int32, batch 1)."""
    out: dict[str, list] = {signature_name(b): [] for b in buckets}
    for feed in feeds:
        for row in range(feed["input_ids"].shape[0]):
            length = max(int(np.asarray(feed[m][row]).sum()) for m in MASKS if m in feed)
            bucket = next((b for b in buckets if b >= length), None)
            if bucket is None:
                continue
            sample = {}
            for name, value in feed.items():
                v = np.zeros((1, bucket), np.int32)
                cut = np.asarray(value[row, :bucket], dtype=np.int32)
                v[0, : len(cut)] = cut
                sample[name] = v
            out[signature_name(bucket)].append(sample)
    for name, samples in out.items():
        if not samples:   # every signature is quantized, so each needs activation ranges: reuse a shorter sentence padded
            donor = next(s for b in buckets for s in out[signature_name(b)] if s)
            bucket = int(name[3:])
            out[name] = [{k: np.pad(v[:, :bucket], ((0, 0), (0, max(0, bucket - v.shape[1])))) for k, v in donor.items()}]
    return out


def compare_tflite(reference: str | Path, candidate: str | Path, feeds: list[dict[str, np.ndarray]], precision: str) -> dict:
    """Numbers of a quantized file against its fp32 source on the same feeds (no raising here)."""
    from edge_runtime.litert import LiteRTRunner

    ref_r, cand_r = LiteRTRunner(reference), LiteRTRunner(candidate)
    return drift(((ref_r(feed), cand_r(feed)) for feed in feeds), "tflite", precision)


def read_metadata(path: str | Path) -> dict:
    """The edgedistill metadata stored inside a .tflite file."""
    from export._tflite import flatbuffer

    return flatbuffer.get_metadata(Path(path).read_bytes())
