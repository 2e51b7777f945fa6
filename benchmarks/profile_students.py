"""Where the students' time goes: every student kind at its real size, fp32 and int8 ONNX, at sequence 16 / 64 / 128.

For each file: onnxruntime's own profiler (SessionOptions.enable_profiling; 1 thread, batch 1) gives each op type's share
of the node time; p50 latency comes from one interleaved run per sequence length (edge_runtime.bench_interleaved, all
files and variants of that length in rotating order); the per-op-kind FLOP floor (edge_runtime.flops.floor) and x floor.
Variants are the cheap fixes tried: each file at graph optimization level basic and off besides the default (all), and the
Transformer with onnxruntime's BERT fusions (export.quantize.fuse_transformer) in fp32.

Weights are random (timing does not depend on their values); shapes are the real ones: BiLSTM / BiGRU hidden 256, embed 128,
vocabulary 12,801 rows behind the 30,522-id map; static embed 128 mean_max, head 256; CNN widths 2/3/4 x 128 filters, embed
128; a 3-layer Transformer of MiniLM width (384, 12 heads, FFN 1536, vocabulary 30,522).

    python benchmarks/profile_students.py [--runs 200] [--seq 16,64,128] [--quick]

Writes benchmarks/results/profile.{json,md} and prints the Markdown table.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
VOCAB, TOKENIZER_VOCAB = 12_801, 30_522
LEVELS = ("all", "basic", "off")


def build_students():
    """name -> (torch module, int8 QuantConfig kwargs). Random init, fixed seed."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from distill.students.cnn import CNNStudent, CNNStudentConfig
    from distill.students.rnn import RNNStudent, RNNStudentConfig
    from distill.students.static import StaticStudent, StaticStudentConfig

    torch.manual_seed(0)
    common = {"vocab_size": VOCAB, "tokenizer_vocab_size": TOKENIZER_VOCAB}
    students = {
        "bilstm": RNNStudent(RNNStudentConfig(cell="lstm", embed_dim=128, hidden=256, head_hidden=256, **common)),
        "bigru": RNNStudent(RNNStudentConfig(cell="gru", embed_dim=128, hidden=256, head_hidden=256, **common)),
        "static": StaticStudent(StaticStudentConfig(embed_dim=128, pooling="mean_max", head_hidden=256, **common)),
        "cnn": CNNStudent(CNNStudentConfig(embed_dim=128, widths=(2, 3, 4), filters=128, **common)),
    }
    for m in students.values():   # a real-looking id -> row map (a pruned vocabulary), not every id on row 0
        m.vocab_map.copy_(torch.arange(TOKENIZER_VOCAB, dtype=torch.int32) % VOCAB)
    bert = BertConfig(vocab_size=TOKENIZER_VOCAB, hidden_size=384, num_hidden_layers=3, num_attention_heads=12, intermediate_size=1536,
                      max_position_embeddings=512, num_labels=2)
    students["transformer-3L"] = BertForSequenceClassification(bert)
    quant = {k: {} for k in students} | {"transformer-3L": {"transformer": True}}
    return {k: m.eval() for k, m in students.items()}, quant


def export_all(work: Path) -> dict[str, dict]:
    """Every (student, variant) file: fp32, int8, and the Transformer's fused fp32."""
    import torch

    from export import QuantConfig, quantize_onnx, to_onnx
    from export.quantize import fuse_transformer

    students, quant = build_students()
    g = torch.Generator().manual_seed(1)
    sample = {"input_ids": torch.randint(1000, 20000, (1, 24), generator=g), "attention_mask": torch.ones(1, 24, dtype=torch.int64)}
    files = {}
    for name, model in students.items():
        fp32 = to_onnx(model, sample, work / f"{name}.fp32.onnx")
        int8 = quantize_onnx(fp32, work / f"{name}.int8.onnx", QuantConfig("int8", **quant[name]))
        files[name] = {"fp32": fp32.path, "int8": int8.path}
        if name.startswith("transformer"):
            fuse_transformer(fp32.path, str(work / f"{name}.fp32-fused.onnx"))
            files[name]["fp32-fused"] = str(work / f"{name}.fp32-fused.onnx")
            # the same BERT fusions without the offline SkipLayerNormalization (onnxruntime fuses Add + LayerNormalization
            # itself when the session loads), then the same per-channel dynamic int8
            no_skip = work / f"{name}.fused-no-skipln.onnx"
            _fuse_without_skip_layer_norm(fp32.path, no_skip)
            files[name]["int8-no-skipln"] = quantize_onnx(dataclasses.replace(fp32, path=str(no_skip)), work / f"{name}.int8-no-skipln.onnx",
                                                          QuantConfig("int8", per_channel=True)).path
    return files


