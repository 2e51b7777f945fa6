"""Bench overhead: is the harness's p50 within 5% of a bare `session.run` loop, measured in the same process?

Both sides time the same onnxruntime session on the same feed with `time.perf_counter_ns` around each
call, pinned to one core. They alternate in short blocks (harness, bare, harness, bare, ...) so load
from other processes on a shared machine falls on both alike. The harness side is
`edge_runtime.benchmark.bench_interleaved` over `edge_runtime.load(...)`, i.e. everything a user's figure goes
through (the runner's input filtering, the interleaving loop, the bookkeeping).

    .venv/bin/python benchmarks/bench_overhead.py                      # demo-size BiLSTM fp32 + int8, and a tiny model
    .venv/bin/python benchmarks/bench_overhead.py --model runs/demo/artifacts/bilstm-distilled.int8.onnx

Writes benchmarks/results/bench_overhead.json and bench_overhead.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_runtime import BenchConfig, bench_interleaved, load  # noqa: E402
from edge_runtime.device import machine_info, pinned  # noqa: E402

LIMIT = 0.05


def bootstrap_ratio_ci(a: np.ndarray, b: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% interval of p50(a) / p50(b) by resampling each side."""
    rng = np.random.default_rng(seed)
    ratios = [np.median(rng.choice(a, a.size)) / np.median(rng.choice(b, b.size)) for _ in range(n)]
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


def measure(path: Path, feeds: dict[str, np.ndarray], blocks: int, per_block: int, warmup: int) -> dict:
    runner = load(path, threads=1)
    session = runner.session
    names = [i.name for i in session.get_inputs()]
    bare_feed = {n: feeds[n] for n in names}
    config = BenchConfig(warmup=0, runs=per_block, threads=1)
    harness, bare, block_ratios = [], [], []
    perf_ns = time.perf_counter_ns
    core = (sorted(os.sched_getaffinity(0))[-1],)
    with pinned(core):
        for _ in range(warmup):
            session.run(["logits"], bare_feed)
        for block in range(blocks):
            h_block, b_block = [], []
            for side in ((0, 1) if block % 2 == 0 else (1, 0)):   # alternate which side goes first
                if side == 0:
                    h_block = bench_interleaved({"harness": runner}, feeds, config)["harness"].latencies_ms
                else:
                    for _ in range(per_block):
                        t0 = perf_ns()
                        session.run(["logits"], bare_feed)
                        b_block.append((perf_ns() - t0) / 1e6)
            harness += h_block
            bare += b_block
            block_ratios.append(float(np.median(h_block) / np.median(b_block)))
    h, b = np.asarray(harness), np.asarray(bare)
    ratio = float(np.median(h) / np.median(b))
    lo, hi = bootstrap_ratio_ci(h, b)
    return {"model": str(path), "runs_each": int(h.size), "blocks": blocks, "per_block": per_block,
            "harness_p50_ms": float(np.median(h)), "bare_p50_ms": float(np.median(b)),
            "harness_mean_ms": float(h.mean()), "bare_mean_ms": float(b.mean()),
            "harness_p90_ms": float(np.percentile(h, 90)), "bare_p90_ms": float(np.percentile(b, 90)),
            "p50_ratio": ratio, "p50_ratio_ci95": [lo, hi], "median_block_ratio": float(np.median(block_ratios)),
            "added_us_p50": (float(np.median(h)) - float(np.median(b))) * 1e3,
            "within_limit": abs(ratio - 1) <= LIMIT, "pinned_core": core[0]}


