"""Recurrent layers rewritten so that litert-torch lowers them to a graph TFLite runs fast.

litert-torch decomposes `nn.LSTM` / `nn.GRU` into a generic unrolled graph (~16 ops per step and
direction, one SLICE per gate). `lower_recurrent(model, route)` returns a copy of the model whose
`nn.LSTM` / `nn.GRU` submodules (batch_first, one layer, one direction: what the students use) are
swapped for drop-in modules holding the very same parameters, so the state_dict and the PyTorch
numbers do not change:

- "while": (default) the input projection of every step in one FULLY_CONNECTED, then a TFLite WHILE
           loop whose body is one FULLY_CONNECTED on the state plus the gate element-wise ops. The body
           holds the recurrent weights once, so XNNPACK packs them once (the unrolled graph packs them
           once per step) and the loop-invariant input is passed through without a copy. litert-torch
           0.10 has no while-loop outlining, so `outline_whiles` does it on the converted module.
- "loop":  the same step math unrolled in Python (gates reordered so one LOGISTIC covers three gates):
           as many ops as "stock" once converted, kept to measure that.
- "fused": LSTM only: one TFLite UNIDIRECTIONAL_SEQUENCE_LSTM op per layer and direction, emitted
           through a custom torch op with its own MLIR lowering. Its state tensors are TFLite
           *variable* tensors that keep their value between invocations, so the runner resets
           them before every call (`edgedistill.tflite.reset_variables` in the file's metadata).
- "stock": leave the modules alone (litert-torch's own decomposition); the only route ai-edge-quantizer
           can calibrate for int8-full. GRUs take "while" on the while route and "loop" on the others.

Measured routes and why "while" is the default: benchmarks/results/tflite_routes.md (+ _notes.md).
"""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from edgecore import ConfigError, UnsupportedError

ROUTES = ("while", "stock", "fused", "loop")


def _check(module: nn.RNNBase) -> None:
    if module.num_layers != 1 or module.bidirectional or not module.batch_first or getattr(module, "proj_size", 0):
        raise UnsupportedError(f"{type(module).__name__}(num_layers={module.num_layers}, bidirectional={module.bidirectional}, "
                               f"batch_first={module.batch_first}) cannot be rewritten; the fast TFLite path handles one-layer, "
                               "one-direction, batch_first LSTM/GRU modules (stack them as the edgedistill students do), "
                               "or export with recurrent='stock'")


class _Rewritten(nn.Module):
    """Holds the original module (so parameter names stay `<name>.weight_ih_l0`...) and replaces its forward."""

    def __init__(self, rnn: nn.RNNBase, unroll: int = 1) -> None:
        super().__init__()
        _check(rnn)
        self.rnn = rnn
        self.hidden = rnn.hidden_size
        self.unroll = unroll


class LoopLSTM(_Rewritten):
    """nn.LSTM(batch_first=True) as an explicit unrolled per-step loop: (B, T, E) -> ((B, T, H), None)."""

    def forward(self, x: torch.Tensor, state=None):
        if state is not None:
            raise UnsupportedError("an initial LSTM state is not supported by the TFLite rewrite")
        r, H = self.rnn, self.hidden
        # PyTorch gate order is (i, f, g, o); (i, f, o, g) puts the three sigmoid gates side by side
        order = torch.cat([torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)])
        w_ih, w_hh = r.weight_ih_l0[order], r.weight_hh_l0[order]              # (4H, E), (4H, H)
        bias = (r.bias_ih_l0 + r.bias_hh_l0)[order] if r.bias else None        # (4H,)
        xw = F.linear(x, w_ih, bias)                                           # (B, T, 4H): all steps at once
        outs, h, c = [], None, None
        for t in range(x.shape[1]):
            g = xw[:, t] if h is None else xw[:, t] + F.linear(h, w_hh)        # (B, 4H)
            sig = torch.sigmoid(g[:, : 3 * H])                                 # (B, 3H): i, f, o
            cand = torch.tanh(g[:, 3 * H:])                                    # (B, H)
            i, f, o = sig[:, :H], sig[:, H: 2 * H], sig[:, 2 * H:]
            c = i * cand if c is None else f * c + i * cand                    # zero initial state: skip f * 0
            h = o * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, dim=1), None                                  # (B, T, H)


