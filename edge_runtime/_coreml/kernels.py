"""Numpy kernels for MIL ops that have no value inference (lstm, gru, rnn) or whose value inference is
slow or computes in the wrong precision (matmul/linear in fp16, layer_norm, softmax, gelu).

Semantics follow the op's documentation in coremltools (mil/ops/defs/iOS15) and, where the docstring is
ambiguous (gate order, reverse-direction output order, peephole and clip), the numpy references in
coremltools' own op tests (mil/ops/tests/iOS14/test_recurrent.py), which Apple checks against Core ML's
predict() on macOS. Each kernel computes in float32 (fp16 inputs are widened) and the evaluator rounds the
result to the dtype the program declares: fp16 storage between ops, fp32 arithmetic inside an op (a
recurrent op of an fp16 program also rounds its state to fp16 after each step).

A kernel takes (op, args) where args maps input names to numpy values (absent optional inputs are
missing or None) and returns one array or a tuple of arrays, one per op output, or NotImplemented to
hand a case it does not cover to the op's own value inference.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


class KernelError(ValueError):
    """An op uses an option this kernel does not implement (raised by name, never approximated)."""


def _f32(x) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(np.float32) if x.dtype != np.float32 else x


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # written with exp(-|x|) so large negative inputs do not overflow
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32)


_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "scaled_tanh": np.tanh,   # alpha = beta = 1 by default (coremltools test reference)
    "relu": lambda x: np.maximum(x, 0.0),
    "linear": lambda x: x,
    "hard_sigmoid": lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0),
}


def _activation(name: str, op) -> Callable[[np.ndarray], np.ndarray]:
    try:
        return _ACTIVATIONS[name.lower()]
    except KeyError:
        raise KernelError(f"{op.op_type} {op.name!r}: activation {name!r} is not implemented; "
                          f"known: {', '.join(sorted(_ACTIVATIONS))}") from None


def _opt(args: dict, name: str, default=None):
    value = args.get(name)
    return default if value is None else value


def _scalar(value):
    return value.item() if isinstance(value, np.ndarray | np.generic) else value


# ---------------------------------------------------------------------------------------------- recurrent

def _fp16_state(op) -> bool:
    """Does the op keep fp16 tensors? Then its recurrent state is rounded to fp16 after every step, as an
    fp16 runtime stores it (and as the GRU's while_loop, op by op, does here anyway)."""
    from coremltools.converters.mil.mil import types

    return op.outputs[0].dtype == types.fp16


def _round16(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float16).astype(np.float32)


def _lstm_direction(xw: np.ndarray, w_hh: np.ndarray, h: np.ndarray, c: np.ndarray, peephole, clip, acts, reverse: bool,
                    half: bool = False):
    """One direction over the whole sequence. xw: (S, B, 4H) input projections incl. bias; gates i, f, o, z."""
    rec, cell, out = acts
    H = w_hh.shape[1]
    steps = range(xw.shape[0] - 1, -1, -1) if reverse else range(xw.shape[0])
    w_hh_t = np.ascontiguousarray(w_hh.T)                          # (H, 4H)
    p_i, p_f, p_o = (peephole[:H], peephole[H:2 * H], peephole[2 * H:]) if peephole is not None else (None, None, None)
    hs = np.empty((xw.shape[0], *h.shape), dtype=np.float32)       # (S, B, H), in processing order
    for k, t in enumerate(steps):
        g = xw[t] + h @ w_hh_t                                     # (B, 4H)
        gi, gf, go, gz = g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:]
        if p_i is not None:
            gi, gf = gi + c * p_i, gf + c * p_f
        i, f, z = rec(gi), rec(gf), cell(gz)
        c = f * c + i * z
        if clip is not None:
            c = np.clip(c, -clip, clip)
        if p_o is not None:
            go = go + c * p_o
        h = rec(go) * out(c)
        if half:
            h, c = _round16(h), _round16(c)
        hs[k] = h
    return hs, h, c


