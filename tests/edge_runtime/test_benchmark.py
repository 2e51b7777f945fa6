import json
import os
import threading
import time
from dataclasses import asdict, replace

import numpy as np
import pytest

from edge_runtime import BenchConfig, BenchResult, Bundle, TorchRunner, bench_interleaved, benchmark, latency_stats
from edge_runtime.benchmark import Workload, bench_files, end_to_end, load_measured, ratio, sentence_feeds
from edge_runtime.device import PROFILES, pinned
from edge_runtime.schema import SchemaError, validate
from edgecore import ConfigError
from export import BundleConfig, QuantConfig, quantize_onnx, to_onnx, write_bundle


def test_latency_stats_on_known_arrays():
    s = latency_stats(np.arange(1, 101, dtype=float))   # 1..100
    assert (s["min"], s["max"], s["mean"]) == (1.0, 100.0, 50.5)
    assert s["p50"] == pytest.approx(50.5) and s["p90"] == pytest.approx(90.1) and s["p99"] == pytest.approx(99.01)
    assert s["std"] == pytest.approx(np.sqrt((100**2 - 1) / 12))
    assert latency_stats([7.0])["p99"] == 7.0
    skewed = latency_stats([1.0] * 98 + [50.0, 100.0])    # two slow runs move p99 and max, not p50
    assert skewed["p50"] == 1.0 and skewed["p90"] == 1.0 and skewed["p99"] == pytest.approx(50.5) and skewed["max"] == 100.0
    with pytest.raises(ConfigError):
        latency_stats([])


def _result(name, samples):
    return BenchResult(name, len(samples), latency_stats(samples), 1.0, 1.0, {}, latencies_ms=list(samples))


def test_ratios_on_known_arrays():
    base = _result("fp32", [2.0, 2.0, 4.0, 2.0, 2.0])
    fast = _result("int8", [1.0, 1.0, 1.0, 1.0, 1.0])          # round 3 was slow for fp32 only: paired ratio ignores it
    r = ratio(fast, base, "fp32")
    assert r["baseline"] == "fp32" and r["p50_ratio"] == 0.5 and r["mean_ratio"] == pytest.approx(1.0 / 2.4)
    assert r["paired_median_ratio"] == 0.5
    drift = _result("int8", [1.0, 1.0, 2.0, 1.0, 1.0])         # both slowed in round 3 (machine drift): ratio unchanged
    assert ratio(drift, base)["paired_median_ratio"] == 0.5


class Clock:
    """A runner whose cost is known: it records the order it was called in and what it was fed."""

    def __init__(self, name, log, seconds=0.0):
        self.name, self.log, self.seconds = name, log, seconds

    def __call__(self, feeds):
        self.log.append((self.name, feeds.get("input_ids", np.zeros((1, 0))).shape[1] if feeds else None))
        if self.seconds:
            time.sleep(self.seconds)
        return np.zeros((1, 2))


def test_compare_interleaves_and_counts_runs():
    log = []
    results = bench_interleaved({"a": Clock("a", log), "b": Clock("b", log)}, {}, BenchConfig(warmup=2, runs=5))
    names = [n for n, _ in log]
    assert names[:4] == ["a", "a", "b", "b"]                       # warm-up, per runner
    assert names[4:] == ["a", "b", "b", "a", "a", "b", "b", "a", "a", "b"]   # rotating order
    assert results["a"].runs == results["b"].runs == 5 and len(results["a"].latencies_ms) == 5
    assert results["a"].vs_baseline["baseline"] == "a" and results["a"].vs_baseline["p50_ratio"] == 1.0


def test_warm_calls_run_the_same_runner_untimed_right_before_each_timed_call():
    log = []
    results = bench_interleaved({"a": Clock("a", log), "b": Clock("b", log)}, {}, BenchConfig(warmup=0, runs=2, warm_calls=1))
    assert [n for n, _ in log] == ["a", "a", "b", "b", "b", "b", "a", "a"]   # each timed call follows its own untimed one
    assert results["a"].runs == results["b"].runs == 2
    with pytest.raises(ConfigError, match="warm_calls"):
        BenchConfig(warm_calls=-1)


