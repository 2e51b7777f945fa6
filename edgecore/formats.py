"""The formats a model can be exported to and the precisions each one takes: the one table of both.

Every other list (CLI choices, export configs, the manifest schema, the tolerance table's keys) is
derived from this one, so adding a precision is one edit here plus its tolerance.
"""
from __future__ import annotations

from edgecore.errors import UnsupportedError

#: Exportable formats and their precisions, the source precision (fp32) first.
PRECISIONS: dict[str, tuple[str, ...]] = {
    "onnx": ("fp32", "fp16", "int8", "int8-static"),
    "tflite": ("fp32", "fp16", "int8", "int8-weight", "int8-full"),
    "coreml": ("fp32", "fp16", "int8", "palettize4", "palettize6"),
    "executorch": ("fp32", "int8"),
}
#: Formats an exporter writes, in the order a bundle lists them.
EXPORT_FORMATS: tuple[str, ...] = tuple(PRECISIONS)
#: Formats a runner can load: the exported ones and the PyTorch source they are measured against.
FORMATS: tuple[str, ...] = ("pytorch", *EXPORT_FORMATS)
#: Every precision any format takes, in the order `--precision` help lists them.
ALL_PRECISIONS: tuple[str, ...] = tuple(dict.fromkeys(p for ps in PRECISIONS.values() for p in ps))
#: Which file of a bundle an app should try first: the smallest that passed parity, fp32 last.
SHIP_ORDER: dict[str, int] = {"int8": 0, "int8-weight": 1, "palettize6": 2, "palettize4": 3, "fp16": 4,
                              "int8-static": 5, "int8-full": 6, "fp32": 7}


def check_precisions(fmt: str, precisions) -> None:
    """Raise UnsupportedError naming the first precision `fmt` does not take, with the ones it does.

    >>> check_precisions("onnx", ("fp32", "int8"))
    """
    if fmt not in PRECISIONS:
        raise UnsupportedError(f"{fmt!r} is not a format; choose one of {', '.join(EXPORT_FORMATS)}")
    bad = [p for p in precisions if p not in PRECISIONS[fmt]]
    if bad:
        raise UnsupportedError(f"precision {bad[0]!r} does not exist for {fmt}; choose from {', '.join(PRECISIONS[fmt])}")