class LoopGRU(_Rewritten):
    """nn.GRU(batch_first=True) as an explicit per-step loop: (B, T, E) -> ((B, T, H), None)."""

    def forward(self, x: torch.Tensor, state=None):
        if state is not None:
            raise UnsupportedError("an initial GRU state is not supported by the TFLite rewrite")
        r, H = self.rnn, self.hidden
        xw = F.linear(x, r.weight_ih_l0, r.bias_ih_l0 if r.bias else None)    # (B, T, 3H), gates (r, z, n)
        b_hh = r.bias_hh_l0 if r.bias else None
        outs, h = [], None
        for t in range(x.shape[1]):
            xt = xw[:, t]                                                      # (B, 3H)
            if h is None:   # zero state: W_hh h = 0, only the bias is left
                hw = b_hh.unsqueeze(0).expand_as(xt) if b_hh is not None else torch.zeros_like(xt)
            else:
                hw = F.linear(h, r.weight_hh_l0, b_hh)                         # (B, 3H)
            rz = torch.sigmoid(xt[:, : 2 * H] + hw[:, : 2 * H])                # (B, 2H)
            n = torch.tanh(xt[:, 2 * H:] + rz[:, :H] * hw[:, 2 * H:])          # (B, H)
            z = rz[:, H:]
            h = n - z * n if h is None else n + z * (h - n)                    # (1 - z) n + z h
            outs.append(h)
        return torch.stack(outs, dim=1), None


class WhileLSTM(_Rewritten):
    """nn.LSTM(batch_first=True) as input projection + one TFLite WHILE loop over the steps."""

    def forward(self, x: torch.Tensor, state=None):
        if state is not None:
            raise UnsupportedError("an initial LSTM state is not supported by the TFLite rewrite")
        r = self.rnn
        bias = r.bias_ih_l0 + r.bias_hh_l0 if r.bias else None
        xw = F.linear(x, r.weight_ih_l0, bias)                                 # (B, T, 4H): all steps at once
        return torch.ops.edgedistill.lstm_while(xw, r.weight_hh_l0, steps_per_iteration(x.shape[1], self.unroll)), None  # (B, T, H)


class WhileGRU(_Rewritten):
    """nn.GRU(batch_first=True) as input projection + one TFLite WHILE loop over the steps."""

    def forward(self, x: torch.Tensor, state=None):
        if state is not None:
            raise UnsupportedError("an initial GRU state is not supported by the TFLite rewrite")
        r = self.rnn
        xw = F.linear(x, r.weight_ih_l0, r.bias_ih_l0 if r.bias else None)    # (B, T, 3H), gates (r, z, n)
        b_hh = r.bias_hh_l0 if r.bias else torch.zeros(3 * self.hidden, dtype=x.dtype)
        return torch.ops.edgedistill.gru_while(xw, r.weight_hh_l0, b_hh, steps_per_iteration(x.shape[1], self.unroll)), None


class FusedLSTM(_Rewritten):
    """nn.LSTM(batch_first=True) as one TFLite UNIDIRECTIONAL_SEQUENCE_LSTM op."""

    def forward(self, x: torch.Tensor, state=None):
        if state is not None:
            raise UnsupportedError("an initial LSTM state is not supported by the TFLite rewrite")
        r = self.rnn
        zeros = torch.zeros(4 * self.hidden, dtype=x.dtype)
        b_ih = r.bias_ih_l0 if r.bias else zeros
        b_hh = r.bias_hh_l0 if r.bias else zeros
        return torch.ops.edgedistill.tfl_lstm(x, r.weight_ih_l0, r.weight_hh_l0, b_ih + b_hh), None


def steps_per_iteration(steps: int, unroll: int) -> int:
    """The largest divisor of `steps` that is <= `unroll`: each WHILE iteration runs that many steps."""
    return max(k for k in range(1, max(1, unroll) + 1) if steps % k == 0)