def test_compare_measures_known_costs_and_their_ratio():
    log = []
    r = bench_interleaved({"slow": Clock("slow", log, 0.004), "fast": Clock("fast", log, 0.001)}, {}, BenchConfig(warmup=1, runs=15))
    assert r["slow"].latency_ms["min"] >= 4.0 and r["fast"].latency_ms["min"] >= 1.0
    assert r["slow"].first_run_ms >= 4.0 and r["slow"].warmup_mean_ms >= 4.0
    assert 0.15 < r["fast"].vs_baseline["p50_ratio"] < 0.5      # ~1/4 plus sleep overshoot; on a loaded machine, not exact
    assert r["fast"].throughput_per_s == pytest.approx(1e3 / r["fast"].latency_ms["mean"])


def test_time_budget_and_cap():
    log = []
    t0 = time.perf_counter()
    r = benchmark(Clock("a", log, 0.002), {}, BenchConfig(warmup=0, runs=1, min_seconds=0.05))
    assert time.perf_counter() - t0 >= 0.05 and r.runs > 5
    capped = benchmark(Clock("a", log, 0.002), {}, BenchConfig(warmup=0, runs=10_000, max_seconds=0.03))
    assert 1 <= capped.runs < 100
    with pytest.raises(ConfigError, match="min_seconds <= max_seconds"):
        BenchConfig(min_seconds=2, max_seconds=1)


def test_sentence_workload_cycles_real_lengths_in_order(encoder, sentences):
    encode = encoder.encode_np
    w = sentence_feeds(encode, sentences[:3])
    widths = [f["input_ids"].shape[1] for f in w.feeds]
    assert w.kind == "sentences" and len(w) == 3 and widths == [len(encoder.encode([s])["input_ids"][0]) for s in sentences[:3]]
    log = []
    r = benchmark(Clock("a", log), w, BenchConfig(warmup=2, runs=7))
    assert [n for _, n in log] == [widths[i % 3] for i in range(9)]           # warm-up continues the cycle
    timed = [widths[i % 3] for i in range(2, 9)]
    assert r.sample_tokens == timed
    assert r.workload == {"kind": "sentences", "items": 3, "batch": 1,     # token lengths of the calls that were timed
                          "tokens": {"min": min(timed), "mean": pytest.approx(np.mean(timed)), "max": max(timed)}}
    batched = sentence_feeds(encode, sentences[:4], batch=2)
    assert len(batched) == 2 and batched.feeds[0]["input_ids"].shape[0] == 2
    rb = benchmark(Clock("a", []), batched, BenchConfig(warmup=0, runs=4))
    assert rb.workload["batch"] == 2 and rb.throughput_per_s == pytest.approx(2e3 / rb.latency_ms["mean"])   # sentences, not calls


def test_end_to_end_times_the_tokenizer_inside(encoder, sentences, tiny_student):
    calls = []

    def encode(texts):
        calls.append(list(texts))
        time.sleep(0.002)       # a known tokenizer cost
        return encoder.encode_np(texts)

    w = end_to_end(encode, sentences[:5])
    calls.clear()
    r = benchmark(TorchRunner(tiny_student), w, BenchConfig(warmup=1, runs=6))
    assert [c[0] for c in calls] == [sentences[i % 5] for i in range(7)]
    assert r.tokenize_ms["min"] >= 2.0 and r.latency_ms["min"] > r.tokenize_ms["min"]
    assert r.workload["kind"] == "end-to-end" and len(r.sample_tokens) == 6
    with pytest.raises(ConfigError, match="end-to-end workload needs"):
        Workload("end-to-end")


