"""Evaluate a saved Core ML ML Program on Linux, op by op, with numpy.

    program = load_program("student.mlpackage")      # milproto -> pymil, weights read from weight.bin
    run = MILEvaluator(program)                       # refuses programs with ops it cannot compute
    run({"input_ids": ids, "attention_mask": mask})   # -> {"logits": (1, C) float32}

How each op is computed, in order of preference:
  1. const / constexpr_* (compressed weights): materialised once at load, through the op's own
     `materialized_val_inference` (palettes, int8 affine, sparse...).
  2. ops whose every input is known at load time: pymil folded them already (`var.val`).
  3. a numpy kernel from kernels.py (recurrent cells; fp32 fast paths for matmul/linear/norms).
  4. while_loop / cond: their blocks run here, with the same rules.
  5. the op's own `value_inference`, called on a view of the op whose inputs hold concrete arrays.
An op that fits none of these is named in UnsupportedOpError before anything runs. Every output is
cast to the dtype the program declares for it (so an fp16 program rounds every activation to fp16) and
checked against the declared rank and static dimensions.
"""
from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import numpy as np

from edge_runtime._coreml._ct import coremltools
from edge_runtime._coreml.kernels import KERNELS, KernelError
from edgecore import UnsupportedError

CONTROL_FLOW = ("while_loop", "cond")
WEIGHTS_SUBDIR = ("Data", "com.apple.CoreML", "weights")


class UnsupportedOpError(UnsupportedError):
    """The program holds an op that the numpy evaluator cannot compute (named, never approximated)."""


class EvaluationError(RuntimeError):
    """An op failed or produced a value that contradicts the program's declared type: an evaluator bug."""


def load_program(path: str | Path):
    """(pymil Program, Model spec) of a saved .mlpackage: the inverse of coremltools' milproto export."""
    ct = coremltools()
    from coremltools.converters.mil.frontend.milproto.load import load

    path = Path(path)
    if not (path / "Manifest.json").is_file():
        raise UnsupportedError(f"{path} is not an .mlpackage folder (no Manifest.json); give a package saved by to_coreml")
    spec = ct.utils.load_spec(str(path))
    kind = spec.WhichOneof("Type")
    if kind != "mlProgram":
        raise UnsupportedError(f"{path.name} holds a {kind!r} model; only ML Programs (convert_to='mlprogram') can be evaluated")
    program = load(spec, spec.specificationVersion, str(path.joinpath(*WEIGHTS_SUBDIR)))
    return program, spec


def iter_ops(block):
    """Every op of a block and of the blocks nested in it (while_loop bodies, cond branches)."""
    for op in block.operations:
        yield op
        for inner in op.blocks:
            yield from iter_ops(inner)


def has_value_inference(op) -> bool:
    from coremltools.converters.mil.mil.operation import Operation

    return type(op).value_inference is not Operation.value_inference


class _Bound:
    """A concrete array dressed as a pymil Var, so an op's value_inference can read it like a constant."""

    __slots__ = ("val", "name")
    op = None

    def __init__(self, val, name: str) -> None:
        self.val, self.name = val, name

    @property
    def sym_val(self):
        return self.val

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.val))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def dtype(self):
        from coremltools.converters.mil.mil import types

        return types.numpy_type_to_builtin_type(np.asarray(self.val).dtype)

    @property
    def sym_type(self):
        from coremltools.converters.mil.mil import types

        return types.tensor(self.dtype, self.shape) if self.shape else self.dtype


class _Step:
    """One op, ready to run: how to compute it and where its inputs come from."""

    __slots__ = ("op", "how", "kernel", "inputs", "outputs", "declared")

    def __init__(self, op, how: str, kernel=None) -> None:
        from coremltools.converters.mil.mil import types

        self.op, self.how, self.kernel = op, how, kernel
        self.inputs = dict(op.inputs)          # name -> Var | tuple[Var, ...]
        self.outputs = list(op.outputs)
        self.declared = [(types.nptype_from_builtin(v.dtype), v.shape) for v in op.outputs]


