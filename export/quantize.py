"""ONNX quantization with onnxruntime's own tools: dynamic int8, static int8 (QDQ), fp16.

Transformer graphs are fused first with onnxruntime's transformer optimizer (attention, LayerNorm,
GELU), so quantization sees the fused ops. Each result is measured against its fp32 ONNX source on
the sentences given and carries those numbers in `Artifact.validation`.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecore import ConfigError, OutputExistsError, UnsupportedError, formats
from edgecore.tolerances import drift
from export.artifact import Artifact
from export.nbits import ACCURACY_LEVEL, BLOCK_SIZE
from export.onnx import artifact_for, read_metadata, set_metadata

PRECISIONS = formats.PRECISIONS["onnx"]   # the source precision (fp32) first; quantize_onnx writes the rest


@dataclass(frozen=True)
class QuantConfig:
    """What quantize_onnx writes: fp16, dynamic int8 or static int8 (QDQ), and the int8 options (per-channel, SmoothQuant, ...).

    >>> quantize_onnx(fp32_artifact, "teacher.int8.onnx", QuantConfig("int8", transformer=True), validate_with=feeds)  # doctest: +SKIP
    """
    precision: str = "int8"            # fp16 | int8 (dynamic) | int8-static (QDQ, needs calibration feeds)
    transformer: bool = False          # fuse attention/LayerNorm/GELU with onnxruntime's optimizer first
    per_channel: bool | None = None    # dynamic int8; None: per-channel for transformers (the built-in teacher agrees with its
                                       # fp32 on 99.1% of dev sentences vs 96.3% per-tensor), per-tensor otherwise (keeps
                                       # LSTM weights in DynamicQuantizeLSTM)
    calibration_size: int = 200        # static int8: how many calibration sentences to use at most
    keep_fp32: tuple[str, ...] = ()    # int8: nodes whose name contains any of these stay fp32 (see TEACHER_SENSITIVE)
    smooth: float | str | None = None  # dynamic int8: SmoothQuant alpha in (0, 1), or "auto" (per-activation alpha searched on
                                       # the calibration feeds; export/smooth.py). Needs calibration feeds. Teacher, "auto": agreement
                                       # with fp32 on 2,000 test sentences 98.25% -> 99.05% (batch 1), 98.1% -> 99.15% (batches
                                       # of 32), ~2% slower than plain per-channel int8
    nbits: tuple[str, ...] = ()        # int8: MatMuls whose name contains any of these become 8-bit MatMulNBits (block-wise weights,
                                       # per-row/block int8 activations; export/nbits.py) instead of MatMulInteger (see TEACHER_NBITS)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS[1:]:
            raise UnsupportedError(f"precision {self.precision!r} cannot be quantized to; choose one of {', '.join(PRECISIONS[1:])}")
        if self.calibration_size < 1:
            raise ConfigError(f"calibration_size must be >= 1 (got {self.calibration_size})")
        if self.smooth is not None:
            if self.precision != "int8":
                raise ConfigError(f"smooth (SmoothQuant) applies to dynamic int8 only, not {self.precision}")
            if self.smooth != "auto" and not (isinstance(self.smooth, (int, float)) and 0 < self.smooth < 1):
                raise ConfigError(f"smooth must be an alpha in (0, 1) or 'auto' (got {self.smooth!r})")
        if self.nbits and self.precision != "int8":
            raise ConfigError(f"nbits (MatMulNBits) applies to dynamic int8 only, not {self.precision}")
        object.__setattr__(self, "keep_fp32", tuple(self.keep_fp32))
        object.__setattr__(self, "nbits", tuple(self.nbits))
        if self.per_channel is None:
            object.__setattr__(self, "per_channel", self.transformer)


# The feed-forward MatMuls of the first three blocks of a BERT-family encoder. Quantizing one weight
# op at a time, the built-in MiniLM-L6 teacher's logit drift on 300 dev sentences came mostly from
# these six (0.35 of the 0.67 summed drift; benchmarks/results/onnx_table.md has the effect on agreement).
TEACHER_SENSITIVE = tuple(f"layer.{i}/{part}/dense/MatMul" for i in range(3) for part in ("intermediate", "output"))

# The same six MatMuls as 8-bit MatMulNBits (QuantConfig.nbits) instead of fp32, on top of SmoothQuant
# "auto". Chosen on the 1,000 dev sentences (NBits for one block part at a time, then the cheapest set
# reaching <= 5 flips): dev 8 -> 5 flips; test 17 -> 8 flips (99.6%), 1.8x fp32 vs 2.05x all-MatMulInteger in that run (1.64x vs 1.92x in onnx_table.md)
# and 1.5x with them fp32. Blocks 1-3 FFN-output only was faster (1.9x) but missed on dev (9 flips).
TEACHER_NBITS = TEACHER_SENSITIVE


def quantize_onnx(source: Artifact, path: str | Path, config: QuantConfig, *, calibration: list[dict[str, np.ndarray]] | None = None,
                  validate_with: list[dict[str, np.ndarray]] | None = None, force: bool = False) -> Artifact:
    """Write a quantized copy of the fp32 ONNX `source` at `path` and return its Artifact.

    >>> int8 = quantize_onnx(fp32_artifact, "model.int8.onnx", QuantConfig("int8"), validate_with=feeds)  # doctest: +SKIP
    >>> int8.validation["op_counts"]["DynamicQuantizeLSTM"]                                              # doctest: +SKIP
    2
    """
    import onnx

    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists; pass force=True (--force) to replace it")
    if source.format != "onnx" or source.precision != "fp32":
        raise UnsupportedError(f"quantize an fp32 ONNX artifact; got {source.format}/{source.precision}")
    if config.precision == "int8-static" and not calibration:
        raise ConfigError("int8-static needs calibration feeds from real sentences; pass calibration=[...] (CLI: --calibration DATA)")
    if config.smooth is not None and not calibration:
        raise ConfigError("SmoothQuant (smooth=...) needs calibration feeds from real sentences; pass calibration=[...] (CLI: --calibration DATA)")
    work = Path(tempfile.mkdtemp(prefix=".quant-", dir=path.parent if path.parent.exists() else None))
    try:
        src = source.path
        if config.transformer:
            src = str(work / "fused.onnx")
            fuse_transformer(source.path, src)
        out = str(work / "out.onnx")
        keep = _matching_nodes(src, config.keep_fp32)
        smoothed = {}
        if config.smooth is not None:
            from export.smooth import smooth_onnx

            smoothed = smooth_onnx(src, work / "smoothed.onnx", calibration[: config.calibration_size], alpha=config.smooth)
            src = str(work / "smoothed.onnx")
        nbits = {}
        if config.nbits:
            from export.nbits import nbits8

            nbits = nbits8(src, work / "nbits.onnx", config.nbits, exclude=keep)
            src = str(work / "nbits.onnx")
        if config.precision == "int8":
            _dynamic_int8(src, out, config, [*keep, *nbits.values()])
        elif config.precision == "int8-static":
            _static_int8(src, out, calibration[: config.calibration_size], keep)
        else:
            _fp16(src, out)
        proto = onnx.load(out)
        meta = {**read_metadata(source.path), "edgedistill.precision": config.precision,
                **({"edgedistill.kept_fp32": ",".join(keep)} if keep else {}),
                **({"edgedistill.smoothquant": json.dumps({k.removesuffix("/SmoothQuant_Mul"): v["alpha"] for k, v in smoothed.items()})}
                   if smoothed else {}),
                **({"edgedistill.nbits": json.dumps({"bits": 8, "block_size": BLOCK_SIZE, "accuracy_level": ACCURACY_LEVEL,
                                                     "nodes": sorted(nbits)})} if nbits else {}),
                "edgedistill.quantized_from": source.sha256, "edgedistill.transformer_fused": str(config.transformer).lower()}
        if config.precision == "fp16":
            # fp16 LSTM/GRU sessions crashed at ORT_ENABLE_ALL and ran at EXTENDED (onnxruntime, on our students); runners read this
            meta["edgedistill.session.graph_optimization_level"] = "extended"
        meta["tool.onnxruntime"] = _version("onnxruntime")
        set_metadata(proto, meta)
        onnx.save(proto, out)
        validation = {"op_counts": dict(Counter(n.op_type for n in proto.graph.node))}
        if validate_with:
            validation |= compare_onnx(source.path, out, validate_with, config.precision)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(out, path)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    tools = dict(source.tools) | {"onnxruntime": _version("onnxruntime"), "onnxconverter-common": _version("onnxconverter-common")}
    return artifact_for(path, config.precision, tools, meta, validation)


def fuse_transformer(src: str, out: str) -> None:
    """onnxruntime's BERT fusions (what optimum wraps); head count and width are detected from the graph."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(src, model_type="bert", num_heads=0, hidden_size=0, opt_level=1)
    optimized.save_model_to_file(out)