def _fuse_without_skip_layer_norm(src: str, out: Path) -> None:
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_skip_layer_norm = False
    optimize_model(src, model_type="bert", num_heads=0, hidden_size=0, opt_level=1, optimization_options=options).save_model_to_file(str(out))


class Session:
    """One onnxruntime CPU session at 1 thread and a graph optimization level; callable on a feed dict."""

    def __init__(self, path: str, level: str = "all", profile_prefix: str | None = None) -> None:
        import onnxruntime as ort

        o = ort.SessionOptions()
        o.intra_op_num_threads, o.inter_op_num_threads = 1, 1
        o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        o.graph_optimization_level = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                      "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC, "off": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}[level]
        o.log_severity_level = 3
        if profile_prefix:
            o.enable_profiling = True
            o.profile_file_prefix = profile_prefix
        self.session = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]

    def __call__(self, feeds):
        return self.session.run(None, {n: feeds[n] for n in self.names})[0]


def profile(path: str, feeds: dict, level: str, runs: int, work: Path, warmup: int = 10) -> dict:
    """Per op type: share of the summed node time and µs per call, from onnxruntime's profiler over `runs` calls
    (the first `warmup` calls are in the trace too and are dropped by their time window)."""
    import bisect

    s = Session(path, level, str(work / "prof"))
    for _ in range(warmup + runs):
        s(feeds)
    trace = Path(s.session.end_profiling())
    events = json.loads(trace.read_text())
    trace.unlink()
    windows = sorted((e["ts"], e["ts"] + e["dur"]) for e in events if e.get("cat") == "Session" and e["name"] == "model_run")
    starts = [w[0] for w in windows]
    kept = windows[warmup:]
    by_op, nodes = defaultdict(float), defaultdict(int)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            i = bisect.bisect_right(starts, e["ts"]) - 1
            if i >= warmup and e["ts"] <= windows[i][1]:
                by_op[e["args"]["op_name"]] += e["dur"]
                nodes[e["args"]["op_name"]] += 1
    calls = max(len(kept), 1)
    total = sum(by_op.values())
    ops = {op: {"share": us / total, "us_per_call": us / calls, "nodes": nodes[op] // calls}
           for op, us in sorted(by_op.items(), key=lambda kv: -kv[1])}
    run_us = sum(w[1] - w[0] for w in kept) / calls
    return {"node_us_per_call": total / calls, "run_us_per_call": run_us, "ops": ops, "calls": calls}


def identity_model(work: Path) -> str:
    """input_ids -> Identity -> logits: the cost of one InferenceSession.run call from Python with no arithmetic."""
    import onnx
    from onnx import TensorProto, helper

    path = work / "identity.onnx"
    if not path.exists():
        graph = helper.make_graph([helper.make_node("Identity", ["input_ids"], ["logits"])], "identity",
                                  [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, None])],
                                  [helper.make_tensor_value_info("logits", TensorProto.INT64, [1, None])])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return str(path)


def feeds_for(seq: int) -> dict:
    import numpy as np

    rng = np.random.default_rng(seq)
    return {"input_ids": rng.integers(1000, 20000, (1, seq)).astype(np.int64), "attention_mask": np.ones((1, seq), np.int64)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=200, help="timed runs per variant in the interleaved run")
    p.add_argument("--profile-runs", type=int, default=100)
    p.add_argument("--seq", default="16,64,128")
    p.add_argument("--quick", action="store_true", help="30 timed runs, 20 profiled, seq 64 only")
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    if a.quick:
        a.runs, a.profile_runs, a.seq = 30, 20, "64"
    seqs = [int(x) for x in a.seq.split(",")]

    from edge_runtime import BenchConfig, bench_interleaved
    from edge_runtime.flops import FLOOR_RULE, count_macs, floor, measure_gemm_rates

    t0 = time.perf_counter()
    rates = measure_gemm_rates()
    rows = []
    with tempfile.TemporaryDirectory(prefix="profile-students-") as tmp:
        work = Path(tmp)
        files = export_all(work)
        variants = {}   # key -> (student, file precision, level, path)
        call_overheads = {}   # seq -> p50 of a one-Identity graph: what one session.run from Python costs with no work
        for name, by_prec in files.items():
            for prec, path in by_prec.items():
                for level in (LEVELS if prec in ("fp32", "int8") else ("all",)):
                    variants[f"{name} {prec} {level}"] = (name, prec, level, path)
        for seq in seqs:
            feeds = feeds_for(seq)
            runners = {k: Session(v[3], v[2]) for k, v in variants.items()} | {"identity": Session(identity_model(work))}
            bench = bench_interleaved(runners, feeds, BenchConfig(warmup=20, runs=a.runs, threads=1, seq_len=seq))
            call_overheads[seq] = bench["identity"].latency_ms["p50"]
            for key, (name, prec, level, path) in variants.items():
                macs = count_macs(path, seq)
                p50 = bench[key].latency_ms["p50"]
                fl = floor(macs, rates, p50, 1)
                prof = profile(path, feeds, level, a.profile_runs, work)
                rows.append({"student": name, "file": prec, "level": level, "seq_len": seq, "p50_ms": p50, "p90_ms": bench[key].latency_ms["p90"],
                             "floor_ms": fl["floor_ms"], "x_floor": fl["x_floor"], "floor_ms_gemm_rate_only": fl["floor_ms_gemm_rate_only"],
                             "floor_ms_by_kind": fl["floor_ms_by_kind"], "macs": macs.to_dict(), "profile": prof,
                             "size_bytes": os.path.getsize(path)})
                print(f"seq {seq:4d} {key:32s} p50 {p50:7.3f} ms  floor {fl['floor_ms']:.4f}  x{fl['x_floor']:.1f}  "
                      + ", ".join(f"{op} {v['share']:.0%}" for op, v in list(prof["ops"].items())[:3]), flush=True)
    result = {"rows": rows, "call_overhead_ms": call_overheads, "gemm": rates.to_dict(), "floor_rule": FLOOR_RULE, "runs": a.runs, "profile_runs": a.profile_runs,
              "seq_lens": seqs, "machine": {"cpu": rates.cpu, "python": platform.python_version(), "loadavg_end": os.getloadavg()},
              "weights": "random init (timing only)", "wall_seconds": round(time.perf_counter() - t0, 1)}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "profile.json").write_text(json.dumps(result, indent=1))
    md = markdown(result)
    (a.out / "profile.md").write_text(md)
    print(md)
    return 0


