"""Run exported models, benchmark them like the platform tools do, and check them against the teacher.

Reads only artifacts and bundles, never training code. Latency: `benchmark` (one runner) and
`bench_interleaved` (several, run by run in rotating order); agreement: `parity` / `assert_parity`.
"""
from edge_runtime.benchmark import BenchConfig, BenchResult, bench_interleaved, benchmark, fixed_length_feeds, latency_stats
from edge_runtime.bundle import Bundle
from edge_runtime.parity import ParityReport, assert_parity, parity
from edge_runtime.protocol import Runner, RunnerInfo
from edge_runtime.runners import OnnxRunner, TorchRunner, load, logits_for_texts

__all__ = ["BenchConfig", "BenchResult", "Bundle", "OnnxRunner", "ParityReport", "Runner", "RunnerInfo", "TorchRunner",
           "assert_parity", "bench_interleaved", "benchmark", "fixed_length_feeds", "latency_stats", "load", "logits_for_texts", "parity"]
