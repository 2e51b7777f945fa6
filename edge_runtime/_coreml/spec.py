"""Checks of a saved .mlpackage that need no numbers: IO names, dtypes, shapes and flexible ranges, op
counts by type, compressed weights, and the user-defined metadata."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from edge_runtime._coreml._ct import coremltools
from edge_runtime._coreml.evaluator import iter_ops

_ARRAY_DTYPES = {65568: "float32", 65552: "float16", 131104: "int32", 65600: "float64"}   # ArrayFeatureType.ArrayDataType


def io_specs(spec) -> tuple[list[dict], list[dict]]:
    """Inputs and outputs of a Model spec: name, dtype, default shape, and for flexible inputs the
    per-axis ranges ([lower, upper], upper -1 = unbounded) or the enumerated shapes."""
    def one(feature) -> dict:
        arr = feature.type.multiArrayType
        d = {"name": feature.name, "dtype": _ARRAY_DTYPES.get(arr.dataType, str(arr.dataType)), "shape": list(arr.shape)}
        which = arr.WhichOneof("ShapeFlexibility")
        if which == "shapeRange":
            d["ranges"] = [[r.lowerBound, r.upperBound] for r in arr.shapeRange.sizeRanges]
        elif which == "enumeratedShapes":
            d["enumerated"] = [list(s.shape) for s in arr.enumeratedShapes.shapes]
        return d

    return [one(f) for f in spec.description.input], [one(f) for f in spec.description.output]


def op_counts(program, function: str = "main") -> dict[str, int]:
    """How many ops of each type the function holds, nested blocks included, consts excepted."""
    counts = Counter(op.op_type for op in iter_ops(program.functions[function]) if op.op_type != "const")
    return dict(sorted(counts.items()))


def compressed_weights(program, function: str = "main") -> dict[str, dict]:
    """Every constexpr_* (compressed weight) op: its type, the dtype its payload is stored in, the bits
    per weight, and the dense shape it expands to.

    Bits: 8 for int8 affine data; log2(palette size) for look-up tables (the iOS16 op packs its indices
    into uint8 bytes, so the stored dtype alone does not say 4 or 6)."""
    out = {}
    for op in iter_ops(program.functions[function]):
        if not op.op_type.startswith("constexpr_"):
            continue
        payload = next((op.inputs[n] for n in ("quantized_data", "indices", "data", "nonzero_data") if n in op.inputs), None)
        stored = _dtype_name(payload) if payload is not None else "?"
        if "lut" in op.inputs:
            lut_shape = op.inputs["lut"].shape
            entries = lut_shape[0] if len(lut_shape) == 1 else lut_shape[-2]   # iOS18: (..., 2**nbits, vector)
            bits = int(entries).bit_length() - 1
        else:
            bits = int(stored.lstrip("uint").lstrip("int") or 0) if stored != "?" else 0
        out[op.name] = {"op": op.op_type, "stored": stored, "bits": bits, "shape": [int(s) for s in op.outputs[0].shape]}
    return out


def _dtype_name(var) -> str:
    from coremltools.converters.mil.mil import types

    return types.builtin_to_string(var.dtype)


def read_metadata(path: str | Path) -> dict:
    """The package's metadata: author, license, shortDescription, version and every user-defined key."""
    ct = coremltools()
    spec = ct.utils.load_spec(str(path))
    meta = spec.description.metadata
    return {"author": meta.author, "license": meta.license, "shortDescription": meta.shortDescription,
            "versionString": meta.versionString, "userDefined": dict(meta.userDefined)}
