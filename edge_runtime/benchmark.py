"""Latency the way the platform tools measure it (TFLite benchmark_model, onnxruntime_perf_test):
load time, warm-up runs, then timed runs (or a time budget), at a fixed thread count.

`compare()` interleaves several runners run by run, so drift of a shared machine (another process,
thermal state) hits all of them alike and their ratios stay meaningful.
"""
from __future__ import annotations

import os
import resource
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from edgecore import ConfigError


@dataclass(frozen=True)
class BenchConfig:
    warmup: int = 10
    runs: int = 100
    min_seconds: float = 0.0       # keep running past `runs` until this much time has passed (a time budget)
    threads: int = 1
    batch: int = 1
    seq_len: int = 64
    cpus: tuple[int, ...] | None = None   # pin the process to these cores while measuring

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.runs < 1 or self.threads < 1 or self.batch < 1 or self.seq_len < 2:
            raise ConfigError(f"need warmup >= 0, runs >= 1, threads >= 1, batch >= 1, seq_len >= 2 (got {self.warmup}, {self.runs}, {self.threads}, {self.batch}, {self.seq_len})")
        if self.cpus is not None and not set(self.cpus) <= set(os.sched_getaffinity(0)):
            raise ConfigError(f"cannot pin to cores {list(self.cpus)}; this machine allows {sorted(os.sched_getaffinity(0))}")


@dataclass
class BenchResult:
    name: str
    runs: int
    latency_ms: dict[str, float]      # min mean p50 p90 p99 max std
    throughput_per_s: float           # sentences per second at the configured batch
    peak_rss_mb: float
    config: dict
    info: dict = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    def to_dict(self, with_samples: bool = False) -> dict:
        d = asdict(self)
        if not with_samples:
            d.pop("latencies_ms")
        return d


def latency_stats(samples_ms) -> dict[str, float]:
    """min / mean / p50 / p90 / p99 / max / std of a latency array, in its unit. Percentiles interpolate linearly."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        raise ConfigError("no latency samples to summarise")
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"min": float(a.min()), "mean": float(a.mean()), "p50": float(p50), "p90": float(p90), "p99": float(p99),
            "max": float(a.max()), "std": float(a.std())}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def benchmark(runner: Callable, feeds: dict[str, np.ndarray], config: BenchConfig = BenchConfig(), name: str = "") -> BenchResult:
    """Time one runner on fixed feeds.

    >>> benchmark(load("model.onnx"), feeds, BenchConfig(runs=200)).latency_ms["p50"]  # doctest: +SKIP
    0.84
    """
    return compare({name or "model": runner}, feeds, config)[name or "model"]


def compare(runners: dict[str, Callable], feeds: dict[str, np.ndarray] | dict[str, dict[str, np.ndarray]],
            config: BenchConfig = BenchConfig()) -> dict[str, BenchResult]:
    """Time several runners interleaved: each timed round runs every runner once, in rotating order.

    `feeds` is either one feed dict for all, or {runner name: feed dict}.
    """
    per_runner = {n: (feeds[n] if n in feeds and isinstance(feeds[n], dict) else feeds) for n in runners}
    previous = os.sched_getaffinity(0)
    if config.cpus:
        os.sched_setaffinity(0, set(config.cpus))
    try:
        for name, run in runners.items():
            for _ in range(config.warmup):
                run(per_runner[name])
        samples: dict[str, list[float]] = {n: [] for n in runners}
        names = list(runners)
        start, i = time.perf_counter(), 0
        while i < config.runs or time.perf_counter() - start < config.min_seconds:
            for name in names[i % len(names):] + names[: i % len(names)]:
                feed, run = per_runner[name], runners[name]
                t0 = time.perf_counter_ns()
                run(feed)
                samples[name].append((time.perf_counter_ns() - t0) / 1e6)
            i += 1
    finally:
        if config.cpus:
            os.sched_setaffinity(0, previous)
    out = {}
    for name, run in runners.items():
        stats = latency_stats(samples[name])
        info = asdict(run.info) if hasattr(run, "info") else {}
        out[name] = BenchResult(name, len(samples[name]), stats, config.batch * 1e3 / stats["mean"], peak_rss_mb(),
                                asdict(config), info, samples[name])
    return out


def fixed_length_feeds(encode: Callable[[list[str]], dict[str, np.ndarray]], texts: list[str], seq_len: int, batch: int = 1) -> dict[str, np.ndarray]:
    """A (batch, seq_len) feed of real tokens: real sentences joined until seq_len tokens, no padding."""
    joined, feeds = " ".join(texts), None
    while True:
        feeds = encode([joined] * batch)
        if feeds["input_ids"].shape[1] >= seq_len or len(joined) > 100_000:
            break
        joined = joined + " " + joined
    return {k: np.ascontiguousarray(v[:, :seq_len]) for k, v in feeds.items()}
