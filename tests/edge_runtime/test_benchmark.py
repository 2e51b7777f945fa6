import json

import numpy as np
import pytest

from edge_runtime import BenchConfig, TorchRunner, benchmark, compare, latency_stats, load
from edgecore import ConfigError
from export import to_onnx


def test_latency_stats_on_known_arrays():
    s = latency_stats(np.arange(1, 101, dtype=float))   # 1..100
    assert (s["min"], s["max"], s["mean"]) == (1.0, 100.0, 50.5)
    assert s["p50"] == pytest.approx(50.5) and s["p90"] == pytest.approx(90.1) and s["p99"] == pytest.approx(99.01)
    assert latency_stats([7.0])["p99"] == 7.0
    with pytest.raises(ConfigError):
        latency_stats([])


class Clock:
    """A runner whose cost is known: it records the order it was called in."""

    def __init__(self, name, log):
        self.name, self.log = name, log

    def __call__(self, feeds):
        self.log.append(self.name)
        return np.zeros((1, 2))


def test_compare_interleaves_and_counts_runs():
    log = []
    results = compare({"a": Clock("a", log), "b": Clock("b", log)}, {}, BenchConfig(warmup=2, runs=5))
    assert log[:4] == ["a", "a", "b", "b"]                       # warm-up, per runner
    assert log[4:] == ["a", "b", "b", "a", "a", "b", "b", "a", "a", "b"]   # rotating order
    assert results["a"].runs == results["b"].runs == 5 and len(results["a"].latencies_ms) == 5


def test_tiny_exported_model_benchmarks_and_its_json_has_the_keys(tiny_student, encoder, sentences, tmp_path):
    art = to_onnx(tiny_student, encoder.encode(sentences[:2]), tmp_path / "s.onnx")
    feeds = {k: v.numpy() for k, v in encoder.encode(sentences[:1]).items()}
    onnx_runner = load(art.path, threads=1)
    result = benchmark(onnx_runner, feeds, BenchConfig(warmup=2, runs=20))
    d = json.loads(json.dumps(result.to_dict()))
    assert set(d["latency_ms"]) == {"min", "mean", "p50", "p90", "p99", "max", "std"}
    assert d["latency_ms"]["min"] <= d["latency_ms"]["p50"] <= d["latency_ms"]["p99"] <= d["latency_ms"]["max"]
    assert d["runs"] == 20 and d["info"]["format"] == "onnx" and d["info"]["threads"] == 1 and d["peak_rss_mb"] > 0
    assert np.allclose(onnx_runner(feeds), TorchRunner(tiny_student)(feeds), atol=1e-5)


def test_bench_config_is_checked():
    with pytest.raises(ConfigError, match="runs >= 1"):
        BenchConfig(runs=0)
    with pytest.raises(ConfigError, match="cannot pin"):
        BenchConfig(cpus=(10_000,))
