"""A FLOP floor: how fast a model could possibly run here if every multiply-accumulate ran at this
machine's best measured GEMM rate, and how far each measured latency is above it.

- `count_macs(path, seq_len, batch)` counts multiply-accumulates (MACs) of one forward pass:
  * an ONNX file: the graph is run once at (batch, seq_len) with every intermediate tensor exposed
    (optimisations off, so the nodes are the file's), which gives every operand's real shape; then
    MatMul / Gemm / LSTM / GRU / RNN / Attention / MultiHeadAttention / Conv and their quantized
    forms (MatMulInteger, DynamicQuantizeMatMul, QAttention, DynamicQuantizeLSTM, ...) are counted
    from those shapes. Ops with arithmetic that is not counted (Loop, Scan, Einsum, ...) are listed
    in `uncounted`, so a floor is never silently too low for a reason that could be seen.
  * a student checkpoint folder (student.json): from its RNN, static or CNN config; a Hugging Face BERT folder
    (config.json): from its config. The two paths agree on an exported model (tests check it).
  Element-wise ops, LayerNorm, softmax and embedding lookups are left out: they are memory-bound and
  small next to the GEMMs, which keeps the floor a lower bound.
- `measure_gemm_rates()` times onnxruntime's MatMul (fp32) and MatMulInteger (uint8 x int8, what
  dynamic int8 models run) on one pinned core, at a large GEMM shape (the best case) and at M=1
  (a GEMV: what a batch-1 RNN step is), plus numpy's fp32 matmul for reference.
- `floor(macs, rates, latency_ms, threads)`: a floor per op kind (`FLOOR_RULE`). Each MAC runs at the rate of
  the kernel class that runs it: GEMMs with M > 1 rows (the input projections of LSTM/GRU over all time steps at
  once, CNN windows, Transformer projections and attention at M = seq) at the measured GEMM rate; the recurrent
  multiplies of LSTM/GRU (H x gates*H per step, one step after the other: sequential) and any GEMM with M = 1
  (a batch-1 head or pooler) at the measured M=1 (GEMV) rate; fp32 or int8 by the op. Summed, divided by the
  threads in use; `x_floor` = latency / floor_ms. `MacCount.gemv_fp32 / gemv_int8` hold the one-row share and
  `sequential` the recurrent share. A model far above this floor is bound by something the floor leaves out
  (dispatch overhead, element-wise ops, memory), which a per-op profile shows (benchmarks/profile_students.py).
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgecore import ConfigError

# ops whose MACs run on int8 kernels
INT8_OPS = {"MatMulInteger", "QLinearMatMul", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QGemm", "QAttention",
            "DynamicQuantizeLSTM", "ConvInteger", "QLinearConv", "MatMulNBits"}   # MatMulNBits: int8 at accuracy_level 4 (export/nbits.py)
# ops with no GEMM-class arithmetic (element-wise, shape, data movement, normalisation, reductions, lookups)
NO_MAC_OPS = {
    "Abs", "Add", "And", "ArgMax", "ArgMin", "BiasGelu", "Cast", "CastLike", "Ceil", "Clip", "Concat", "Constant",
    "ConstantOfShape", "CumSum", "DequantizeLinear", "Div", "Dropout", "DynamicQuantizeLinear", "Elu", "EmbedLayerNormalization",
    "QEmbedLayerNormalization",
    "Equal", "Erf", "Exp", "Expand", "FastGelu", "Flatten", "Floor", "Gather", "GatherElements", "GatherND", "Gelu", "Greater",
    "GreaterOrEqual", "Identity", "LayerNormalization", "LeakyRelu", "Less", "LessOrEqual", "Log", "LogSoftmax", "Max", "Mean",
    "Min", "Mod", "Mul", "Neg", "NonZero", "Not", "OneHot", "Or", "Pad", "Pow", "QuantizeLinear", "Range", "Reciprocal",
    "ReduceL2", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare",
    "Relu", "Reshape", "Round", "ScatterElements", "ScatterND", "Shape", "Sigmoid", "SimplifiedLayerNormalization", "Sin", "Cos",
    "Size", "SkipLayerNormalization", "SkipSimplifiedLayerNormalization", "Slice", "Softmax", "Softplus", "Split", "Sqrt",
    "Squeeze", "Sub", "Tanh", "Tile", "TopK", "Transpose", "Trilu", "Unsqueeze", "Where", "Xor", "BiasAdd", "BiasSplitGelu",
    "QuickGelu", "HardSigmoid", "HardSwish", "IsNaN", "IsInf", "Sign", "Shrink", "ThresholdedRelu", "Selu", "Celu", "PRelu",
    "DepthToSpace", "SpaceToDepth", "Compress", "Unique", "ReverseSequence", "GlobalAveragePool", "GlobalMaxPool", "MaxPool",
    "AveragePool", "BatchNormalization", "InstanceNormalization", "GroupNormalization", "Resize", "Upsample",
}


@dataclass
class MacCount:
    """Multiply-accumulates of one forward pass at (batch, seq_len), split by the kernel class that runs them."""
    fp32: int
    int8: int
    batch: int
    seq_len: int
    source: str                                           # "onnx-graph" | "rnn-config" | "static-config" | "cnn-config" | "bert-config"
    by_op: dict[str, int] = field(default_factory=dict)
    uncounted: list[str] = field(default_factory=list)    # op types with arithmetic this count leaves out
    gemv_fp32: int = 0      # of `fp32`, the MACs that run one row at a time (M = 1): RNN recurrences at batch 1, batch-1 heads
    gemv_int8: int = 0      # of `int8`, the same
    sequential: int = 0     # of the total, the recurrent multiplies (h_{t-1} x R per step: each step waits for the last)

    @property
    def total(self) -> int:
        return self.fp32 + self.int8

    @property
    def gemm_fp32(self) -> int:
        """fp32 MACs that run as GEMMs with M > 1 rows."""
        return self.fp32 - self.gemv_fp32

    @property
    def gemm_int8(self) -> int:
        return self.int8 - self.gemv_int8

    def to_dict(self) -> dict:
        return {**asdict(self), "total": self.total}


def _fp32_count(by_op: dict, gemv: dict, sequential: int, batch: int, seq_len: int, source: str) -> MacCount:
    """A config count (all fp32: a config says nothing of quantization); `gemv` names the by_op entries (or parts) at M = 1.
    At batch 1 and one token every GEMM has one row."""
    if batch * seq_len == 1:
        gemv = by_op
    return MacCount(sum(by_op.values()), 0, batch, seq_len, source, by_op, gemv_fp32=sum(gemv.values()), sequential=sequential)


# ---------------------------------------------------------------------------------------------- from configs

def count_rnn_macs(config: dict, seq_len: int, batch: int = 1) -> MacCount:
    """MACs of the BiLSTM/GRU student from its config (student.json's "config": cell, embed_dim, hidden, ...).

    Per direction and layer, each step is gates x H x (input + H) MACs (LSTM 4 gates, GRU 3); the
    embedding lookup is free, the projection and head are GEMMs, attention pooling is 2H per token.
    Of the RNN's MACs, gates x H x input per step is the input projection (one GEMM over all steps) and
    gates x H x H the recurrence (`sequential`; M = batch rows per step, so one row at batch 1); the head
    is a GEMM with M = batch.
    """
    try:
        cell, e, h, layers = config.get("cell", "lstm"), int(config["embed_dim"]), int(config["hidden"]), int(config.get("layers", 1))
        proj, head_hidden, labels = config.get("projection"), int(config.get("head_hidden", 0)), int(config.get("num_labels", 2))
    except (KeyError, TypeError, ValueError) as e_:
        raise ConfigError(f"not an RNN student config ({e_}); need cell, embed_dim, hidden, layers, head_hidden, num_labels") from None
    gates = {"lstm": 4, "gru": 3}.get(cell)
    if gates is None:
        raise ConfigError(f"cell {cell!r} has no MAC formula; choose lstm or gru")
    by_op = {}
    width = e
    if proj:
        by_op["projection"] = batch * seq_len * e * int(proj)
        width = int(proj)
    rnn = recurrent = 0
    for layer in range(layers):
        d_in = width if layer == 0 else 2 * h
        rnn += 2 * batch * seq_len * gates * h * (d_in + h)
        recurrent += 2 * batch * seq_len * gates * h * h
    by_op[cell.upper()] = rnn
    if config.get("pooling") == "attention":
        by_op["attention_pooling"] = batch * seq_len * 2 * h
    by_op["head"] = batch * ((2 * h * head_hidden + head_hidden * labels) if head_hidden else 2 * h * labels)
    gemv = {"recurrence": recurrent, "head": by_op["head"]} if batch == 1 else {}
    return _fp32_count(by_op, gemv, recurrent, batch, seq_len, "rnn-config")


def count_pooled_macs(config: dict, seq_len: int, batch: int = 1) -> MacCount:
    """MACs of a static or CNN student from its config (student.json's "config", with its "kind").

    static: the head's GEMMs only (the lookup and the mean / max over tokens are not counted). cnn: per kernel width
    k, T·(k·E)·filters (each width is one GEMM over stacked windows), then the head. A siamese student's head reads
    [u; v; |u-v|; u*v]; like count_rnn_macs, one side's encoder is counted.
    """
    try:
        kind, e, labels = config["kind"], int(config["embed_dim"]), int(config.get("num_labels", 2))
        side = 4 if config.get("siamese") else 1
        by_op = {}
        if kind == "static":
            width = e * (2 if config.get("pooling", "mean_max") == "mean_max" else 1) * side
            layers = [int(config.get("head_hidden", 0))] * int(config.get("head_layers", 1)) + [labels]
            by_op["head"] = 0
            for out in layers:
                by_op["head"] += batch * width * out
                width = out
        elif kind == "cnn":
            widths, filters = [int(k) for k in config["widths"]], int(config["filters"])
            by_op["conv"] = sum(batch * seq_len * k * e * filters for k in widths)
            by_op["head"] = batch * len(widths) * filters * side * labels
        else:
            raise KeyError(f"kind {kind!r}")
    except (KeyError, TypeError, ValueError) as e_:
        raise ConfigError(f"not a static or cnn student config ({e_}); need kind, embed_dim and the kind's widths") from None
    return _fp32_count(by_op, {"head": by_op["head"]} if batch == 1 else {}, 0, batch, seq_len, f"{kind}-config")


def count_bert_macs(config: dict, seq_len: int, batch: int = 1) -> MacCount:
    """MACs of a BERT-style encoder classifier (Hugging Face config.json) at (batch, seq_len).

    Per layer: Q, K, V and output projections 4·T·d², scores and weighted sum 2·T²·d, feed-forward 2·T·d·f
    (GEMMs with M = T rows); then the pooler d² and the classifier d·labels (M = batch: one row at batch 1).
    """
    try:
        d, f, layers = int(config["hidden_size"]), int(config["intermediate_size"]), int(config["num_hidden_layers"])
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"not a BERT config ({e}); need hidden_size, intermediate_size, num_hidden_layers") from None
    labels = len(config.get("id2label") or {}) or int(config.get("num_labels", 2))
    t, b = seq_len, batch
    by_op = {"attention_projections": layers * b * 4 * t * d * d, "attention_core": layers * b * 2 * t * t * d,
             "feed_forward": layers * b * 2 * t * d * f, "pooler": b * d * d, "classifier": b * d * labels}
    gemv = {"pooler": by_op["pooler"], "classifier": by_op["classifier"]} if b == 1 else {}
    return _fp32_count(by_op, gemv, 0, batch, seq_len, "bert-config")


# ---------------------------------------------------------------------------------------------- from an ONNX graph

def count_onnx_macs(path: str | Path, seq_len: int = 64, batch: int = 1) -> MacCount:
    """MACs of an ONNX file's forward pass at (batch, seq_len), from the real shape of every operand.

    >>> count_onnx_macs("runs/demo/artifacts/bilstm-distilled.int8.onnx", 64).to_dict()  # doctest: +SKIP
    {'fp32': 131584, 'int8': 62980096, ...}
    """
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path} is not an ONNX file")
    try:
        model = onnx.load(str(path))
    except Exception as e:  # protobuf's DecodeError and onnx's own errors share no base class worth naming
        raise ConfigError(f"{path} is not a readable ONNX file ({type(e).__name__}); re-export it") from None
    graph = model.graph
    shapes: dict[str, tuple[int, ...]] = {i.name: tuple(i.dims) for i in graph.initializer}
    for node in graph.node:   # Constant nodes are operands too (a weight may be one)
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    shapes[node.output[0]] = tuple(numpy_helper.to_array(a.t).shape)
    feeds = _feeds_for(graph, seq_len, batch, shapes)
    existing = {o.name for o in graph.output} | set(shapes) | set(feeds)
    for node in graph.node:
        for out in node.output:
            if out and out not in existing:
                graph.output.append(onnx.ValueInfoProto(name=out))
                existing.add(out)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL   # keep the file's nodes as they are
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        values = session.run(None, feeds)
    except Exception as e:  # onnxruntime raises its own exception types; name the file and the shape tried
        raise ConfigError(f"could not run {path.name} at batch {batch}, seq {seq_len} to read its shapes: {str(e).splitlines()[0][:200]}") from None
    for out, value in zip(session.get_outputs(), values):
        shapes[out.name] = tuple(np.shape(value))
    shapes.update({k: v.shape for k, v in feeds.items()})
    fp32 = int8 = gemv_fp32 = gemv_int8 = sequential = 0
    by_op: dict[str, int] = {}
    uncounted: set[str] = set()
    for node in graph.node:
        macs = _node_macs(node, shapes)
        if macs is None:
            if node.op_type not in NO_MAC_OPS:
                uncounted.add(f"{node.domain + '.' if node.domain else ''}{node.op_type}")
            continue
        gemv, seq = _node_gemv(node, shapes, macs)
        by_op[node.op_type] = by_op.get(node.op_type, 0) + macs
        sequential += seq
        if node.op_type in INT8_OPS:
            int8, gemv_int8 = int8 + macs, gemv_int8 + gemv
        else:
            fp32, gemv_fp32 = fp32 + macs, gemv_fp32 + gemv
    return MacCount(fp32, int8, batch, seq_len, "onnx-graph", by_op, sorted(uncounted), gemv_fp32, gemv_int8, sequential)


_ONNX_DTYPES = {1: np.float32, 6: np.int32, 7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64}


def _feeds_for(graph, seq_len: int, batch: int, initializers: dict) -> dict[str, np.ndarray]:
    """Inputs that look like a tokenized batch: ids in a safe vocabulary range, a full mask, zero segment ids."""
    rng = np.random.default_rng(0)
    feeds = {}
    for inp in graph.input:
        if inp.name in initializers:
            continue
        t = inp.type.tensor_type
        dtype = _ONNX_DTYPES.get(t.elem_type)
        if dtype is None:
            raise ConfigError(f"input {inp.name!r} has ONNX type {t.elem_type}; MAC counting feeds int/float token inputs only")
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        if len(dims) != 2:
            raise ConfigError(f"input {inp.name!r} has rank {len(dims)}; MAC counting expects (batch, sequence) token inputs")
        shape = (dims[0] or batch, dims[1] or seq_len)
        if inp.name == "input_ids":
            feeds[inp.name] = rng.integers(1000, 2000, shape).astype(dtype)
        elif inp.name == "attention_mask":
            feeds[inp.name] = np.ones(shape, dtype)
        else:
            feeds[inp.name] = np.zeros(shape, dtype)
    return feeds


def _attr(node, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return a.i if a.type == a.INT else a.f if a.type == a.FLOAT else a.s
    return default


def _matmul_macs(a: tuple, b: tuple) -> int:
    a = (1,) + a if len(a) == 1 else a
    b = b + (1,) if len(b) == 1 else b
    m, k, n = a[-2], a[-1], b[-1]
    batch = np.broadcast_shapes(a[:-2], b[:-2]) if (len(a) > 2 or len(b) > 2) else ()
    return int(np.prod(batch, dtype=np.int64)) * m * k * n


RNN_GATES = {"LSTM": 4, "DynamicQuantizeLSTM": 4, "GRU": 3, "RNN": 1}


def _rows(a: tuple, b: tuple) -> int:
    """M of a MatMul as its kernel sees it: all leading rows of A against a 2-D weight, else A's own rows per batch."""
    a = (1,) + a if len(a) == 1 else a
    return int(np.prod(a[:-1], dtype=np.int64)) if len(b) <= 2 else a[-2]


def _node_gemv(node, shapes: dict, macs: int) -> tuple[int, int]:
    """(MACs at one row at a time, recurrent MACs) of a counted node: the recurrence of an RNN op (its rows per step
    are the batch), or a whole GEMM whose M is 1."""
    op, ins = node.op_type, [shapes.get(i) if i else None for i in node.input]
    if op in RNN_GATES:
        x, h = ins[0], _attr(node, "hidden_size")
        seq, b = (x[1], x[0]) if _attr(node, "layout", 0) else (x[0], x[1])
        directions = ins[1][0]
        recurrent = directions * seq * b * RNN_GATES[op] * h * h
        return (recurrent if b == 1 else 0), recurrent
    if op in ("MatMul", "MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "FusedMatMul", "QLinearMatMul"):
        a, b = ins[0], ins[3 if op == "QLinearMatMul" else 1]
        if op == "FusedMatMul" and _attr(node, "transA", 0):
            a = a[:-2] + (a[-1], a[-2])
        return (macs if _rows(a, b) == 1 else 0), 0
    if op == "MatMulNBits":
        return (macs if int(np.prod(ins[0][:-1], dtype=np.int64)) == 1 else 0), 0
    if op in ("Gemm", "QGemm"):
        a = ins[0]
        return (macs if (a[1] if _attr(node, "transA", 0) else a[0]) == 1 else 0), 0
    out = shapes.get(node.output[0]) if node.output else None   # Conv: one output position is one row
    if op in ("Conv", "ConvInteger", "QLinearConv") and out is not None and int(np.prod(out[2:], dtype=np.int64)) * out[0] == 1:
        return macs, 0
    return 0, 0   # attention: M = sequence rows


def _node_macs(node, shapes: dict) -> int | None:
    """MACs of one node from its operands' shapes; None when it has none (or they cannot be counted)."""
    op, ins = node.op_type, [shapes.get(i) if i else None for i in node.input]

    def shape(i):
        return ins[i] if i < len(ins) else None

    if op in ("MatMul", "MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "FusedMatMul"):
        a, b = shape(0), shape(1)
        if a is None or b is None:
            return None
        if op == "FusedMatMul":
            if _attr(node, "transA", 0):
                a = a[:-2] + (a[-1], a[-2])
            if _attr(node, "transB", 0):
                b = b[:-2] + (b[-1], b[-2])
        return _matmul_macs(a, b)
    if op == "MatMulNBits":   # B is packed (N, blocks, bytes); K and N are attributes
        a, k, n = shape(0), _attr(node, "K"), _attr(node, "N")
        return int(np.prod(a[:-1], dtype=np.int64)) * k * n if a is not None and k and n else None
    if op == "QLinearMatMul":
        return _matmul_macs(shape(0), shape(3)) if shape(0) and shape(3) else None
    if op in ("Gemm", "QGemm"):
        a, b = shape(0), shape(3 if op == "QGemm" else 1)
        if a is None or b is None:
            return None
        m, k = (a[1], a[0]) if _attr(node, "transA", 0) else (a[0], a[1])
        n = b[0] if _attr(node, "transB", 0) else b[1]
        return m * k * n
    if op in ("LSTM", "GRU", "RNN", "DynamicQuantizeLSTM"):
        x, w = shape(0), shape(1)
        h = _attr(node, "hidden_size")
        if x is None or w is None or not h:
            return None
        seq, b = (x[1], x[0]) if _attr(node, "layout", 0) else (x[0], x[1])
        gates = RNN_GATES[op]
        directions = w[0]
        return directions * seq * b * gates * h * (x[2] + h)
    if op in ("Attention", "QAttention"):
        x, w = shape(0), shape(1)
        if x is None or w is None:
            return None
        b, s, d_in = x
        d3 = w[1]
        total = d3 // 3
        return b * s * d_in * d3 + 2 * b * s * s * total   # QKV projection, then scores and weighted sum
    if op == "MultiHeadAttention":
        q, k = shape(0), shape(1)
        if q is None:
            return None
        if k is None or len(k) != 3:    # packed QKV (B, S, N, 3, H) or key/value in (B, N, L, H)
            if len(q) == 5:
                b, s, n_heads, _, hd = q
                return 2 * b * s * s * n_heads * hd
            if k is not None and len(k) == 4:
                b, s, d = q
                return 2 * b * s * k[2] * d
            return None
        b, s, d = q
        return 2 * b * s * k[1] * d
    if op in ("Conv", "ConvInteger", "QLinearConv"):
        w = shape(3 if op == "QLinearConv" else 1)
        out = shapes.get(node.output[0])
        if w is None or out is None:
            return None
        return int(np.prod(out, dtype=np.int64)) * int(np.prod(w[1:], dtype=np.int64))
    return None


# ---------------------------------------------------------------------------------------------- any path

def count_macs(path: str | Path, seq_len: int = 64, batch: int = 1) -> MacCount:
    """MACs of a model file or folder: .onnx (graph), a bundle (its default model), a student or HF BERT checkpoint.

    >>> count_macs("runs/demo/students/bilstm-distilled", 64).total  # doctest: +SKIP
    """
    path = Path(path)
    if path.is_file() and path.suffix == ".onnx":
        return count_onnx_macs(path, seq_len, batch)
    if path.is_dir() and (path / "manifest.json").is_file():
        from edge_runtime.bundle import Bundle

        bundle = Bundle.open(path, verify=False)
        return count_macs(bundle.model_path(), seq_len, batch)
    if path.is_dir() and (path / "student.json").is_file():
        meta = json.loads((path / "student.json").read_text(encoding="utf-8"))
        config = meta.get("config", {})
        if isinstance(config, dict) and config.get("kind") in ("static", "cnn"):
            return count_pooled_macs(config, seq_len, batch)
        return count_rnn_macs(config, seq_len, batch)
    if path.is_dir() and (path / "config.json").is_file():
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        if not {"hidden_size", "intermediate_size", "num_hidden_layers"} <= set(config):
            raise ConfigError(f"{path}/config.json is a {config.get('model_type')!r} model; MACs are counted for BERT-style encoders")
        return count_bert_macs(config, seq_len, batch)
    raise ConfigError(f"cannot count MACs of {path}: give a .onnx file, a bundle, a student checkpoint or a BERT checkpoint folder "
                      f"({path.suffix or 'folder'} models are counted through their ONNX or PyTorch source)")


# ---------------------------------------------------------------------------------------------- GEMM rates

# A cache-resident GEMM and a large one: which is faster depends on the cache and on how contended the
# shared L3 is (measured here under load: 57 vs 26 GMAC/s fp32); a floor takes the best of them.
DEFAULT_SHAPES: tuple[tuple[int, int, int], ...] = ((128, 512, 512), (256, 1024, 1024))
GEMV_K_N = (1024, 1024)


@dataclass
class GemmRates:
    """Single-core multiply-accumulate rates in GMAC/s (1e9 MACs per second), measured here."""
    fp32_gmacs: float           # onnxruntime MatMul: the best call over `shapes`
    int8_gmacs: float           # onnxruntime MatMulInteger (uint8 x int8), the same way
    numpy_fp32_gmacs: float     # numpy matmul (its BLAS, one thread), for reference
    gemv_fp32_gmacs: float      # M = 1, K = N = 1024: one token at a time, as an RNN step at batch 1 runs
    gemv_int8_gmacs: float
    fp32_shape: tuple[int, int, int]   # (M, K, N) that gave the fp32 rate
    int8_shape: tuple[int, int, int]
    shapes: tuple[tuple[int, int, int], ...]
    core: int
    cpu: str
    flags: list[str]
    onnxruntime: str
    seconds: float

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fp32_shape"], d["int8_shape"] = list(self.fp32_shape), list(self.int8_shape)
        d["shapes"] = [list(x) for x in self.shapes]
        return d


def _matmul_session(k: int, n: int, int8: bool):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if int8:
        b = numpy_helper.from_array(rng.integers(-127, 128, (k, n)).astype(np.int8), "B")
        node, a_type, y_type = helper.make_node("MatMulInteger", ["A", "B"], ["Y"]), TensorProto.UINT8, TensorProto.INT32
    else:
        b = numpy_helper.from_array(rng.standard_normal((k, n)).astype(np.float32), "B")
        node, a_type, y_type = helper.make_node("MatMul", ["A", "B"], ["Y"]), TensorProto.FLOAT, TensorProto.FLOAT
    graph = helper.make_graph([node], "gemm", [helper.make_tensor_value_info("A", a_type, [None, k])],
                              [helper.make_tensor_value_info("Y", y_type, [None, n])], [b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _best_rate(fn, macs: int, seconds: float) -> float:
    """GMAC/s of the fastest call in blocks of calls lasting ~`seconds` in all: the machine's capability, not its load."""
    fn()
    fn()   # first calls pack weights and grow arenas
    best, deadline, calls = float("inf"), time.perf_counter() + seconds, 0
    while calls < 5 or time.perf_counter() < deadline:
        t0 = time.perf_counter_ns()
        fn()
        best = min(best, time.perf_counter_ns() - t0)
        calls += 1
    return macs / best   # MACs per ns = GMAC/s


@contextlib.contextmanager
def _numpy_blas_single_thread():
    """numpy's OpenBLAS at one thread while timing, as threadpoolctl does: its second thread on the same pinned core
    would spin against the first (measured here: 9.6 vs 48.5 GMAC/s). No-op for a BLAS without this entry point."""
    import ctypes

    lib = None
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line.split()[-1]}
        for path in sorted(paths):
            try:
                lib = ctypes.CDLL(path)
                break
            except OSError:
                continue
    except OSError:
        pass
    fns = None
    if lib is not None:
        for get, set_ in (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                          ("openblas_get_num_threads64_", "openblas_set_num_threads64_"), ("openblas_get_num_threads", "openblas_set_num_threads")):
            if hasattr(lib, get) and hasattr(lib, set_):
                fns = getattr(lib, get), getattr(lib, set_)
                break
    if fns is None:
        yield
        return
    before = fns[0]()
    fns[1](1)
    try:
        yield
    finally:
        fns[1](before)


@functools.lru_cache(maxsize=4)
def measure_gemm_rates(shapes: tuple[tuple[int, int, int], ...] = DEFAULT_SHAPES, seconds: float = 0.25, core: int | None = None) -> GemmRates:
    """Time fp32 and int8 GEMMs on one pinned core; cached per process (about 2-3 s the first time).

    The best call over `shapes` is kept for each precision: a floor is about what the core can do, so
    a busy moment on a shared machine (or an unlucky shape for the cache) should not lower it.

    >>> measure_gemm_rates().int8_gmacs / measure_gemm_rates().fp32_gmacs  # doctest: +SKIP
    3.8
    """
    import onnxruntime as ort

    from edge_runtime.device import cpu_flags, cpu_name, pinned

    if not shapes or any(len(x) != 3 or min(x) < 1 for x in shapes):
        raise ConfigError(f"shapes must be (M, K, N) triples of positive sizes; got {shapes}")
    core = sorted(os.sched_getaffinity(0))[-1] if core is None else core
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    best = {"fp32": (0.0, shapes[0]), "int8": (0.0, shapes[0]), "numpy": (0.0, shapes[0])}
    with pinned((core,)):
        for m, k, n in shapes:
            a32 = rng.standard_normal((m, k)).astype(np.float32)
            a8 = rng.integers(0, 256, (m, k)).astype(np.uint8)
            b32 = rng.standard_normal((k, n)).astype(np.float32)
            s32, s8 = _matmul_session(k, n, False), _matmul_session(k, n, True)
            for key, fn, budget in (("fp32", lambda: s32.run(None, {"A": a32}), seconds), ("int8", lambda: s8.run(None, {"A": a8}), seconds)):
                rate = _best_rate(fn, m * k * n, budget)
                if rate > best[key][0]:
                    best[key] = (rate, (m, k, n))
            with _numpy_blas_single_thread():
                rate = _best_rate(lambda: a32 @ b32, m * k * n, seconds / 2)
            if rate > best["numpy"][0]:
                best["numpy"] = (rate, (m, k, n))
        k, n = GEMV_K_N
        s32, s8 = _matmul_session(k, n, False), _matmul_session(k, n, True)
        v32, v8 = rng.standard_normal((1, k)).astype(np.float32), rng.integers(0, 256, (1, k)).astype(np.uint8)
        gemv32 = _best_rate(lambda: s32.run(None, {"A": v32}), k * n, seconds / 2)
        gemv8 = _best_rate(lambda: s8.run(None, {"A": v8}), k * n, seconds / 2)
    return GemmRates(round(best["fp32"][0], 2), round(best["int8"][0], 2), round(best["numpy"][0], 2), round(gemv32, 2), round(gemv8, 2),
                     best["fp32"][1], best["int8"][1], tuple(shapes), core, cpu_name(), cpu_flags(), ort.__version__,
                     round(time.perf_counter() - t0, 2))


FLOOR_RULE = ("floor = each op kind's MACs at its measured single-core rate: GEMMs with M > 1 rows (RNN input projections over all "
              "steps, CNN windows, Transformer projections and attention) at the GEMM rate; RNN recurrences (one step after the other) "
              "and M = 1 GEMMs (batch-1 heads) at the M=1 (GEMV) rate; fp32 or int8 by the op; summed, / threads")


def floor(macs: MacCount, rates: GemmRates, latency_ms: float | None = None, threads: int = 1) -> dict:
    """The FLOP floor of `macs` on this machine at `threads` (single-core rates x threads, capped by the cores allowed):
    `FLOOR_RULE`. `floor_ms_by_kind` splits it (GEMM / GEMV x fp32 / int8); `floor_ms_gemm_rate_only` is the older,
    lower bound that ran every MAC at the GEMM rate.

    >>> floor(count_macs("m.onnx", 64), measure_gemm_rates(), latency_ms=0.9)["x_floor"]  # doctest: +SKIP
    4.1
    """
    cores = max(1, min(threads, len(os.sched_getaffinity(0))))
    per_ms = 1e6   # GMAC/s * 1e6 = MACs per ms
    by_kind = {"gemm_fp32": macs.gemm_fp32 / (rates.fp32_gmacs * per_ms), "gemv_fp32": macs.gemv_fp32 / (rates.gemv_fp32_gmacs * per_ms),
               "gemm_int8": macs.gemm_int8 / (rates.int8_gmacs * per_ms), "gemv_int8": macs.gemv_int8 / (rates.gemv_int8_gmacs * per_ms)}
    one_core = sum(by_kind.values())
    floor_ms = one_core / cores
    gemm_only = (macs.fp32 / (rates.fp32_gmacs * per_ms) + macs.int8 / (rates.int8_gmacs * per_ms)) / cores
    d = {"macs": macs.to_dict(), "floor_ms": floor_ms, "floor_ms_one_core": one_core, "threads": cores,
         "x_floor": (latency_ms / floor_ms) if latency_ms and floor_ms > 0 else None,
         "floor_ms_by_kind": {k: v / cores for k, v in by_kind.items()}, "floor_ms_gemm_rate_only": gemm_only}
    return d
