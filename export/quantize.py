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
    embedding: str | None = None       # dynamic int8, the embedding tables: "per-tensor" (onnxruntime's quantized Gather), "per-row" (tall
                                       # tables int8 with a scale per token: rowwise_embedding) or "fp32"; None: per-row for transformers
    attention: str = "fused"            # transformer int8: "fused" (onnxruntime's Attention -> QAttention) or "mha" (the QKV projection as a
                                       # plain MatMul, quantized like the others, + MultiHeadAttention: attention_to_mha)
    per_token: bool | tuple[str, ...] = False   # dynamic int8: each token's activation row scaled to [-1, 1] before its MatMul and back
                                       # after (export/smooth.py per_token_rows), so the per-tensor uint8 step fits every token: True for
                                       # every constant-weight MatMul (not the fused Attention's projections), or parts of node names

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
        if self.per_token and self.precision != "int8":
            raise ConfigError(f"per_token applies to dynamic int8 only, not {self.precision}")
        if not isinstance(self.per_token, bool):
            if isinstance(self.per_token, str) or not all(isinstance(x, str) for x in self.per_token):
                raise ConfigError(f"per_token must be True/False or a tuple of node-name parts (got {self.per_token!r})")
            object.__setattr__(self, "per_token", tuple(self.per_token))
        object.__setattr__(self, "keep_fp32", tuple(self.keep_fp32))
        object.__setattr__(self, "nbits", tuple(self.nbits))
        if self.per_channel is None:
            object.__setattr__(self, "per_channel", self.transformer)
        if self.embedding not in (None, "per-tensor", "per-row", "fp32"):
            raise ConfigError(f"embedding must be 'per-tensor', 'per-row' or 'fp32' (got {self.embedding!r})")
        if self.attention not in ("fused", "mha"):
            raise ConfigError(f"attention must be 'fused' or 'mha' (got {self.attention!r})")
        if self.embedding is None:
            object.__setattr__(self, "embedding", "per-row" if self.transformer and self.precision == "int8" else "per-tensor")


# The feed-forward MatMuls of the first three blocks of a BERT-family encoder. Quantizing one weight
# op at a time, the built-in MiniLM-L6 teacher's logit drift on 300 dev sentences came mostly from
# these six (0.35 of the 0.67 summed drift; benchmarks/results/onnx_table.md has the effect on agreement).
TEACHER_SENSITIVE = tuple(f"layer.{i}/{part}/dense/MatMul" for i in range(3) for part in ("intermediate", "output"))

# The same six MatMuls as 8-bit MatMulNBits (QuantConfig.nbits) instead of fp32, on top of SmoothQuant
# "auto". Chosen on the 1,000 dev sentences (NBits for one block part at a time, then the cheapest set
# reaching <= 5 flips): dev 8 -> 5 flips; test 17 -> 8 flips (99.6%), 1.8x fp32 vs 2.05x all-MatMulInteger in that run (1.64x vs 1.92x in onnx_table.md)
# and 1.5x with them fp32. Blocks 1-3 FFN-output only was faster (1.9x) but missed on dev (9 flips).
TEACHER_NBITS = TEACHER_SENSITIVE