def lower_recurrent(model: nn.Module, route: str = "while", unroll: int = 4) -> tuple[nn.Module, dict]:
    """A deep copy of `model` with its LSTM/GRU modules rewritten for `route`, plus what was rewritten.

    `unroll` (while route): time steps per loop iteration, so the loop state (the outputs so far) is
    copied T/unroll times instead of T times, at the price of `unroll` packed copies of the weights."""
    if route not in ROUTES:
        raise ConfigError(f"recurrent route {route!r} is not known; choose one of {', '.join(ROUTES)}")
    found = {name: m for name, m in model.named_modules() if isinstance(m, (nn.LSTM, nn.GRU))}
    report = {"route": route, "lstm": sum(isinstance(m, nn.LSTM) for m in found.values()),
              "gru": sum(isinstance(m, nn.GRU) for m in found.values())}
    if route == "while":
        report["unroll"] = unroll
    if route == "stock" or not found:
        return model, report
    if route == "fused":
        register_fused_lstm()
    if route == "while":
        register_while_lstm()
    model = copy.deepcopy(model).eval()
    for name in found:
        parent_name, _, leaf = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        rnn = getattr(parent, leaf)   # ModuleList children are attributes "0", "1", ... too
        if isinstance(rnn, nn.LSTM):
            new = {"fused": FusedLSTM, "while": WhileLSTM, "loop": LoopLSTM}[route](rnn, unroll)
        else:   # TFLite has no builtin sequence-GRU kernel: the while loop, else the unrolled loop
            new = WhileGRU(rnn, unroll) if route == "while" else LoopGRU(rnn, unroll)
        setattr(parent, leaf, new)
    return model, report


_REGISTERED = False


