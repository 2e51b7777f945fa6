import numpy as np
import pytest

from edge_runtime import assert_parity, parity
from edgecore import ParityError


def test_flips_agreement_and_accuracy_on_hand_made_logits():
    source = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 0.5], [0.0, 3.0]])
    candidate = source.copy()
    candidate[2] = [0.4, 0.6]        # flips from class 0 to class 1
    teacher = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    r = parity(candidate, source, teacher, gold=[0, 1, 1, 1], texts=list("abcd"), fmt="onnx", precision="int8")
    assert len(r.flips) == 1 and r.flips[0]["index"] == 2 and r.flips[0]["text"] == "c"
    assert r.flips[0]["source_label"] == 0 and r.flips[0]["label"] == 1
    assert r.agreement_with_source == 0.75 and r.agreement_with_teacher == 0.75
    assert r.accuracy == 1.0 and r.source_accuracy == 0.75
    assert r.max_abs_logit_diff == pytest.approx(0.6) and r.kl_vs_source > 0


def test_tolerance_table_is_applied_and_raising_is_separate():
    source = np.random.default_rng(0).normal(size=(1000, 2))
    ok = parity(source + 1e-5, source, source, fmt="onnx", precision="fp32")
    assert ok.passed and ok.failures == []
    assert_parity(ok)
    drift = source.copy()
    drift[:, 0] += 0.01   # tiny drift: fails fp32 (1e-3), fine for int8
    assert not parity(drift, source, source, fmt="onnx", precision="fp32").passed
    flips = source.copy()
    flips[:10] = flips[:10, ::-1]       # 10 flips out of 1000: 99.0% < 99.5%
    bad = parity(flips, source, source, fmt="onnx", precision="int8")
    assert not bad.passed and any("agreement" in f for f in bad.failures)
    with pytest.raises(ParityError, match="onnx/int8 fails parity on 1000 sentences"):
        assert_parity(bad)


def test_without_source_only_teacher_figures_are_given():
    teacher = np.array([[1.0, 0.0], [0.0, 1.0]])
    r = parity(np.array([[0.0, 1.0], [0.0, 1.0]]), None, teacher, gold=[0, 1])
    assert r.agreement_with_teacher == 0.5 and r.max_abs_logit_diff is None and r.passed and len(r.flips) == 1


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="shape"):
        parity(np.zeros((2, 2)), np.zeros((3, 2)), np.zeros((2, 2)))