def test_device_profiles_resolve_to_threads_and_cores():
    allowed = sorted(os.sched_getaffinity(0))
    little = BenchConfig(profile="little")
    assert little.threads == 1 and little.cpus == (allowed[-1],)
    big = BenchConfig(profile="big")
    assert big.threads == min(2, len(allowed)) and big.cpus == tuple(allowed)
    assert replace(big, runs=5).threads == big.threads             # re-validating a resolved config is fine
    assert BenchConfig.from_dict(json.loads(json.dumps(little.to_dict()))) == little
    assert set(PROFILES) == {"little", "big"} and all(p.description for p in PROFILES.values())
    with pytest.raises(ConfigError, match="choose one of little, big"):
        BenchConfig(profile="tiny")
    with pytest.raises(ConfigError, match="not both"):
        BenchConfig(profile="little", cpus=(allowed[0], allowed[-1]) if len(allowed) > 1 else (10_000,))
    if len(allowed) > 1:
        with pytest.raises(ConfigError, match="drop threads=3"):
            BenchConfig(profile="big", threads=3)


def test_pinning_moves_every_thread_and_restores_them():
    allowed = os.sched_getaffinity(0)
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, daemon=True)   # a pool thread that existed before pinning
    worker.start()
    try:
        target = (sorted(allowed)[-1],)
        with pinned(target):
            assert os.sched_getaffinity(worker.native_id) == set(target)
            assert os.sched_getaffinity(0) == set(target)
        assert os.sched_getaffinity(worker.native_id) == allowed and os.sched_getaffinity(0) == allowed
    finally:
        stop.set()
        worker.join()


def test_per_runner_feeds_must_cover_every_runner():
    log = []
    feeds = {"a": {"input_ids": np.zeros((1, 3), np.int64)}}
    with pytest.raises(ConfigError, match="not for b"):
        bench_interleaved({"a": Clock("a", log), "b": Clock("b", log)}, feeds, BenchConfig(warmup=0, runs=1))


def test_runner_threads_must_match_the_config(tiny_student):
    with pytest.raises(ConfigError, match="loaded with 2 thread"):
        bench_interleaved({"m": TorchRunner(tiny_student, threads=2)}, {}, BenchConfig(threads=1))


def test_tiny_exported_model_benchmarks_and_its_json_validates(tiny_student, encoder, sentences, tmp_path):
    art = to_onnx(tiny_student, encoder.encode(sentences[:2]), tmp_path / "s.onnx")
    feeds = encoder.encode_np(sentences[:1])
    onnx_runner = load_measured(art.path, threads=1)
    result = benchmark(onnx_runner, feeds, BenchConfig(warmup=2, runs=20))
    d = json.loads(json.dumps(result.to_dict()))
    validate(d, "bench-result")
    validate(json.loads(json.dumps(result.to_dict(with_samples=True))), "bench-result")
    assert set(d["latency_ms"]) == {"min", "mean", "p50", "p90", "p99", "max", "std"}
    assert d["latency_ms"]["min"] <= d["latency_ms"]["p50"] <= d["latency_ms"]["p99"] <= d["latency_ms"]["max"]
    assert d["runs"] == 20 and d["info"]["format"] == "onnx" and d["info"]["threads"] == 1 and d["peak_rss_mb"] > 0
    assert d["load_ms"] > 0 and "rss_load_delta_mb" in d["memory"] and "latencies_ms" not in d
    assert d["first_run_ms"] > 0 and d["warmup_mean_ms"] > 0
    assert np.allclose(onnx_runner(feeds), TorchRunner(tiny_student)(feeds), atol=1e-5)
    assert {"rss_warmup_delta_mb", "rss_after_mb"} <= set(d["memory"]) and d["vs_baseline"]["p50_ratio"] == 1.0
    phone = BenchResult("m on Pixel", 5, latency_stats([1.0, 2.0, 3.0, 4.0, 5.0]), 333.3, None, result.config)   # as adb builds one
    validate(json.loads(json.dumps(phone.to_dict())), "bench-result")
    broken = dict(d, runs=0, latency_ms={"p50": -1.0})
    with pytest.raises(SchemaError, match="runs") as e:
        validate(broken, "bench-result")
    assert "latency_ms" in str(e.value)