def register_fused_lstm() -> None:
    """Define torch.ops.edgedistill.tfl_lstm and its lowering to tfl.unidirectional_sequence_lstm (once)."""
    global _REGISTERED
    if _REGISTERED:
        return

    @torch.library.custom_op("edgedistill::tfl_lstm", mutates_args=())
    def tfl_lstm(x: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """Reference semantics: a zero-state, batch-first LSTM. (B, T, E) -> (B, T, H)."""
        H = w_hh.shape[1]
        h0 = x.new_zeros(1, x.shape[0], H)
        out, _ = torch.lstm(x, (h0, h0.clone()), [w_ih, w_hh, bias, torch.zeros_like(bias)], True, 1, 0.0, False, False, True)
        return out

    @tfl_lstm.register_fake
    def _(x, w_ih, w_hh, bias):
        return x.new_empty(x.shape[0], x.shape[1], w_hh.shape[1])

    from litert_converter.mlir import ir
    from litert_converter.mlir.dialects import stablehlo
    from litert_torch.backend import lowerings
    from litert_torch.backend.lowerings import utils as lowering_utils

    @lowerings.lower(torch.ops.edgedistill.tfl_lstm.default)
    def _lower(lctx, x, w_ih, w_hh, bias):
        out_type = lowering_utils.node_meta_to_ir_types(lctx.node)[0]
        batch, hidden = ir.RankedTensorType(x.type).shape[0], ir.RankedTensorType(w_hh.type).shape[1]
        f32 = ir.F32Type.get()

        def gate(value, k):   # rows [kH, (k+1)H) of a (4H, ...) tensor; TFLite wants one tensor per gate
            shape = list(ir.RankedTensorType(value.type).shape)
            start, limit = [0] * len(shape), list(shape)
            start[0], limit[0] = k * hidden, (k + 1) * hidden
            return stablehlo.slice(value, ir.DenseI64ArrayAttr.get(start), ir.DenseI64ArrayAttr.get(limit),
                                   ir.DenseI64ArrayAttr.get([1] * len(shape)))

        def none():
            return ir.Operation.create("tfl.no_value", results=[ir.NoneType.get()], attributes={"value": ir.UnitAttr.get()}).result

        def zeros():
            t = ir.RankedTensorType.get([batch, hidden], f32)
            return stablehlo.constant(ir.DenseElementsAttr.get_splat(t, ir.FloatAttr.get(f32, 0.0)))

        # operand order of TFLite's LSTM: input, 4 input weights, 4 recurrent weights, 3 peepholes, 4 biases,
        # projection weight + bias, output state, cell state, 4 layer-norm weights (gates i, f, c, o = torch's i, f, g, o)
        operands = [x, *(gate(w_ih, k) for k in range(4)), *(gate(w_hh, k) for k in range(4)), none(), none(), none(),
                    *(gate(bias, k) for k in range(4)), none(), none(), zeros(), zeros(), none(), none(), none(), none()]
        op = ir.Operation.create("tfl.unidirectional_sequence_lstm", results=[out_type], operands=operands, attributes={
            "fused_activation_function": ir.StringAttr.get("TANH"), "cell_clip": ir.FloatAttr.get(f32, 0.0),
            "proj_clip": ir.FloatAttr.get(f32, 0.0), "time_major": ir.BoolAttr.get(False)})
        return op.result

    _REGISTERED = True


_WHILE_REGISTERED = False


def register_while_lstm() -> None:
    """Define torch.ops.edgedistill.lstm_while / gru_while and their lowerings to stablehlo.while (-> tfl.while), once."""
    global _WHILE_REGISTERED
    if _WHILE_REGISTERED:
        return

    @torch.library.custom_op("edgedistill::lstm_while", mutates_args=())
    def lstm_while(xw: torch.Tensor, w_hh: torch.Tensor, unroll: int) -> torch.Tensor:
        """Reference semantics: gates = xw[:, t] + h W_hh^T, PyTorch gate order (i, f, g, o), zero state. (B, T, 4H) -> (B, T, H)."""
        H = w_hh.shape[1]
        h = c = xw.new_zeros(xw.shape[0], H)
        outs = []
        for t in range(xw.shape[1]):
            i, f, g, o = (xw[:, t] + h @ w_hh.T).chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, dim=1)

    @lstm_while.register_fake
    def _(xw, w_hh, unroll):
        return xw.new_empty(xw.shape[0], xw.shape[1], w_hh.shape[1])

    @torch.library.custom_op("edgedistill::gru_while", mutates_args=())
    def gru_while(xw: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor, unroll: int) -> torch.Tensor:
        """Reference semantics of torch's GRU from projected inputs xw = x W_ih^T + b_ih, zero state. (B, T, 3H) -> (B, T, H)."""
        H = w_hh.shape[1]
        h = xw.new_zeros(xw.shape[0], H)
        outs = []
        for t in range(xw.shape[1]):
            hw = h @ w_hh.T + b_hh
            rz = torch.sigmoid(xw[:, t, : 2 * H] + hw[:, : 2 * H])
            n = torch.tanh(xw[:, t, 2 * H:] + rz[:, :H] * hw[:, 2 * H:])
            h = n + rz[:, H:] * (h - n)
            outs.append(h)
        return torch.stack(outs, dim=1)

    @gru_while.register_fake
    def _(xw, w_hh, b_hh, unroll):
        return xw.new_empty(xw.shape[0], xw.shape[1], w_hh.shape[1])

    from litert_converter.mlir import ir
    from litert_converter.mlir.dialects import stablehlo as hlo
    from litert_torch.backend import lowerings

    def build_loop(xw, hidden, step, unroll):
        """stablehlo.while over the steps of xw (1, T, W), `unroll` steps per iteration;
        `step(x_t, h, c) -> (h, c)` builds one step's ops."""
        f32 = ir.F32Type.get()
        batch, steps, width = ir.RankedTensorType(xw.type).shape
        if batch != 1:
            raise UnsupportedError(f"the TFLite while-loop RNN is traced at batch 1 (got {batch})")
        if unroll < 1 or steps % unroll:
            raise UnsupportedError(f"{unroll} steps per loop iteration do not divide {steps} steps")
        zeros = lambda shape: hlo.constant(ir.DenseElementsAttr.get_splat(ir.RankedTensorType.get(shape, f32), ir.FloatAttr.get(f32, 0.0)))
        # loop state: step, the (loop-invariant) projected inputs, h, c (unused by a GRU), the outputs so far
        init = [_scalar(0), xw, zeros([1, hidden]), zeros([1, hidden]), zeros([1, steps, hidden])]
        types = [v.type for v in init]
        loop = hlo.WhileOp(types, init)
        cond = loop.regions[0].blocks.append(*types)
        with ir.InsertionPoint(cond):
            hlo.return_([hlo.compare(cond.arguments[0], _scalar(steps), hlo.ComparisonDirectionAttr.get("LT"))])
        body = loop.regions[1].blocks.append(*types)
        with ir.InsertionPoint(body):
            t, xs, h, c, out = body.arguments
            zero = _scalar(0)
            chunk = hlo.reshape(_tensor([unroll, width]),
                                hlo.dynamic_slice(xs, [zero, t, zero], ir.DenseI64ArrayAttr.get([1, unroll, width])))
            hs = []
            for k in range(unroll):
                x_t = hlo.slice(chunk, ir.DenseI64ArrayAttr.get([k, 0]), ir.DenseI64ArrayAttr.get([k + 1, width]), ir.DenseI64ArrayAttr.get([1, 1]))
                h, c = step(x_t, h, c)
                hs.append(h)
            block = hs[0] if unroll == 1 else hlo.concatenate(hs, 0)                       # (unroll, H)
            out = hlo.dynamic_update_slice(out, hlo.reshape(_tensor([1, unroll, hidden]), block), [zero, t, zero])
            hlo.return_([hlo.add(t, _scalar(unroll)), xs, h, c, out])
        return loop.results[4]

    def fully_connected(h, weight, width):
        dims = hlo.DotDimensionNumbers.get(lhs_batching_dimensions=[], rhs_batching_dimensions=[],
                                           lhs_contracting_dimensions=[1], rhs_contracting_dimensions=[1])
        # the weight is re-materialised inside the body: a constant captured from outside would become a
        # loop-carried tensor; inside, it is one FULLY_CONNECTED weight that XNNPACK packs once
        return hlo.dot_general(_tensor([1, width]), h, clone_constant(weight), dims)

    @lowerings.lower(torch.ops.edgedistill.lstm_while.default)
    def _lower_lstm(lctx, xw, w_hh, unroll):
        hidden = ir.RankedTensorType(w_hh.type).shape[1]

        def step(x_t, h, c):
            gates = hlo.add(x_t, fully_connected(h, w_hh, 4 * hidden))              # (1, 4H): i, f, g, o
            i, f, g, o = (_cols(gates, k * hidden, (k + 1) * hidden) for k in range(4))
            c_next = hlo.add(hlo.multiply(hlo.logistic(f), c), hlo.multiply(hlo.logistic(i), hlo.tanh(g)))
            return hlo.multiply(hlo.logistic(o), hlo.tanh(c_next)), c_next

        return build_loop(xw, hidden, step, unroll)

    @lowerings.lower(torch.ops.edgedistill.gru_while.default)
    def _lower_gru(lctx, xw, w_hh, b_hh, unroll):
        hidden = ir.RankedTensorType(w_hh.type).shape[1]

        def step(x_t, h, c):
            hw = hlo.add(fully_connected(h, w_hh, 3 * hidden), hlo.reshape(_tensor([1, 3 * hidden]), clone_constant(b_hh)))
            rz = hlo.logistic(hlo.add(_cols(x_t, 0, 2 * hidden), _cols(hw, 0, 2 * hidden)))
            n = hlo.tanh(hlo.add(_cols(x_t, 2 * hidden, 3 * hidden), hlo.multiply(_cols(rz, 0, hidden), _cols(hw, 2 * hidden, 3 * hidden))))
            h_next = hlo.add(n, hlo.multiply(_cols(rz, hidden, 2 * hidden), hlo.subtract(h, n)))
            return h_next, c

        return build_loop(xw, hidden, step, unroll)

    _WHILE_REGISTERED = True