class MILEvaluator:
    """Runs one function of a pymil Program on numpy feeds; see the module docstring for how.

    >>> run = MILEvaluator.from_package("student.mlpackage")            # doctest: +SKIP
    >>> run({"input_ids": ids, "attention_mask": mask})["logits"].shape   # doctest: +SKIP
    (1, 2)
    """

    def __init__(self, program, function: str = "main") -> None:
        coremltools()
        if function not in program.functions:
            raise UnsupportedError(f"the program has no function {function!r}; it has {', '.join(program.functions)}")
        self.function = program.functions[function]
        self.input_names = tuple(self.function.inputs)
        self.output_names = tuple(v.name for v in self.function.outputs)
        self.how_counts: Counter = Counter()       # how many ops go each way (const, kernel, value_inference, ...)
        self.rank_mismatches: dict[str, str] = {}  # ops whose computed rank differs from pymil's declared type
        self._consts: dict = {}                    # Var -> value known before any input arrives
        self._plans: dict[int, list[_Step]] = {}   # id(block) -> steps
        missing: list[tuple[str, str]] = []
        self._compile(self.function, missing)
        if missing:
            kinds = sorted({t for t, _ in missing})
            where = ", ".join(f"{t} ({n!r})" for t, n in missing[:6]) + (" ..." if len(missing) > 6 else "")
            raise UnsupportedOpError(
                f"the numpy MIL evaluator cannot evaluate op type(s) {', '.join(kinds)}: {where}; these have neither a "
                f"kernel in edge_runtime/_coreml/kernels.py nor value inference in coremltools. Check this model with "
                f"predict() on macOS, or add a kernel (it computes: {', '.join(sorted(KERNELS))}, control flow "
                f"{', '.join(CONTROL_FLOW)}, and every op with value inference)")

    @classmethod
    def from_package(cls, path: str | Path, function: str = "main") -> MILEvaluator:
        program, _ = load_program(path)
        return cls(program, function)

    # ------------------------------------------------------------------------------------------ compile

    def _compile(self, block, missing: list) -> None:
        steps = []
        for op in block.operations:
            kind = op.op_type
            if kind == "const" or all(v.val is not None for v in op.outputs):
                for v in op.outputs:
                    self._consts[v] = v.val
                self.how_counts["const"] += 1
                continue
            if kind.startswith("constexpr_"):
                values = self._materialize(op)
                for v, value in zip(op.outputs, values):
                    self._consts[v] = value
                self.how_counts["constexpr"] += 1
                continue
            for var in _flat_inputs(op):
                if var.val is not None and var not in self._consts:
                    self._consts[var] = var.val
            if kind in CONTROL_FLOW:
                for inner in op.blocks:
                    self._compile(inner, missing)
                step = _Step(op, kind)
            elif kind in KERNELS:
                step = _Step(op, "kernel", KERNELS[kind])
            elif has_value_inference(op):
                step = _Step(op, "value_inference")
            else:
                missing.append((kind, op.name))
                continue
            self.how_counts[step.how] += 1
            steps.append(step)
        self._plans[id(block)] = steps

    def _materialize(self, op) -> list[np.ndarray]:
        """A constexpr op's value: its own decompression, on inputs that may be other constexpr outputs."""
        proxy = self._proxy(op, {name: self._const_value(v) for name, v in op.inputs.items()})
        try:
            values = proxy.materialized_val_inference()
        except Exception as e:
            raise EvaluationError(f"could not decompress {op.op_type} {op.name!r}: {e}") from e
        values = list(values) if isinstance(values, (tuple, list)) else [values]
        return [self._check(op, i, value) for i, value in enumerate(values)]

    def _const_value(self, var):
        if isinstance(var, (tuple, list)):
            return tuple(self._const_value(v) for v in var)
        if var in self._consts:
            return self._consts[var]
        if var.val is None:
            raise EvaluationError(f"input {var.name!r} of a constexpr op is not a constant")
        return var.val

    # ---------------------------------------------------------------------------------------------- run

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs by name for one set of inputs (shapes must fit the program's declared input shapes)."""
        from coremltools.converters.mil.mil import types

        env = dict(self._consts)
        for name, var in self.function.inputs.items():
            if name not in feeds:
                raise UnsupportedError(f"missing input {name!r}; the program takes {', '.join(self.input_names)}")
            value = np.asarray(feeds[name]).astype(types.nptype_from_builtin(var.dtype), copy=False)
            declared = var.shape
            if len(declared) != value.ndim or any(isinstance(d, int) and d != s for d, s in zip(declared, value.shape)):
                raise UnsupportedError(f"input {name!r} has shape {value.shape}; the program takes {_fmt_shape(declared)}")
            env[var] = value
        self._run_block(self.function, env)
        return {v.name: env[v] for v in self.function.outputs}

    def _run_block(self, block, env: dict) -> list:
        for step in self._plans[id(block)]:
            args = {name: (tuple(env[v] for v in var) if isinstance(var, (tuple, list)) else env[var])
                    for name, var in step.inputs.items()}
            if step.how == "kernel":
                values = step.kernel(step.op, args)
                if values is NotImplemented:
                    values = self._value_inference(step.op, args)
            elif step.how == "value_inference":
                values = self._value_inference(step.op, args)
            elif step.how == "while_loop":
                values = self._while_loop(step.op, args["loop_vars"], env)
            else:
                values = self._cond(step.op, args["pred"], env)
            if not isinstance(values, (tuple, list)):
                values = (values,)
            if len(values) != len(step.outputs):
                raise EvaluationError(f"{step.op.op_type} {step.op.name!r} gave {len(values)} outputs, "
                                      f"the program declares {len(step.outputs)}")
            for i, (var, value) in enumerate(zip(step.outputs, values)):
                env[var] = self._check(step.op, i, value, step.declared[i], self.rank_mismatches)
        return [env[v] for v in block.outputs]

    def _while_loop(self, op, loop_vars: tuple, env: dict) -> tuple:
        cond_block, body_block = op.blocks
        values = tuple(loop_vars)
        for _ in range(1 << 20):   # a bound only against a broken program; real loops end by their condition
            for var, value in zip(cond_block.inputs, values):
                env[var] = value
            (keep_going,) = self._run_block(cond_block, env)
            if not bool(np.asarray(keep_going).reshape(-1)[0]):
                return values
            for var, value in zip(body_block.inputs, values):
                env[var] = value
            values = tuple(self._run_block(body_block, env))
        raise EvaluationError(f"while_loop {op.name!r} did not end after 2**20 iterations")

    def _cond(self, op, pred, env: dict) -> tuple:
        true_block, false_block = op.blocks
        return tuple(self._run_block(true_block if bool(np.asarray(pred).reshape(-1)[0]) else false_block, env))

    def _value_inference(self, op, args: dict):
        # fp16 activations are widened: fp32 arithmetic inside the op, rounded back to fp16 by _check
        wide = {name: _widen(value) for name, value in args.items()}
        proxy = self._proxy(op, wide)
        try:
            values = type(op).value_inference(proxy)
        except NotImplementedError as e:
            raise UnsupportedOpError(f"{op.op_type} {op.name!r}: coremltools' value inference does not cover this case ({e}); "
                                     f"add a kernel for {op.op_type} in edge_runtime/_coreml/kernels.py") from e
        except KernelError:
            raise
        except Exception as e:
            raise EvaluationError(f"{op.op_type} {op.name!r} failed in value inference: {type(e).__name__}: {e}") from e
        if values is None:
            raise UnsupportedOpError(f"{op.op_type} {op.name!r}: value inference returned nothing for concrete inputs")
        return values

    @staticmethod
    def _proxy(op, values: dict):
        """A shallow copy of `op` whose inputs are concrete values; the program itself is never changed."""
        proxy = copy.copy(op)
        bound = dict(op._input_vars)
        for name, var in op.inputs.items():
            value = values[name]
            if isinstance(var, (tuple, list)):
                bound[name] = tuple(_bind(v, x) for v, x in zip(var, value))
            else:
                bound[name] = _bind(var, value)
            setattr(proxy, name, bound[name])
        proxy._input_vars = bound
        return proxy

    @staticmethod
    def _check(op, index: int, value, declared=None, notes: dict | None = None):
        from coremltools.converters.mil.mil import types

        var = op.outputs[index]
        if declared is None:
            declared = (types.nptype_from_builtin(var.dtype), var.shape)
        dtype, shape = declared
        if value is None:
            raise EvaluationError(f"{op.op_type} {op.name!r} produced no value for output {var.name!r}")
        if isinstance(value, str):
            return value
        arr = np.asarray(value)
        if arr.dtype != dtype:
            arr = arr.astype(dtype)
        if arr.ndim != len(shape):
            # pymil's type inference sometimes declares a wrong rank (a `select` of scalars under a
            # symbolic-shape mask is declared a scalar); the runtime broadcasts, so do we, and count it
            if notes is not None:
                notes[f"{op.op_type} {op.name}"] = f"declared {_fmt_shape(shape)}, computed {tuple(arr.shape)}"
        elif any(isinstance(d, (int, np.integer)) and d != s for d, s in zip(shape, arr.shape)):
            raise EvaluationError(f"{op.op_type} {op.name!r} produced shape {arr.shape} for {var.name!r}; "
                                  f"the program declares {_fmt_shape(shape)}")
        return arr


def _bind(var, value):
    """The program's own Var when it is a constant, else a _Bound holding the runtime value.

    A bool constant loaded from milproto is a numpy bool, which numpy 2 refuses as `keepdims=`; the
    converter itself passes Python bools, so the constant is handed over as one."""
    if var.val is None:
        return _Bound(value, var.name)
    if isinstance(var.val, np.bool_):
        return _Bound(bool(var.val), var.name)
    return var


def _flat_inputs(op):
    for var in op.inputs.values():
        if isinstance(var, (tuple, list)):
            yield from var
        else:
            yield var


def _widen(value):
    if isinstance(value, tuple):
        return tuple(_widen(v) for v in value)
    if isinstance(value, np.ndarray) and value.dtype == np.float16:
        return value.astype(np.float32)
    return value


def _fmt_shape(shape) -> str:
    return "(" + ", ".join(str(d) if isinstance(d, (int, np.integer)) else "?" for d in shape) + ")"