def lstm(op, args):
    """MIL lstm: x (S, B, I); initial_h/initial_c (B, D*H); weights in [i, f, o, z] row blocks; bias = b_ih + b_hh."""
    x = _f32(args["x"])
    S, B, _ = x.shape
    direction = _opt(args, "direction", "forward")
    output_sequence = bool(_scalar(_opt(args, "output_sequence", False)))
    acts = tuple(_activation(_opt(args, n, d), op) for n, d in
                 (("recurrent_activation", "sigmoid"), ("cell_activation", "tanh"), ("activation", "tanh")))
    clip = args.get("clip")
    clip = None if clip is None else float(_scalar(clip))
    h0, c0 = _f32(args["initial_h"]), _f32(args["initial_c"])
    half = _fp16_state(op)

    def run(suffix: str, h, c, reverse: bool):
        w_ih, w_hh = _f32(args["weight_ih" + suffix]), _f32(args["weight_hh" + suffix])
        bias = args.get("bias" + suffix)
        peep = args.get("peephole" + suffix)
        xw = x @ w_ih.T                                            # (S, B, 4H)
        if bias is not None:
            xw = xw + _f32(bias)
        return _lstm_direction(xw, w_hh, h, c, None if peep is None else _f32(peep), clip, acts, reverse, half)

    if direction in ("forward", "reverse"):
        hs, h, c = run("", h0, c0, direction == "reverse")
        # reverse: outputs stay in processing order (as coremltools' reference and Core ML do)
        return (hs if output_sequence else hs[-1:]), h, c
    if direction != "bidirectional":
        raise KernelError(f"lstm {op.name!r}: direction {direction!r}; known: forward, reverse, bidirectional")
    H = _f32(args["weight_hh"]).shape[1]
    hs_f, h_f, c_f = run("", h0[:, :H], c0[:, :H], False)
    hs_b, h_b, c_b = run("_back", h0[:, H:], c0[:, H:], True)
    hs_b = hs_b[::-1]                                              # back in time order, aligned with hs_f
    if output_sequence:
        o = np.concatenate([hs_f, hs_b], axis=-1)                  # (S, B, 2H)
    else:
        o = np.concatenate([hs_f[-1:], hs_b[:1]], axis=-1)         # (1, B, 2H): forward last, backward first
    return o, np.concatenate([h_f, h_b], -1), np.concatenate([c_f, c_b], -1)


def gru(op, args):
    """MIL gru: weights in [r, o, z] row blocks, one bias; the reset gate scales h *before* W_ho:
    o_t = act(W_io x + b_o + W_ho (r_t * h)). (PyTorch's GRU differs, so its converter emits a while_loop.)"""
    x = _f32(args["x"])
    direction = _opt(args, "direction", "forward")
    if direction not in ("forward", "reverse"):
        raise KernelError(f"gru {op.name!r}: direction {direction!r}; known: forward, reverse")
    if _scalar(_opt(args, "reset_after", False)) or args.get("input_bias") is not None:
        # iOS18 options no converter emits yet; their maths is documented in one sentence, so refuse
        raise KernelError(f"gru {op.name!r}: reset_after / input_bias (iOS18) are not implemented")
    output_sequence = bool(_scalar(_opt(args, "output_sequence", False)))
    rec = _activation(_opt(args, "recurrent_activation", "sigmoid"), op)
    act = _activation(_opt(args, "activation", "tanh"), op)
    w_ih, w_hh = _f32(args["weight_ih"]), _f32(args["weight_hh"])
    H = w_hh.shape[1]
    bias = _f32(args["bias"]) if args.get("bias") is not None else np.zeros(3 * H, np.float32)
    xw = x @ w_ih.T + bias                                         # (S, B, 3H)
    half = _fp16_state(op)
    w_r, w_o, w_z = (np.ascontiguousarray(w_hh[k * H:(k + 1) * H].T) for k in range(3))
    h = _f32(args["initial_h"])
    steps = range(x.shape[0] - 1, -1, -1) if direction == "reverse" else range(x.shape[0])
    hs = np.empty((x.shape[0], *h.shape), dtype=np.float32)
    for k, t in enumerate(steps):
        r = rec(xw[t, :, :H] + h @ w_r)
        z = rec(xw[t, :, 2 * H:] + h @ w_z)
        o = act(xw[t, :, H:2 * H] + (r * h) @ w_o)
        h = (1.0 - z) * o + z * h
        if half:
            h = _round16(h)
        hs[k] = h
    return (hs if output_sequence else hs[-1:]), h


def rnn(op, args):
    """MIL rnn: h_t = act(W_ih x_t + W_hh h_{t-1} + b)."""
    x = _f32(args["x"])
    direction = _opt(args, "direction", "forward")
    if direction not in ("forward", "reverse"):
        raise KernelError(f"rnn {op.name!r}: direction {direction!r}; known: forward, reverse")
    act = _activation(_opt(args, "activation", "tanh"), op)
    w_ih, w_hh = _f32(args["weight_ih"]), _f32(args["weight_hh"])
    xw = x @ w_ih.T + (_f32(args["bias"]) if args.get("bias") is not None else 0.0)
    h = _f32(args["initial_h"])
    steps = range(x.shape[0] - 1, -1, -1) if direction == "reverse" else range(x.shape[0])
    hs = np.empty((x.shape[0], *h.shape), dtype=np.float32)
    half = _fp16_state(op)
    for k, t in enumerate(steps):
        h = act(xw[t] + h @ w_hh.T)
        if half:
            h = _round16(h)
        hs[k] = h
    return (hs if bool(_scalar(_opt(args, "output_sequence", False))) else hs[-1:]), h


# ----------------------------------------------------------------------- fast paths with value inference
# These ops have value inference, but it runs numpy in the input dtype (fp16 matmul without BLAS, fp16
# reductions); these compute in fp32 like the rest of the evaluator and are much faster.

def linear(op, args):
    y = _f32(args["x"]) @ _f32(args["weight"]).T
    return y + _f32(args["bias"]) if args.get("bias") is not None else y