def _tensor(shape):
    from litert_converter.mlir import ir

    return ir.RankedTensorType.get(shape, ir.F32Type.get())


def _scalar(value: int):
    import numpy as np
    from litert_converter.mlir import ir
    from litert_converter.mlir.dialects import stablehlo as hlo

    return hlo.constant(ir.DenseElementsAttr.get(np.array(value, np.int32)))


def _cols(value, start: int, stop: int):
    """value[:, start:stop] of a (1, N) tensor."""
    from litert_converter.mlir import ir
    from litert_converter.mlir.dialects import stablehlo as hlo

    return hlo.slice(value, ir.DenseI64ArrayAttr.get([0, start]), ir.DenseI64ArrayAttr.get([1, stop]), ir.DenseI64ArrayAttr.get([1, 1]))


def clone_constant(value):
    """Re-create `value` (a constant, or a pure op on constants such as a transpose) at the insertion point."""
    from litert_converter.mlir import ir

    op = getattr(value.owner, "operation", value.owner)
    if isinstance(op, ir.Block) or (op.name not in ("arith.constant", "stablehlo.constant") and not len(op.operands)):
        raise UnsupportedError(f"the recurrent weights must be constants to live inside the TFLite loop (got {op})")
    operands = [clone_constant(v) for v in op.operands]
    attributes = {name: op.attributes[name] for name in op.attributes}
    return ir.Operation.create(op.name, results=[r.type for r in op.results], operands=operands, attributes=attributes).results[0]