# The Transformer int8 default (teacher and Transformer students; `edgedistill export`, the demo): QuantConfig options on top of
# QuantConfig("int8", transformer=True): fused attention (QAttention), per-channel weights, per-token activations for the other
# weight MatMuls, word embeddings int8 per row, SmoothQuant "auto", and the six feed-forward MatMuls of blocks 1-3 (the top six of
# benchmarks/results/int8_sensitivity.md) as 8-bit MatMulNBits. Chosen on the 1,000 dev sentences in the parity harness's batches
# of 32 (benchmarks/results/int8_batched.md, issue #24): 4 flips, mean |dlogit| 0.021 vs the old default's 6 / 0.028. The one
# recipe better on dev (the same on the unfused-attention sdpa export: 2 flips, 0.017) is slower. No recipe reached 99.7% at >= 2x.
TRANSFORMER_INT8 = {"per_channel": True, "per_token": True, "embedding": "per-row", "smooth": "auto", "nbits": TEACHER_NBITS}


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
            if config.attention == "mha":
                proto = onnx.load(src)
                attention_to_mha(proto)
                onnx.save(proto, src)
        out = str(work / "out.onnx")
        keep = _matching_nodes(src, config.keep_fp32)
        smoothed = {}
        if config.smooth is not None:
            from export.smooth import smooth_onnx

            smoothed = smooth_onnx(src, work / "smoothed.onnx", calibration[: config.calibration_size], alpha=config.smooth)
            src = str(work / "smoothed.onnx")
        if config.per_token:
            _per_token(src, work / "per_token.onnx", config, keep)
            src = str(work / "per_token.onnx")
        nbits = {}
        if config.nbits:
            from export.nbits import nbits8

            nbits = nbits8(src, work / "nbits.onnx", config.nbits, exclude=keep)
            src = str(work / "nbits.onnx")
        gathers = []
        if config.precision == "int8" and config.embedding != "per-tensor":
            proto = onnx.load(src)
            rowwise = rowwise_embedding(proto) if config.embedding == "per-row" else []
            tables = {i.name for i in proto.graph.initializer}
            # the other tables (positions, token types) stay fp32: small, and onnxruntime would quantize them per tensor
            gathers = [*rowwise, *(n.name for n in proto.graph.node if n.op_type == "Gather" and n.input[0] in tables)]
            onnx.save(proto, str(work / "embedding.onnx"))
            src = str(work / "embedding.onnx")
        if config.precision == "int8":
            _dynamic_int8(src, out, config, [*keep, *nbits.values(), *gathers])
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
                **({"edgedistill.embedding": config.embedding} if config.precision == "int8" else {}),
                **({"edgedistill.per_token": "all" if config.per_token is True else ",".join(config.per_token)} if config.per_token else {}),
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
    """onnxruntime's BERT fusions (what optimum wraps: Attention, EmbedLayerNormalization, SkipLayerNormalization, BiasGelu).
    Head count and width are read from the graph (attention_shape); onnxruntime's own detection misses them on
    torch's eager-attention export and then leaves attention unfused."""
    import onnx
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    heads, hidden = attention_shape(onnx.load(src, load_external_data=False))
    options = FusionOptions("bert")
    options.enable_embed_layer_norm = False   # keep the word-embedding Gather: quantized per row (QuantConfig.embedding), not per tensor
    optimized = optimize_model(src, model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1, optimization_options=options)
    optimized.save_model_to_file(out)


def attention_to_mha(model) -> list[str]:
    """Split each fused `Attention` node of `model` (ModelProto, changed in place) into its input projection as a plain
    MatMul (X @ W_qkv, then Split into Q, K, V) and onnxruntime's `MultiHeadAttention` (bias, mask, softmax, heads).
    The projection then quantizes like any MatMul (8-bit weights, per-token rows), where `QAttention` quantizes its
    input per tensor and its weights to 7 bits (reduce_range). Returns the new MatMul names."""
    from onnx import TensorProto, helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    done = []
    for node in list(graph.node):
        if node.op_type != "Attention" or node.domain != "com.microsoft" or len(node.input) < 3 or node.input[1] not in inits:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if set(attrs) - {"num_heads", "scale", "mask_filter_value"} or len(node.input) > 4 and any(node.input[4:]):
            continue   # qkv_hidden_sizes, unidirectional, past state: not the BERT pattern
        width = inits[node.input[1]].dims[1] // 3
        base = node.name or f"Attention_{len(done)}"
        sizes = f"{base}/split_sizes"
        graph.initializer.append(helper.make_tensor(sizes, TensorProto.INT64, [3], [width] * 3))
        mask = node.input[3] if len(node.input) > 3 else ""
        at = list(graph.node).index(node)
        graph.node.remove(node)
        new = [helper.make_node("MatMul", [node.input[0], node.input[1]], [f"{base}/qkv"], f"{base}/attention/qkv/MatMul"),
               helper.make_node("Split", [f"{base}/qkv", sizes], [f"{base}/q", f"{base}/k", f"{base}/v"], f"{base}/Split", axis=-1),
               helper.make_node("MultiHeadAttention", [f"{base}/q", f"{base}/k", f"{base}/v", node.input[2], mask], list(node.output),
                                f"{base}/MultiHeadAttention", domain="com.microsoft", **attrs)]
        for i, n in enumerate(new):
            graph.node.insert(at + i, n)
        done.append(new[0].name)
    return done


