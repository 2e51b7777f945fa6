"""benchmarks/peers/fast_timing.py (the end-to-end latency loop the fast peers and our static student share) and the row
and Markdown helpers of benchmarks/peers/fast_peers.py: pure Python, no peer venv needed."""
import json
import time

import numpy as np
import pytest
from benchmark_scripts import load_script

from edgecore import ConfigError


def load(name: str):
    return load_script(f"peers/{name}.py")


timing = load("fast_timing")


def test_percentile_matches_numpy():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100):
        xs = rng.exponential(size=n).tolist()
        for q in (0, 50, 90, 99, 100):
            assert timing.percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)))


def test_interleaved_rounds_time_every_predictor_on_the_same_sentence_in_rotating_order():
    calls = []

    def make(name, delay):
        def predict_one(text):
            calls.append((name, text))
            time.sleep(delay)
            return len(text)
        return predict_one

    texts = ["a", "bb", "ccc"]
    res = timing.time_text_classifiers({"fast": make("fast", 0.0), "slow": make("slow", 0.003)}, texts, runs=8, warmup=2)
    timed = calls[4:]                                      # 2 warm-up rounds x 2 predictors come first
    assert len(timed) == 16
    for r in range(8):                                     # round r: both on texts[r % 3], first one alternates
        pair = timed[2 * r:2 * r + 2]
        assert {t for _, t in pair} == {texts[r % 3]}
        assert pair[0][0] == ("fast" if r % 2 == 0 else "slow")
    assert res["slow"]["runs"] == res["fast"]["runs"] == 8
    assert res["slow"]["p50_ms"] >= 2.5 > res["fast"]["p50_ms"]
    assert res["slow"]["paired_ratio_vs_first"] > 1 and res["fast"]["paired_ratio_vs_first"] == 1.0
    assert res["fast"]["p50_ms"] <= res["fast"]["p90_ms"] <= res["fast"]["p99_ms"]


def test_single_classifier_helper_returns_the_summary_only():
    res = timing.time_text_classifier(lambda t: t.upper(), ["good film", "bad film"], runs=5, warmup=0)
    assert set(res) == {"runs", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms", "sentences"}
    assert res["runs"] == 5 and res["sentences"] == 2


@pytest.mark.parametrize("kwargs, words", [
    (dict(predictors={}, texts=["x"]), "at least one predictor"),
    (dict(predictors={"m": len}, texts=["", None]), "non-empty sentence"),
    (dict(predictors={"m": len}, texts=["x"], runs=0), "runs must be >= 1"),
    (dict(predictors={"m": "not a function"}, texts=["x"]), "is not callable"),
])
def test_bad_input_says_what_is_wrong(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        timing.time_text_classifiers(**kwargs)


def test_rows_carry_the_agreed_keys_and_markdown_renders_them(tmp_path):
    fp = load("fast_peers")
    gold, teacher = [0, 1, 1, 0], [0, 1, 0, 0]
    row = fp.make_row("peer", "tool", "1.0", [0, 1, 1, 1], gold, teacher, {"p50_ms": 0.1, "p90_ms": 0.2}, 2_500_000, 3.0, dev_accuracy=0.5)
    assert set(fp.ROW_KEYS) <= set(row)
    assert row["accuracy"] == 0.75 and row["agreement"] == 0.5 and row["size_mb"] == 2.5 and row["p50_ms_model"] is None
    no_time = fp.make_row("untimed", "tool", "1.0", [0, 1, 1, 0], gold, teacher, None, 1_000_000, None)
    assert no_time["p50_ms_e2e"] is None and no_time["train_s"] is None
    with pytest.raises(ValueError):
        fp.make_row("short", "tool", "1.0", [0, 1], gold, teacher, None, 1, None)   # predictions must cover every test sentence
    payload = {"setup": {"quick": True, "train": 10, "dev": 2, "test": 4, "e2e_runs": 4, "model_runs": 4, "machine": "x86_64", "cpus": 2,
                         "teacher": {"accuracy": 0.75}}, "rows": [row, no_time], "model_only": {}, "notes": ["a note"], "wall_seconds": 1.0}
    md = fp.markdown(json.loads(json.dumps(payload)))
    assert "| peer | tool 1.0 | 2.50 | 3.0 | 0.100 | 0.200 |  | 75.00% | 50.00% | 50.00% |" in md
    assert "| untimed | tool 1.0 | 1.00 |  |  |  |  | 100.00% | 75.00% |  |" in md
    assert "- a note" in md and "quick smoke run" in md