_CONSTANT_OPS = ("arith.constant", "stablehlo.constant", "tfl.pseudo_const", "tfl.pseudo_qconst", "tfl.no_value")


def outline_whiles(module) -> int:
    """Move the regions of every tfl.while into private functions called from the regions.

    The flatbuffer exporter writes a WHILE op only when its cond/body regions are single calls (what
    TensorFlow's tfl-while-loop-outline pass produces, a pass litert-torch's pipeline does not run).
    Constants used inside are cloned into the functions; other values from outside become extra
    loop-carried inputs that the body passes through unchanged (TFLite skips copying those).
    Returns the number of loops outlined. Run inside the module's context.
    """
    from litert_converter.mlir import ir
    from litert_converter.mlir.dialects import func

    def name_of(op):
        return getattr(op, "operation", op).name

    loops = []

    def walk(op):
        for region in op.regions:
            for block in region.blocks:
                for inner in block.operations:
                    inner = getattr(inner, "operation", inner)
                    if inner.name == "tfl.while":
                        loops.append(inner)
                    walk(inner)

    for top in module.body.operations:
        if name_of(top) == "func.func":
            walk(getattr(top, "operation", top))
    for n, old in enumerate(loops):
        blocks = [old.regions[0].blocks[0], old.regions[1].blocks[0]]
        if len(list(blocks[1].operations)) == 2 and name_of(list(blocks[1].operations)[0]) == "func.call":
            continue   # already outlined
        externals, constants = [], []
        for block in blocks:
            for op in block.operations:
                for v in getattr(op, "operation", op).operands:
                    owner = v.owner
                    if isinstance(owner, ir.Block):
                        inside = any(owner == b for b in blocks)
                    else:
                        owner = getattr(owner, "operation", owner)
                        inside = any(owner.block == b for b in blocks)
                        if not inside and owner.name in _CONSTANT_OPS:
                            if v not in constants:
                                constants.append(v)
                            continue
                    if not inside and v not in externals:
                        externals.append(v)
        carried = list(old.operands) + externals
        types = [v.type for v in carried]
        n_loop = len(old.operands)
        functions = []
        for k, block in enumerate(blocks):
            results = [ir.RankedTensorType.get([], ir.IntegerType.get_signless(1))] if k == 0 else types
            with ir.InsertionPoint(module.body):
                fn = func.FuncOp(f"edgedistill_while_{n}_{'cond' if k == 0 else 'body'}", ir.FunctionType.get(types, results),
                                 visibility="private")
            entry = fn.add_entry_block()
            args = list(entry.arguments)
            cloned = {}
            with ir.InsertionPoint(entry):
                for v in constants:
                    c = getattr(v.owner, "operation", v.owner)
                    cloned[v] = ir.Operation.create(c.name, results=[r.type for r in c.results],
                                                    attributes={a: c.attributes[a] for a in c.attributes}).results[0]
            ops = [getattr(op, "operation", op) for op in block.operations]
            terminator = ops[-1]
            for op in ops[:-1]:
                op.detach_from_parent()
                entry.append(op)
            for index, arg in enumerate(block.arguments):
                arg.replace_all_uses_with(args[index])

            def remap(v):
                if v in cloned:
                    return cloned[v]
                if v in externals:
                    return args[n_loop + externals.index(v)]
                return v

            for op in entry.operations:
                op = getattr(op, "operation", op)
                for j, v in enumerate(op.operands):
                    new = remap(v)
                    if new != v:
                        op.operands[j] = new
            returned = [remap(v) for v in terminator.operands]
            with ir.InsertionPoint(entry):
                func.ReturnOp(returned + ([] if k == 0 else args[n_loop:]))
            functions.append(fn)
        with ir.InsertionPoint(old):
            new_loop = ir.Operation.create("tfl.while", results=types, operands=carried,
                                           attributes={a: old.attributes[a] for a in old.attributes}, regions=2)
        for k, fn in enumerate(functions):
            block = new_loop.regions[k].blocks.append(*types)
            with ir.InsertionPoint(block):
                call = func.CallOp(fn, list(block.arguments))
                ir.Operation.create("tfl.yield", operands=list(call.results))
        for k, result in enumerate(old.results):
            result.replace_all_uses_with(new_loop.results[k])
        old.erase()
    return len(loops)