def matmul(op, args):
    x, y = _f32(args["x"]), _f32(args["y"])
    if _scalar(_opt(args, "transpose_x", False)):
        x = np.swapaxes(x, -1, -2) if x.ndim > 1 else x
    if _scalar(_opt(args, "transpose_y", False)):
        y = np.swapaxes(y, -1, -2) if y.ndim > 1 else y
    return np.matmul(x, y)


def softmax(op, args):
    x = _f32(args["x"])
    axis = int(_scalar(_opt(args, "axis", -1)))
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def layer_norm(op, args):
    x = _f32(args["x"])
    axes = args.get("axes")
    axes = tuple(range(x.ndim)) if axes is None else tuple(int(a) for a in np.atleast_1d(axes))
    eps = float(_scalar(_opt(args, "epsilon", 1e-5)))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    if args.get("gamma") is not None:
        y = y * _f32(args["gamma"])
    if args.get("beta") is not None:
        y = y + _f32(args["beta"])
    return y


_ERF = np.vectorize(math.erf, otypes=[np.float64])


def gelu(op, args):
    x = _f32(args["x"])
    mode = _opt(args, "mode", "EXACT")
    if mode == "EXACT":
        try:
            from scipy.special import erf
        except ImportError:   # scipy is optional; math.erf is exact, only slower
            erf = _ERF
        return (0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))).astype(np.float32)
    if mode == "TANH_APPROXIMATION":
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))
    if mode == "SIGMOID_APPROXIMATION":
        return x * _sigmoid(1.702 * x)
    raise KernelError(f"gelu {op.name!r}: mode {mode!r}; known: EXACT, TANH_APPROXIMATION, SIGMOID_APPROXIMATION")


def gather(op, args):
    """Embedding lookups and shape plumbing; negative indices wrap (validate_indices is a runtime hint)."""
    x, idx = np.asarray(args["x"]), np.asarray(args["indices"])
    axis = int(_scalar(_opt(args, "axis", 0)))
    batch_dims = int(_scalar(_opt(args, "batch_dims", 0)))
    if batch_dims:
        return NotImplemented   # rare: the op's own value inference handles it
    return np.take(x, idx.astype(np.int64), axis=axis)


def select(op, args):
    """np.where with broadcasting. Own kernel because coremltools' value inference re-runs type inference,
    which for a scalar `a`/`b` and a symbolic-shape `cond` declares a scalar result (seen in BERT's mask)."""
    return np.where(np.asarray(args["cond"]).astype(bool), _widen(args["a"]), _widen(args["b"]))


def _widen(x):
    x = np.asarray(x)
    return x.astype(np.float32) if x.dtype == np.float16 else x


def gather_nd(op, args):
    """tf.gather_nd semantics (the op's reference): the last axis of `indices` indexes the leading axes of x."""
    x, idx = np.asarray(args["x"]), np.asarray(args["indices"]).astype(np.int64)
    batch_dims = int(_scalar(_opt(args, "batch_dims", 0)))
    if batch_dims:
        raise KernelError(f"gather_nd {op.name!r}: batch_dims={batch_dims} is not implemented; known: 0")
    depth = idx.shape[-1]
    idx = np.where(idx < 0, idx + np.array(x.shape[:depth]), idx)
    return x[tuple(np.moveaxis(idx, -1, 0))]                       # (*K[:-1], *D[depth:])


def scatter(op, args):
    """MIL scatter along `axis` with 1-D indices (the GRU while_loop writes each step's state this way).

    Modes update and add are implemented (in index order, so repeated indices behave as documented);
    the others are refused rather than guessed, since their docs do not say which operand comes first."""
    data = np.array(args["data"], dtype=np.float32 if np.asarray(args["data"]).dtype == np.float16 else None, copy=True)
    idx = np.asarray(args["indices"]).astype(np.int64).reshape(-1)
    updates = np.asarray(args["updates"]).astype(data.dtype, copy=False)
    axis = int(_scalar(_opt(args, "axis", 0))) % data.ndim
    mode = _opt(args, "mode", "update")
    d, u = np.moveaxis(data, axis, 0), np.moveaxis(updates, axis, 0)   # views: writes land in `data`
    if len(idx) != u.shape[0]:
        raise KernelError(f"scatter {op.name!r}: {len(idx)} indices for {u.shape[0]} updates along axis {axis}")
    idx = np.where(idx < 0, idx + d.shape[0], idx)
    if mode == "update":
        for i, j in enumerate(idx):
            d[j] = u[i]
    elif mode == "add":
        np.add.at(d, idx, u)
    else:
        raise KernelError(f"scatter {op.name!r}: mode {mode!r} is not implemented; known: update, add")
    return data


KERNELS: dict[str, Callable] = {
    "lstm": lstm, "gru": gru, "rnn": rnn,
    "linear": linear, "matmul": matmul, "softmax": softmax, "layer_norm": layer_norm, "gelu": gelu, "gather": gather,
    "gather_nd": gather_nd, "scatter": scatter, "select": select,
}