EMBEDDING_MIN_ROWS = 1024   # Gather tables this tall are word embeddings (position / token-type tables stay fp32 under "per-row")


def rowwise_embedding(model) -> list[str]:
    """Store every tall float Gather table of `model` (ModelProto, changed in place) as int8 with one scale per row:
    Gather(int8 table) -> Cast -> Mul by Gather(row scales). Each token's vector gets its own step, where onnxruntime's
    quantized Gather (and QEmbedLayerNormalization) use one step for the whole table. Returns the Gather nodes changed."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    changed = []
    for node in list(graph.node):
        table = inits.get(node.input[0]) if node.op_type == "Gather" and node.input else None
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        if table is None or axis != 0 or len(table.dims) != 2 or table.dims[0] < EMBEDDING_MIN_ROWS or table.data_type != TensorProto.FLOAT:
            continue
        w = numpy_helper.to_array(table)
        scale = np.maximum(np.abs(w).max(axis=1, keepdims=True), 1e-8).astype(np.float32) / 127.0
        q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
        base = f"{node.name}/RowInt8"
        graph.initializer.extend([numpy_helper.from_array(q, f"{base}/table"), numpy_helper.from_array(scale, f"{base}/scale")])
        ids, out = node.input[1], node.output[0]
        at = list(graph.node).index(node)
        graph.node.remove(node)
        for i, extra in enumerate([helper.make_node("Gather", [f"{base}/table", ids], [f"{base}/q"], node.name),
                                   helper.make_node("Cast", [f"{base}/q"], [f"{base}/f"], f"{base}/Cast", to=TensorProto.FLOAT),
                                   helper.make_node("Gather", [f"{base}/scale", ids], [f"{base}/s"], f"{base}/GatherScale"),
                                   helper.make_node("Mul", [f"{base}/f", f"{base}/s"], [out], f"{base}/Mul")]):
            graph.node.insert(at + i, extra)
        if sum(table.name in n.input for n in graph.node) == 0:
            graph.initializer.remove(table)
        changed.append(node.name)
    return changed


def attention_shape(model) -> tuple[int, int]:
    """(heads, hidden width) of a BERT-style graph, (0, 0) when not found (onnxruntime then guesses): the width is the
    commonest input width of the constant-weight MatMuls, the head size the constant last entry of the Reshape
    [batch, seq, -1, head_size] that splits the heads."""
    from onnx import numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    widths = Counter(inits[n.input[1]].dims[0] for n in graph.node
                     if n.op_type == "MatMul" and n.input[1] in inits and len(inits[n.input[1]].dims) == 2)
    if not widths:
        return 0, 0
    hidden = widths.most_common(1)[0][0]
    made = {o: n for n in graph.node for o in n.output}
    consts = {o: numpy_helper.to_array(n.attribute[0].t).reshape(-1).tolist() for n in graph.node if n.op_type == "Constant"
              and n.attribute and n.attribute[0].name == "value" for o in n.output}
    consts |= {k: numpy_helper.to_array(v).reshape(-1).tolist() for k, v in inits.items() if len(v.dims) <= 1}
    sizes = Counter()
    for node in graph.node:
        if node.op_type != "Reshape" or "attention" not in node.name:
            continue
        shape = node.input[1]
        parts = [consts.get(i) for i in made[shape].input] if shape in made and made[shape].op_type == "Concat" else [consts.get(shape)]
        flat = [v for part in parts for v in (part if part is not None else [None])]
        if len(flat) == 4 and flat[2] in (-1, None) and isinstance(flat[3], int) and flat[3] > 1 and hidden % flat[3] == 0:
            sizes[flat[3]] += 1
    if not sizes:
        return 0, 0
    return hidden // sizes.most_common(1)[0][0], int(hidden)


def _per_token(src: str, out: Path, config: QuantConfig, keep: list[str]) -> list[str]:
    import onnx

    from export.smooth import per_token_rows

    model = onnx.load(src)
    skip = set(keep)
    if config.nbits:
        from export.nbits import nbits_targets

        skip |= set(nbits_targets(model, config.nbits))
    patterns = None if config.per_token is True else config.per_token
    done = per_token_rows(model, patterns, skip=skip)
    if patterns and not done:
        raise ConfigError(f"per_token patterns {list(patterns)} match no MatMul with a constant weight; give parts of node names")
    onnx.save(model, str(out))
    return done


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
