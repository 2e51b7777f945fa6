"""Run exported models, benchmark them like the platform tools do, and check them against the teacher.

Reads only artifacts and bundles, never training code.
"""
from edge_runtime.benchmark import BenchConfig, BenchResult, benchmark, compare, fixed_length_feeds, latency_stats
from edge_runtime.bundle import Bundle
from edge_runtime.parity import ParityReport, assert_parity, parity
from edge_runtime.runners import OnnxRunner, Runner, RunnerInfo, TorchRunner, load, logits_for_texts

__all__ = ["BenchConfig", "BenchResult", "Bundle", "OnnxRunner", "ParityReport", "Runner", "RunnerInfo", "TorchRunner",
           "assert_parity", "benchmark", "compare", "fixed_length_feeds", "latency_stats", "load", "logits_for_texts", "parity"]
