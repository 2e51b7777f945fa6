"""benchmarks/int8_students.py: a recipe string becomes the export options the CLI takes (a bad one is refused before any
work), and the score counts flips against fp32 with each flipped sentence's fp32 margin."""
import numpy as np
import pytest
from benchmark_scripts import load_script


def test_recipes_parse_to_export_options_and_bad_ones_are_refused():
    s = load_script("int8_students.py")
    assert s.parse_recipe("default") == {}
    assert s.parse_recipe("nbits=off;smooth=0.5") == {"nbits": ("off",), "smooth": "0.5"}
    assert s.parse_recipe("keep-fp32=layer.0/output, layer.1/output") == {"keep_fp32": ("layer.0/output", "layer.1/output")}
    for bad in ("alpha=0.5", "nbits", "smooth="):
        with pytest.raises(SystemExit, match="KEY=VALUE"):
            s.parse_recipe(bad)


def test_score_counts_flips_against_fp32_with_their_margins():
    s = load_script("int8_students.py")
    ref = np.array([[1.0, 0.0], [0.0, 0.01], [2.0, -1.0], [0.0, 3.0]], dtype=np.float32)
    int8 = np.array([[0.9, 0.0], [0.02, 0.01], [2.0, -1.0], [0.0, 3.1]], dtype=np.float32)   # row 1 flips: margin 0.01
    out = s.score(int8, ref, gold=[0, 1, 0, 0])
    assert out["flips"] == 1 and out["agreement"] == 0.75
    assert out["flipped"] == [{"index": 1, "fp32_margin": 0.01, "abs_logit_diff": 0.02}]
    assert out["fp32_accuracy"] == 0.75 and out["accuracy"] == 0.5
    assert out["max_abs_logit_diff"] == pytest.approx(0.1, abs=1e-6)
    assert out["within_max_diff"] == 1   # only row 1 sits within 2 x 0.1 of the decision


def test_bad_arguments_exit_before_any_export(tmp_path, capsys):
    s = load_script("int8_students.py")
    with pytest.raises(SystemExit):
        s.main(["--students", str(tmp_path / "missing")])
    assert "is not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        s.main(["--students", str(tmp_path), "--lengths", "4,64"])
    assert "--lengths [4, 64]" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        s.main(["--students", str(tmp_path), "--recipes", "default", "alpha=0.5"])
    assert not any(tmp_path.iterdir())   # nothing written
