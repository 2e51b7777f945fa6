"""Build onnxruntime MatMulNBits (8-bit) nodes for chosen MatMuls; quantize_dynamic turns the rest into MatMulInteger.

onnxruntime's dynamic int8 (MatMulInteger / DynamicQuantizeMatMul) quantizes a MatMul's activation
with one uint8 range for the whole tensor and its weight with one int8 scale per output column.
MatMulNBits with bits=8 stores the weight in blocks of `block_size` input rows per column
(asymmetric, one scale + zero point per block) and, at accuracy_level 4, quantizes the activation
to int8 per row and block at run time: much finer on both sides, but slower on CPU than MatMulInteger
(the built-in teacher with every MatMul as MatMulNBits ran at 1.36x fp32 vs 2.1x all-MatMulInteger).
Used only where the error hurts most, it costs little: see TEACHER_NBITS in export/quantize.py.

    >>> names = nbits8("smoothed.onnx", "nbits.onnx", ["layer.0/output/dense/MatMul"])  # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path

from edgecore import ConfigError

BITS = 8
BLOCK_SIZE = 128         # rows of the weight per quantization block (and activation block at accuracy_level 4)
ACCURACY_LEVEL = 4       # int8 activations, int32 accumulation (MatMulNBits attribute; 1 = fp32 activations)


def nbits_targets(model, patterns: tuple[str, ...]) -> list[str]:
    """Names of the MatMul nodes with a constant 2-D weight whose name contains any of `patterns`."""
    inits = {i.name: i for i in model.graph.initializer}
    out = [n.name for n in model.graph.node
           if n.op_type == "MatMul" and len(n.input) == 2 and n.input[1] in inits and len(inits[n.input[1]].dims) == 2
           and any(p in n.name for p in patterns)]
    if patterns and not out:
        example = next((n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in inits), "")
        raise ConfigError(f"nbits patterns {list(patterns)} match no MatMul with a constant weight; give parts of node names, e.g. {example!r}")
    return out


def nbits8(src: str | Path, out: str | Path, patterns: tuple[str, ...] | list[str], exclude: list[str] = (),
           block_size: int = BLOCK_SIZE, accuracy_level: int = ACCURACY_LEVEL) -> dict[str, str]:
    """Write `src` with its MatMuls matching `patterns` (except the nodes named in `exclude`) replaced by
    8-bit MatMulNBits at `out`.

    Returns {original node name: MatMulNBits node name}; other nodes are left for quantize_dynamic,
    which does not touch MatMulNBits.
    """
    import logging

    import onnx

    root = logging.getLogger()
    level = root.level
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    root.setLevel(level)   # its import runs logging.basicConfig(level=INFO): every later quantizer log line would print

    model = onnx.load(str(src))
    excluded = set(exclude)
    targets = [t for t in nbits_targets(model, tuple(patterns)) if t not in excluded]
    chosen = set(targets)
    others = [n.name for n in model.graph.node if n.name not in chosen]
    quantizer = MatMulNBitsQuantizer(model, bits=BITS, block_size=block_size, is_symmetric=False, accuracy_level=accuracy_level,
                                     nodes_to_exclude=others)   # its nodes_to_include does not restrict: exclude the rest
    quantizer.process()
    result = quantizer.model.model
    names = {n.name for n in result.graph.node if n.op_type == "MatMulNBits"}
    mapping = {t: f"{t}_Q{BITS}" for t in targets}
    missing = [t for t, q in mapping.items() if q not in names]
    if missing:
        raise ConfigError(f"onnxruntime did not turn {missing} into MatMulNBits")
    onnx.save(result, str(out))
    return mapping
