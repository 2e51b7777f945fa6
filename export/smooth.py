"""SmoothQuant (Xiao et al. 2022) on an ONNX graph, before dynamic int8 quantization.

onnxruntime's dynamic int8 quantizes each MatMul's activation per tensor at run time
(DynamicQuantizeLinear, uint8), so a few outlier channels set the step for all of them. For Y = X @ W
with a constant W, per input channel j:

    s_j = max|X_j| ** alpha / max|W_j| ** (1 - alpha),    Y = (X * (1/s)) @ (diag(s) W)

moves part of the activation range into the weights, which are quantized per output channel.
BERT is post-LayerNorm: a LayerNorm output also feeds the residual, so 1/s cannot be folded into its
gamma. An explicit `Mul` by a constant 1/s is inserted in front of the MatMuls instead (one per
activation: Q, K and V share theirs, with s from the largest weight row of the three). The smoothed
fp32 graph computes the same function as the original, up to float rounding.

`alpha="auto"` picks, per activation, the alpha (or no smoothing) whose simulated int8 MatMul output
is closest to the fp32 one on the calibration sentences (ORT's rounding: per-tensor asymmetric uint8
activations, per-column symmetric int8 weights). Padded positions count in the maxima: in a padded
batch they are real inputs of the quantizer and can be far outside the real tokens' range.

    >>> report = smooth_onnx("fused.onnx", "smoothed.onnx", calibration_feeds, alpha="auto")  # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecore import ConfigError

MIN_MAX = 1e-5                                               # floor for channel maxima: no zero/infinite scale
AUTO_GRID = (None, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)   # None: leave the activation alone


@dataclass
class Group:
    """One activation and the MatMul/Gemm nodes that multiply it by a constant 2-D weight."""
    activation: str
    nodes: list = field(default_factory=list)                # onnx NodeProto

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]


def smoothable_groups(model) -> list[Group]:
    """Activations (graph tensors, not initializers) multiplied by constant 2-D weights, grouped by activation."""
    inits = {i.name: i for i in model.graph.initializer}
    groups: dict[str, Group] = {}
    for node in model.graph.node:
        if node.input and node.input[0] not in inits and _weight_of(node, inits) is not None:
            groups.setdefault(node.input[0], Group(node.input[0])).nodes.append(node)
    return list(groups.values())


def _weight_of(node, inits):
    """(initializer, stored transposed) of a node computing X @ W with a constant 2-D W, else None."""
    if node.op_type not in ("MatMul", "Gemm", "Attention") or len(node.input) < 2 or node.input[1] not in inits:
        return None     # Attention: onnxruntime's fused op, input @ packed QKV weight (hidden, 3 * hidden) first
    attrs = {a.name: a.i for a in node.attribute if a.name in ("transA", "transB")}
    if attrs.get("transA") or len(inits[node.input[1]].dims) != 2:
        return None
    return inits[node.input[1]], bool(node.op_type == "Gemm" and attrs.get("transB"))


def _weights(group: Group, inits) -> list[np.ndarray]:
    from onnx import numpy_helper

    out = []
    for node in group.nodes:
        init, transposed = _weight_of(node, inits)
        w = numpy_helper.to_array(init)
        out.append(w.T if transposed else w)                 # (in, out)
    return out


def padded_batches(feeds: list[Mapping[str, np.ndarray]], batch: int = 16, pad_id: int = 0) -> list[dict[str, np.ndarray]]:
    """Consecutive single-sentence feeds joined into right-padded batches (ids `pad_id`, mask 0)."""
    out = []
    for start in range(0, len(feeds), batch):
        chunk = feeds[start:start + batch]
        width = max(f["input_ids"].shape[-1] for f in chunk)
        joined = {}
        for key in chunk[0]:
            rows = [np.asarray(f[key]).reshape(-1, np.asarray(f[key]).shape[-1]) for f in chunk]
            fill = pad_id if key == "input_ids" else 0
            joined[key] = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1])), constant_values=fill) for r in rows])
        out.append(joined)
    return out


def _activations(model, feeds: Iterable[Mapping[str, np.ndarray]], tensors: list[str], threads: int) -> Iterator[list[np.ndarray]]:
    """For each feed, the values of `tensors` as (rows, channels) arrays (padded positions included)."""
    import onnx
    import onnxruntime as ort

    proto = onnx.ModelProto()
    proto.CopyFrom(model)
    existing = {o.name for o in proto.graph.output}
    proto.graph.output.extend(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in tensors if t not in existing)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in sess.get_inputs()}
    for feed in feeds:
        values = sess.run(tensors, {k: np.asarray(v) for k, v in feed.items() if k in inputs})
        yield [v.reshape(-1, v.shape[-1]) for v in values]


def activation_maxima(model, feeds: Iterable[Mapping[str, np.ndarray]], threads: int = 1) -> dict[str, np.ndarray]:
    """Per-channel max |x| (last axis) of every smoothable activation of `model` over `feeds`."""
    return _calibrate(_load(model), feeds, threads)[0]


def _calibrate(model, feeds: Iterable[Mapping[str, np.ndarray]], threads: int, keep: int = 0) -> tuple[dict, dict]:
    """One pass over `feeds`: (per-channel max |x| of every smoothable activation, its values on the first
    `keep` feeds as (rows, channels) arrays, for `search_alphas`)."""
    tensors = [g.activation for g in smoothable_groups(model)]
    maxima: dict[str, np.ndarray] = {}
    samples: dict[str, list[np.ndarray]] = {t: [] for t in tensors}
    for i, values in enumerate(_activations(model, feeds, tensors, threads)):
        for name, v in zip(tensors, values):
            m = np.abs(v).max(axis=0)
            maxima[name] = np.maximum(maxima[name], m) if name in maxima else m
            if i < keep:
                samples[name].append(v)
    if not maxima:
        raise ConfigError("no calibration feeds were given; pass feeds encoded from real sentences")
    return maxima, samples


def smooth_scales(act_max: np.ndarray, weight_max: np.ndarray, alpha: float) -> np.ndarray:
    """s_j = max|X_j|^alpha / max|W_j|^(1-alpha), both maxima floored at MIN_MAX."""
    a, w = np.maximum(act_max, MIN_MAX).astype(np.float64), np.maximum(weight_max, MIN_MAX).astype(np.float64)
    return (a ** alpha / w ** (1.0 - alpha)).astype(np.float32)


def search_alphas(model, samples: Mapping[str, list[np.ndarray]], maxima: Mapping[str, np.ndarray], grid=AUTO_GRID) -> dict[str, float | None]:
    """Per group (keyed by its first node's name): the alpha of `grid` with the smallest simulated int8 error
    on `samples` (activation -> its (rows, channels) values, from `_calibrate`)."""
    model = _load(model)
    inits = {i.name: i for i in model.graph.initializer}
    groups = [g for g in smoothable_groups(model)
              if samples.get(g.activation) and g.activation in maxima
              and all(w.shape[0] == len(maxima[g.activation]) for w in _weights(g, inits))]
    best = {}
    for g in groups:
        w = np.concatenate(_weights(g, inits), axis=1)
        levels = 63.0 if any(n.op_type == "Attention" for n in g.nodes) else 127.0   # QAttention's weights are reduce_range (7-bit)
        xs = samples[g.activation]
        ref = np.concatenate(xs) @ w
        errors = {}
        for a in grid:
            s = np.ones(w.shape[0], np.float32) if a is None else smooth_scales(maxima[g.activation], np.abs(w).max(axis=1), a)
            ws = w * s[:, None]
            step = np.maximum(np.abs(ws).max(axis=0), MIN_MAX) / levels
            wq = np.round(ws / step) * step                 # per output column, symmetric int8
            xq = np.concatenate([_fake_quant_uint8(x / s) for x in xs])
            errors[a] = float(((xq @ wq - ref) ** 2).sum())
        best[g.nodes[0].name] = min(errors, key=errors.get)
    return best


def _fake_quant_uint8(x: np.ndarray) -> np.ndarray:
    """DynamicQuantizeLinear then dequantize: one asymmetric uint8 range for the whole tensor."""
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = (hi - lo) / 255.0 or 1.0
    zero = np.clip(np.round(-lo / scale), 0, 255)
    return (np.clip(np.round(x / scale) + zero, 0, 255) - zero) * scale


def smooth_model(model, maxima: Mapping[str, np.ndarray], alpha: float = 0.5,
                 overrides: Mapping[str, float | None] | None = None) -> dict[str, dict]:
    """Smooth `model` (an onnx ModelProto, changed in place) for every group with calibrated maxima.

    `overrides` maps a part of a node name to an alpha for the group holding that node (None: leave
    the group alone); the first matching pattern wins, other groups get `alpha`. Returns, per
    inserted Mul node, the group's nodes, its alpha and the spread (max/min) of its channel maxima
    before and after.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    done: dict[str, dict] = {}
    for group in smoothable_groups(model):
        a = _alpha_for(group.names, alpha, overrides or {})
        act_max = maxima.get(group.activation)
        weights = _weights(group, inits)
        if a is None or act_max is None or any(w.shape[0] != len(act_max) for w in weights):
            continue
        s = smooth_scales(act_max, np.max([np.abs(w).max(axis=1) for w in weights], axis=0), a)
        mul = f"{group.nodes[0].name}/SmoothQuant_Mul"
        smoothed = f"{group.activation}/smoothed"
        graph.initializer.append(numpy_helper.from_array((1.0 / s).astype(np.float32), f"{mul}/inv_scale"))
        first = min(i for i, n in enumerate(graph.node) if n.name in group.names)
        graph.node.insert(first, helper.make_node("Mul", [group.activation, f"{mul}/inv_scale"], [smoothed], mul))
        for node, w in zip(group.nodes, weights):
            init, transposed = _weight_of(node, inits)
            scaled = w * s[:, None]
            scaled = np.ascontiguousarray((scaled.T if transposed else scaled).astype(np.float32))
            if uses.get(init.name, 0) > 1:                   # shared weight: this node gets its own copy
                graph.initializer.append(numpy_helper.from_array(scaled, f"{init.name}/smoothed/{node.name}"))
                node.input[1] = f"{init.name}/smoothed/{node.name}"
            else:
                init.CopyFrom(numpy_helper.from_array(scaled, init.name))
            node.input[0] = smoothed
        spread = lambda m: float(np.max(m) / max(float(np.min(m)), MIN_MAX))
        done[mul] = {"nodes": group.names, "alpha": a, "spread_before": spread(act_max), "spread_after": spread(act_max / s)}
    return done


def smooth_onnx(src: str | Path, out: str | Path, calibration: list[Mapping[str, np.ndarray]], alpha: float | str = "auto",
                overrides: Mapping[str, float | None] | None = None, batch: int = 16, pad_id: int = 0, search_size: int = 64,
                threads: int = 1) -> dict[str, dict]:
    """Write a smoothed copy of the ONNX file `src` at `out`, calibrated on `calibration` feeds.

    Single-sentence feeds are also run as right-padded batches of `batch` (pad token `pad_id`), so the
    maxima cover what padding does to a batched call. `alpha="auto"`: per-group alphas from
    `search_alphas` on the first `search_size` feeds; `overrides` still win.
    """
    import onnx

    if not calibration:
        raise ConfigError("smooth_onnx needs calibration feeds from real sentences")
    model = onnx.load(str(src))
    feeds = list(calibration)
    if batch > 1 and all(np.asarray(f["input_ids"]).shape[0] == 1 for f in feeds):
        feeds += padded_batches(feeds, batch, pad_id)
    maxima, samples = _calibrate(model, feeds, threads, keep=search_size if alpha == "auto" else 0)
    if alpha == "auto":
        searched = search_alphas(model, samples, maxima)
        overrides = {**(overrides or {}), **{k: v for k, v in searched.items() if k not in (overrides or {})}}  # caller's patterns first
        alpha = 0.5                                          # unused: every group has a searched entry
    done = smooth_model(model, maxima, float(alpha), overrides)
    onnx.save(model, str(out))
    return done


def _alpha_for(names: list[str], alpha: float, overrides: Mapping[str, float | None]) -> float | None:
    for pattern, value in overrides.items():
        if any(pattern in n for n in names):
            return value
    return alpha


def _load(model):
    import onnx

    return onnx.load(str(model)) if isinstance(model, (str, Path)) else model


def per_token_rows(model, patterns: tuple[str, ...] | None = None, eps: float = MIN_MAX, skip: set[str] | frozenset = frozenset()) -> list[str]:
    """Give the MatMuls of `model` (an onnx ModelProto, changed in place) with a constant 2-D weight whose name contains any of
    `patterns` (None: every such MatMul; never those named in `skip`) per-token activation quantization on top of onnxruntime's per-tensor one:

        r = max(max_j |X_ij|, eps),    Y = r * ((X / r) @ W)

    computes the same function, and after the division every row spans [-1, 1], so the one uint8 range that
    DynamicQuantizeLinear gives the tensor fits each token as well as the widest one (a token with outliers no
    longer coarsens the step of all the others). Returns the names of the MatMuls changed.
    """
    from onnx import TensorProto, helper

    graph = model.graph
    inits = {i.name for i in graph.initializer}
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    eps_name = "PerToken/eps"
    changed, nodes = [], []
    for node in graph.node:
        if (node.op_type == "MatMul" and len(node.input) == 2 and node.input[1] in inits and node.input[0] not in inits
                and node.name not in skip and (patterns is None or any(p in node.name for p in patterns))):
            x, base = node.input[0], f"{node.name}/PerToken"
            if opset >= 18:
                axes = f"{base}/axes"
                graph.initializer.append(helper.make_tensor(axes, TensorProto.INT64, [1], [-1]))
                reduce = helper.make_node("ReduceMax", [f"{base}/abs", axes], [f"{base}/rmax"], f"{base}/ReduceMax", keepdims=1)
            else:
                reduce = helper.make_node("ReduceMax", [f"{base}/abs"], [f"{base}/rmax"], f"{base}/ReduceMax", axes=[-1], keepdims=1)
            nodes.append((node, [helper.make_node("Abs", [x], [f"{base}/abs"], f"{base}/Abs"), reduce,
                                 helper.make_node("Max", [f"{base}/rmax", eps_name], [f"{base}/r"], f"{base}/Max"),
                                 helper.make_node("Div", [x, f"{base}/r"], [f"{base}/x"], f"{base}/Div")]))
            changed.append(node.name)
    if not changed:
        return changed
    graph.initializer.append(helper.make_tensor(eps_name, TensorProto.FLOAT, [], [eps]))
    for node, before in nodes:
        at = list(graph.node).index(node)
        for i, extra in enumerate(before):
            graph.node.insert(at + i, extra)
        base, y = f"{node.name}/PerToken", node.output[0]
        node.input[0] = f"{base}/x"
        node.output[0] = f"{base}/y"
        graph.node.insert(at + len(before) + 1, helper.make_node("Mul", [f"{base}/y", f"{base}/r"], [y], f"{base}/Mul"))
    return changed