def _top(prof: dict, n: int = 3) -> str:
    return ", ".join(f"{op} {v['share']:.0%}" for op, v in list(prof["ops"].items())[:n])


def markdown(result: dict) -> str:
    g = result["gemm"]
    lines = ["# Where the students' time goes", "",
             f"onnxruntime {g['onnxruntime']}, batch 1, 1 thread, {result['runs']} timed runs per row, all rows of one sequence length "
             f"interleaved in one run; per-op shares from onnxruntime's profiler over {result['profile_runs']} calls. Random-init weights "
             f"at the real shapes. {g['cpu']}; load average at the end {', '.join(f'{x:.1f}' for x in result['machine']['loadavg_end'])} "
             "(a shared machine: read ratios within one sequence length).", "",
             f"Rates (single core): GEMM fp32 {g['fp32_gmacs']:.1f}, int8 {g['int8_gmacs']:.1f} GMAC/s; M=1 (GEMV) fp32 "
             f"{g['gemv_fp32_gmacs']:.1f}, int8 {g['gemv_int8_gmacs']:.1f} GMAC/s. {result['floor_rule']}.", "",
             "A one-Identity graph run the same way (the cost of a `session.run` call with no work) took p50 "
             + ", ".join(f"{v * 1e3:.0f} µs at seq {k}" for k, v in result["call_overhead_ms"].items()) + ". "
             "\"nodes\" is the profiler's summed kernel time as a share of its model_run time (the rest: the executor between kernels).", "",
             "| student | file | seq | p50 ms | floor ms | x floor | old floor (all GEMM rate) | MMACs | one-row MACs | nodes | top ops (share of node time) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if r["level"] != "all":
            continue
        m = r["macs"]
        one_row = (m["gemv_fp32"] + m["gemv_int8"]) / max(m["total"], 1)
        lines.append(f"| {r['student']} | {r['file']} | {r['seq_len']} | {r['p50_ms']:.3f} | {r['floor_ms']:.3f} | {r['x_floor']:.1f}x | "
                     f"{r['floor_ms_gemm_rate_only']:.3f} | {m['total'] / 1e6:.1f} | {one_row:.0%} | "
                     f"{r['profile']['node_us_per_call'] / max(r['profile']['run_us_per_call'], 1e-9):.0%} | {_top(r['profile'])} |")
    lines += ["", "Graph optimization level (p50 ms at all / basic / off, same interleaved run):", "",
              "| student | file | seq | all | basic | off |", "|---|---|---|---|---|---|"]
    by = {(r["student"], r["file"], r["seq_len"], r["level"]): r["p50_ms"] for r in result["rows"]}
    for (s, f, seq, level), v in by.items():
        if level == "all" and (s, f, seq, "basic") in by:
            lines.append(f"| {s} | {f} | {seq} | {v:.3f} | {by[(s, f, seq, 'basic')]:.3f} | {by[(s, f, seq, 'off')]:.3f} |")
    lines += ["", f"Wall time {result['wall_seconds']:.0f} s. Command: `make bench-profile` (`python benchmarks/profile_students.py`).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