@pytest.fixture
def bundle(tiny_student, encoder, sentences, base_dir, tmp_path):
    fp32 = to_onnx(tiny_student, encoder.encode(sentences[:2]), tmp_path / "s.onnx")
    int8 = quantize_onnx(fp32, tmp_path / "s.int8.onnx", QuantConfig("int8"))
    return write_bundle(tmp_path / "bundle", [int8, fp32], base_dir, BundleConfig("tiny", ("negative", "positive"), asdict(encoder.settings)))


def test_bench_files_compares_bundle_and_file_with_floors(bundle, tmp_path):
    fp32_file = bundle / "tiny.fp32.onnx"
    run = bench_files([bundle, fp32_file], BenchConfig(warmup=2, runs=15, seq_len=24), floors=True)
    d = json.loads(json.dumps(run.to_dict()))
    validate(d, "bench-run")
    assert d["baseline"] == str(bundle) and d["ratios_p50_vs_baseline"][str(bundle)] == 1.0
    int8, fp32 = d["results"][str(bundle)], d["results"][str(fp32_file)]
    assert int8["info"]["precision"] == "int8" and fp32["info"]["precision"] == "fp32"
    assert int8["floor"]["macs"]["int8"] == fp32["floor"]["macs"]["fp32"] > 0 and int8["floor"]["macs"]["seq_len"] == 24
    assert int8["floor"]["x_floor"] > 1 and d["gemm"]["int8_gmacs"] > 0
    assert int8["workload"]["tokens"] == {"min": 24, "mean": 24.0, "max": 24}     # real tokens at exactly seq_len
    assert d["machine"]["cores_allowed"] and d["config"]["seq_len"] == 24
    from rich.console import Console

    from edge_runtime.report import bench_rich_table

    console = Console(record=True, width=220)
    console.print(bench_rich_table(d))
    text = console.export_text()
    assert "x floor" in text and "load ms" in text and f"vs {bundle.name}" in text and "1.00x" in text


def test_bench_files_sentence_and_end_to_end_modes(bundle, sentences):
    config = BenchConfig(warmup=1, runs=10, profile="little")
    for mode in ("sentences", "end-to-end"):
        run = bench_files([bundle], config, mode=mode, texts=sentences[:8])
        d = json.loads(json.dumps(run.to_dict(with_samples=True)))
        validate(d, "bench-run")
        r = d["results"][str(bundle)]
        assert r["workload"]["kind"] == mode and r["workload"]["items"] == 8 and d["device_profile"]["name"] == "little"
        assert r["config"]["cpus"] == [sorted(os.sched_getaffinity(0))[-1]]
        expected = [int(Bundle.open(bundle).encode([s])["attention_mask"].sum()) for s in sentences[:8]]   # natural lengths, no padding
        assert r["sample_tokens"] == [expected[i % 8] for i in range(1, 11)]                             # after 1 warm-up run
        assert (r["tokenize_ms"] is not None) == (mode == "end-to-end")
    with pytest.raises(ConfigError, match="give the bundle folder"):
        bench_files([bundle / "tiny.int8.onnx"], config, mode="sentences", texts=sentences[:4])
    with pytest.raises(ConfigError, match="pass texts"):
        bench_files([bundle], config, mode="end-to-end")
    with pytest.raises(ConfigError, match="floors need one input shape"):
        bench_files([bundle], config, mode="sentences", texts=sentences[:4], floors=True)


def test_bench_config_is_checked():
    with pytest.raises(ConfigError, match="runs >= 1"):
        BenchConfig(runs=0)
    with pytest.raises(ConfigError, match="cannot pin"):
        BenchConfig(cpus=(10_000,))
    with pytest.raises(ConfigError, match="unknown BenchConfig keys"):
        BenchConfig.from_dict({"runz": 3})
