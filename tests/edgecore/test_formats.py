"""edgecore.formats is the one table of formats and precisions; the tolerance table must cover it exactly."""
import pytest

from edgecore import UnsupportedError
from edgecore.formats import ALL_PRECISIONS, EXPORT_FORMATS, FORMATS, PRECISIONS, SHIP_ORDER, check_precisions
from edgecore.tolerances import TOLERANCES, tolerance


def test_every_format_precision_pair_has_a_tolerance_row():
    pairs = {(fmt, p) for fmt, precisions in PRECISIONS.items() for p in precisions}
    missing = sorted(pairs - set(TOLERANCES))
    assert not missing, f"edgecore/tolerances.py has no row for {missing}; add one with the measurement behind it"
    for fmt, p in pairs:
        tol = tolerance(fmt, p)
        assert tol.max_abs_logit_diff >= 0 and 0 < tol.min_agreement <= 1 and tol.reason


def test_the_tolerance_table_holds_no_pair_the_formats_table_lacks():
    known = {(fmt, p) for fmt, precisions in PRECISIONS.items() for p in precisions} | {("pytorch", "fp32")}
    assert set(TOLERANCES) - known == set()
    assert {fmt for fmt, _ in TOLERANCES} == set(FORMATS)


def test_derived_lists_follow_the_table():
    assert EXPORT_FORMATS == ("onnx", "tflite", "coreml", "executorch") and FORMATS == ("pytorch", *EXPORT_FORMATS)
    assert all(ps[0] == "fp32" for ps in PRECISIONS.values())           # the source precision first
    assert set(ALL_PRECISIONS) == {p for ps in PRECISIONS.values() for p in ps} and len(set(ALL_PRECISIONS)) == len(ALL_PRECISIONS)
    assert set(SHIP_ORDER) == set(ALL_PRECISIONS) and sorted(SHIP_ORDER.values()) == list(range(len(SHIP_ORDER)))
    assert max(SHIP_ORDER, key=SHIP_ORDER.get) == "fp32"                 # fp32 ships last


def test_check_precisions_names_what_the_format_takes():
    check_precisions("coreml", ("fp32", "palettize4"))
    with pytest.raises(UnsupportedError, match="'int8-full' does not exist for onnx; choose from fp32, fp16, int8, int8-static"):
        check_precisions("onnx", ("int8", "int8-full"))
    with pytest.raises(UnsupportedError, match="'pytorch' is not a format; choose one of onnx, tflite, coreml"):
        check_precisions("pytorch", ("fp32",))