def demo_sized_student(out: Path) -> dict[str, Path]:
    """The demo's student shape (BiLSTM, E=384, H=256, head 256, full WordPiece vocab), random weights: latency needs no training."""
    import torch

    from distill import RNNStudent, RNNStudentConfig
    from export import QuantConfig, quantize_onnx, to_onnx

    torch.manual_seed(0)
    ids = torch.randint(1000, 2000, (2, 64))
    sample = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    paths = {}
    for name, cfg in (("bilstm-demo-size", RNNStudentConfig(vocab_size=30522, embed_dim=384, hidden=256, head_hidden=256)),
                      ("bilstm-tiny", RNNStudentConfig(vocab_size=30522, embed_dim=16, hidden=8, head_hidden=8))):
        fp32 = to_onnx(RNNStudent(cfg).eval(), sample, out / f"{name}.fp32.onnx", force=True)
        paths[f"{name} fp32"] = fp32.path
        if name == "bilstm-demo-size":
            paths[f"{name} int8"] = quantize_onnx(fp32, out / f"{name}.int8.onnx", QuantConfig("int8"), force=True).path
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, action="append", help="ONNX file(s) to measure (default: build demo-size and tiny BiLSTMs)")
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=40)
    parser.add_argument("--per-block", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    feeds = {"input_ids": rng.integers(1000, 2000, (1, args.seq_len), dtype=np.int64),
             "attention_mask": np.ones((1, args.seq_len), np.int64), "token_type_ids": np.zeros((1, args.seq_len), np.int64)}
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        models = {str(p): p for p in args.model} if args.model else demo_sized_student(Path(tmp))
        t0 = time.perf_counter()
        results = {}
        for label, path in models.items():
            results[label] = measure(Path(path), feeds, args.blocks, args.per_block, args.warmup)
            r = results[label]
            print(f"{label}: harness p50 {r['harness_p50_ms']:.4f} ms, bare p50 {r['bare_p50_ms']:.4f} ms, ratio {r['p50_ratio']:.4f} "
                  f"(95% CI {r['p50_ratio_ci95'][0]:.3f}-{r['p50_ratio_ci95'][1]:.3f}), +{r['added_us_p50']:.1f} us, "
                  f"{'OK' if r['within_limit'] else 'OVER 5%'}", flush=True)
    doc = {"what": "harness p50 vs bare session.run p50, same process, same session, same feed, alternating blocks, one pinned core",
           "limit": LIMIT, "command": " ".join(shlex.quote(a) for a in [".venv/bin/python", "benchmarks/bench_overhead.py", *sys.argv[1:]]),
           "seq_len": args.seq_len, "seconds": round(time.perf_counter() - t0, 1), "machine": machine_info(),
           "python": platform.python_version(), "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_overhead.json").write_text(json.dumps(doc, indent=2) + "\n")
    lines = ["# Bench overhead: harness vs bare `session.run`", "",
             f"{doc['what']}; batch 1, seq {args.seq_len}; {args.blocks} blocks x {args.per_block} runs per side. "
             f"Limit: |harness p50 / bare p50 - 1| <= {LIMIT:.0%}.", "",
             f"Machine: {doc['machine']['cpu']}, cores allowed {doc['machine']['cores_allowed']}, 1-min load average "
             f"{doc['machine']['load_avg_1min']:.1f} at the end (a shared machine), onnxruntime {doc['machine']['versions'].get('onnxruntime')}.", "",
             "| model | harness p50 ms | bare p50 ms | ratio | 95% CI | median block ratio | added µs | within 5% |", "|---|---|---|---|---|---|---|---|"]
    for label, r in results.items():
        lines.append(f"| {label} | {r['harness_p50_ms']:.4f} | {r['bare_p50_ms']:.4f} | {r['p50_ratio']:.4f} | "
                     f"{r['p50_ratio_ci95'][0]:.3f}-{r['p50_ratio_ci95'][1]:.3f} | {r['median_block_ratio']:.4f} | "
                     f"{r['added_us_p50']:+.1f} | {'yes' if r['within_limit'] else 'NO'} |")
    lines += ["", f"Command: `{doc['command']}` ({doc['seconds']:.0f} s)."]
    (args.out / "bench_overhead.md").write_text("\n".join(lines) + "\n")
    return 0 if all(r["within_limit"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