def _matching_nodes(src: str, patterns: tuple[str, ...]) -> list[str]:
    """Names of the nodes of `src` that contain any of `patterns` (a preset may name more blocks than a
    small model has); patterns that together match nothing are an error, not a silent all-int8 file."""
    if not patterns:
        return []
    import onnx

    names = [n.name for n in onnx.load(src, load_external_data=False).graph.node]
    matched = [name for name in names if any(p in name for p in patterns)]
    if not matched:
        example = next((n for n in names if "MatMul" in n), names[0] if names else "")
        raise ConfigError(f"keep_fp32 patterns {list(patterns)} match no node of the graph; give parts of node names, e.g. {example!r}")
    return matched


def _dynamic_int8(src: str, out: str, config: QuantConfig, keep: list[str] = ()) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # DefaultTensorType: shape inference cannot type the outputs of fused com.microsoft ops
    quantize_dynamic(src, out, weight_type=QuantType.QInt8, per_channel=config.per_channel,
                     op_types_to_quantize=["MatMul", "Gemm", "Gather", "LSTM", "Attention", "EmbedLayerNormalization"],
                     nodes_to_exclude=list(keep), extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def _static_int8(src: str, out: str, calibration: list[dict[str, np.ndarray]], keep: list[str] = ()) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(calibration)

        def get_next(self):
            return next(self._it, None)

    # MatMuls with constant weights only: a Gemm's bias fed by a Gather (BERT's pooler) has no usable
    # activation scale, and onnxruntime refuses to quantize it ("Unable to get valid quantization scale")
    quantize_static(src, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    op_types_to_quantize=["MatMul", "Gather"], nodes_to_exclude=list(keep), extra_options={"MatMulConstBOnly": True})


def _fp16(src: str, out: str) -> None:
    import onnx
    from onnxconverter_common import float16

    proto = float16.convert_float_to_float16(onnx.load(src), keep_io_types=True)
    _align_float_casts(proto)
    onnx.save(proto, out)


def _align_float_casts(proto) -> None:
    """onnxconverter-common retypes a Cast's output to fp16 but leaves its `to=FLOAT`; ORT then refuses the
    graph. Make every float Cast produce the type its output is now declared as."""
    from onnx import TensorProto

    declared = {v.name: v.type.tensor_type.elem_type for v in (*proto.graph.value_info, *proto.graph.output)}
    floats = (TensorProto.FLOAT, TensorProto.FLOAT16)
    for node in proto.graph.node:
        if node.op_type != "Cast":
            continue
        to = next(a for a in node.attribute if a.name == "to")
        want = declared.get(node.output[0])
        if to.i in floats and want in floats and want != to.i:
            to.i = want


def session(path: str | Path, threads: int = 1, level: str | None = None):
    """An onnxruntime CPU session honouring the graph optimization level recorded in the file."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    level = level or read_metadata(path).get("edgedistill.session.graph_optimization_level", "all")
    options.graph_optimization_level = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                                        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC}[level]
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def compare_onnx(reference: str | Path, candidate: str | Path, feeds: list[dict[str, np.ndarray]], precision: str) -> dict:
    """Numbers of a quantized file against its fp32 source on the same feeds (no raising here)."""
    ref_s, cand_s = session(reference), session(candidate)
    names = {i.name for i in ref_s.get_inputs()}
    feeds = [{k: np.asarray(v) for k, v in feed.items() if k in names} for feed in feeds]
    return drift(((ref_s.run(["logits"], f)[0], cand_s.run(["logits"], f)[0]) for f in feeds), "onnx", precision)


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"
