"""ONNX precisions for the teacher and the distilled BiLSTM: size, ONNX Runtime latency (batch 1,
1 thread, seq 64 and the test data's median length, all files interleaved in one run), agreement with the
PyTorch fp32 original on the test sentences, accuracy change, and the size of the BiLSTM int8 phone bundle.
The teacher's Transformer int8 default (export/quantize.py TRANSFORMER_INT8) sits beside the old default and
optimum-onnx's int8 files of the same teacher (built with optimum-cli in the peers venv, `make peers-env`).

    python benchmarks/onnx_table.py [--student runs/demo/students/bilstm-distilled] [--no-peers] [--quick]

Without the demo's BiLSTM (`make demo` writes it) its rows are left out and the table says so.

Writes benchmarks/results/onnx_table.{json,md} and prints the Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("EDGEDISTILL_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
# (label, precision for the tolerance table, QuantConfig kwargs); fp32 is the export itself
VARIANTS = (("fp16", "fp16", {}), ("int8 per-tensor", "int8", {"per_channel": False}), ("int8 per-channel", "int8", {"per_channel": True}),
            ("old default: int8 per-channel, SmoothQuant auto, blocks 1-3 FFN MatMulNBits 8-bit (attention unfused)", "int8",
             {"per_channel": True, "smooth": "auto", "nbits": "TEACHER_NBITS", "embedding": "per-tensor", "source": "sdpa"}),
            ("default: TRANSFORMER_INT8", "int8", {"preset": "TRANSFORMER_INT8"}),
            ("int8-static", "int8-static", {}))
TRANSFORMER_ONLY = ("keep_fp32", "smooth", "nbits", "preset", "source")   # a BiLSTM has no feed-forward blocks, and its LSTM weights are not plain MatMuls
TARGETS = {"int8": "agreement >= 99.5%, accuracy change <= 0.3 points", "fp16": "agreement >= 99.9%",
           "teacher int8 default (issue #24)": ">= 99.7% agreement, accuracy change <= 0.2 points, >= 2.0x fp32, at least as fast as optimum int8"}
PEERS_VENV = ROOT / ".venv-peers"
# `edgedistill export` / the demo default: per-channel for the teacher, per-tensor for the BiLSTM (QuantConfig.per_channel=None)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--student", type=Path, default=ROOT / "runs" / "demo" / "students" / "bilstm-distilled")
    p.add_argument("--quick", action="store_true", help="500 test sentences, 30 timed runs")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--no-peers", action="store_true", help="leave out optimum-onnx's int8 files")
    p.add_argument("--peers-venv", type=Path, default=PEERS_VENV)
    a = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from distill import TeacherConfig, finetune_teacher, load_dataset, load_student
    from distill.text import Encoder
    from distill.trainer import predict
    from edge_runtime import BenchConfig, bench_interleaved, fixed_length_feeds, load, logits_for_texts, parity
    from edgecore import CheckpointError
    from export import BundleConfig, OnnxConfig, QuantConfig, quantize_onnx, to_onnx, write_bundle
    from export.quantize import TEACHER_NBITS, TEACHER_SENSITIVE, TRANSFORMER_INT8

    notes = []
    has_student = (a.student / "student.json").is_file()
    if not has_student:
        notes.append(f"no BiLSTM student at {a.student.relative_to(ROOT) if a.student.is_relative_to(ROOT) else a.student} "
                     "(`make demo` writes it): its rows are left out of this run")
    peers_cli = a.peers_venv / "bin" / "optimum-cli"
    if not a.no_peers and not peers_cli.is_file():
        raise CheckpointError(f"no optimum-cli in {a.peers_venv}; run `make peers-env` first or pass --no-peers")
    t_start = time.perf_counter()
    ds = load_dataset("movie-snippets")
    teacher = finetune_teacher(ds, TeacherConfig())
    models = [("teacher", teacher.model, teacher.encoder, True)]
    if has_student:
        student, meta = load_student(a.student)
        s_enc = Encoder(a.student, meta.get("max_len", 64))
        models.append(("bilstm-distilled", student, s_enc, False))
    n = 500 if a.quick else len(ds.test)
    texts, gold = ds.test.texts[:n], ds.test.labels[:n]
    runs = 30 if a.quick else a.runs
    rows, runners, feeds, median_feeds, bundle_bytes = [], {}, {}, {}, None
    lens = sorted(teacher.encoder.encode([t])["input_ids"].shape[1] for t in texts)
    median = lens[len(lens) // 2]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, model, enc, transformer in models:
            source = predict(model, enc.ids(texts), enc.pad)
            encode = lambda t, enc=enc: {k: v.numpy() for k, v in enc.encode(t).items()}
            calibration = [encode([t]) for t in ds.train.texts[:200]]   # each model's own inputs (a BiLSTM takes no token_type_ids)
            validate = [enc.encode(ds.dev.texts[i:i + 16]) for i in range(0, 64, 16)]
            t0 = time.perf_counter()
            fp32 = to_onnx(model, enc.encode(ds.dev.texts[:2]), tmp / f"{name}.fp32.onnx", OnnxConfig(), validate_with=validate)
            arts = {"fp32": (fp32, "fp32", time.perf_counter() - t0)}
            if transformer:   # the fp32 graph the old default quantized: sdpa attention, which onnxruntime does not fuse
                sdpa = to_onnx(model, enc.encode(ds.dev.texts[:2]), tmp / f"{name}.sdpa.fp32.onnx", OnnxConfig(eager_attention=False))
            for label, prec, extra in VARIANTS:
                if not transformer and any(k in extra for k in TRANSFORMER_ONLY):
                    continue
                src = sdpa if extra.get("source") == "sdpa" else fp32
                extra = {k: v for k, v in extra.items() if k != "source"}
                if extra.get("preset") == "TRANSFORMER_INT8":
                    extra = dict(TRANSFORMER_INT8)
                    label = "default: " + describe(extra)
                if extra.get("keep_fp32") == "TEACHER_SENSITIVE":
                    extra = {**extra, "keep_fp32": TEACHER_SENSITIVE}
                if extra.get("nbits") == "TEACHER_NBITS":
                    extra = {**extra, "nbits": TEACHER_NBITS}
                t0 = time.perf_counter()
                art = quantize_onnx(src, tmp / f"{name}.{len(arts)}.onnx", QuantConfig(prec, transformer=transformer, **extra),
                                    calibration=calibration)
                arts[label] = (art, prec, time.perf_counter() - t0)
            bench_feed = fixed_length_feeds(encode, ds.test.texts[:40], 64)
            median_feed = fixed_length_feeds(encode, ds.test.texts[:40], median)
            if transformer and not a.no_peers:
                arts.update(optimum_int8(peers_cli, teacher.path, tmp))
            for label, (art, prec, seconds) in arts.items():
                runner = load(art.path, threads=1)
                rep = parity(logits_for_texts(runner, encode, texts), source, source, gold=gold, fmt="onnx", precision=prec)
                key = f"{name}/{label}"
                runners[key], feeds[key], median_feeds[key] = runner, bench_feed, median_feed
                rows.append({"model": name, "precision": label, "size_bytes": art.size_bytes, "export_seconds": round(seconds, 2),
                             "agreement": rep.agreement_with_source, "accuracy": rep.accuracy, "source_accuracy": rep.source_accuracy,
                             "accuracy_change": rep.accuracy - rep.source_accuracy, "max_abs_logit_diff": rep.max_abs_logit_diff,
                             "mean_abs_logit_diff": rep.mean_abs_logit_diff,
                             "flips": len(rep.flips), "passed": rep.passed, "failures": rep.failures,
                             "op_counts": {k: v for k, v in art.validation.get("op_counts", {}).items()
                                           if "Quant" in k or "Integer" in k or "NBits" in k or k in ("LSTM", "GRU", "Attention", "MatMul")}})
            if name == "bilstm-distilled":
                bundle = write_bundle(tmp / "bundle", [arts["int8 per-tensor"][0]], a.student,
                                      BundleConfig(name, tuple(meta["labels"]), asdict(s_enc.settings)))
                bundle_bytes = sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file())
        bench = bench_interleaved(runners, feeds, BenchConfig(warmup=10, runs=runs, threads=1, seq_len=64), baseline="teacher/fp32")
        bench_median = bench_interleaved(runners, median_feeds, BenchConfig(warmup=10, runs=runs, threads=1, seq_len=median), baseline="teacher/fp32")
    for row in rows:
        key = f"{row['model']}/{row['precision']}"
        lat = bench[key].latency_ms
        row["latency_ms"] = {k: round(lat[k], 4) for k in ("p50", "p90", "p99", "mean")}
        row["latency_ms_median_len"] = {k: round(bench_median[key].latency_ms[k], 4) for k in ("p50", "p90", "p99", "mean")}
        row["paired_vs_teacher_fp32"] = bench[key].vs_baseline.get("paired_median_ratio")
        row["paired_vs_teacher_fp32_median_len"] = bench_median[key].vs_baseline.get("paired_median_ratio")
    for row in rows:
        base = next(r for r in rows if r["model"] == row["model"] and r["precision"] == "fp32")
        row["speedup_vs_fp32"] = base["latency_ms"]["p50"] / row["latency_ms"]["p50"]
        row["speedup_vs_fp32_median_len"] = base["latency_ms_median_len"]["p50"] / row["latency_ms_median_len"]["p50"]
        row["size_vs_fp32"] = row["size_bytes"] / base["size_bytes"]
        row["speedup_vs_teacher_fp32"] = rows[0]["latency_ms"]["p50"] / row["latency_ms"]["p50"]
    payload = {"rows": rows, "bilstm_int8_bundle_bytes": bundle_bytes, "sentences": n, "data": "movie-snippets test split",
               "bench": {"batch": 1, "threads": 1, "seq_len": 64, "median_seq_len": median, "runs": runs, "interleaved": True},
               "notes": notes, "load_average": os.getloadavg(),
               "targets": TARGETS, "wall_seconds": round(time.perf_counter() - t_start, 1)}
    a.out.mkdir(parents=True, exist_ok=True)
    stem = "onnx_table_quick" if a.quick else "onnx_table"
    (a.out / f"{stem}.json").write_text(json.dumps(payload, indent=2))
    md = markdown(payload)
    (a.out / f"{stem}.md").write_text(md)
    print(md)
    return 0


def describe(cfg: dict) -> str:
    """A QuantConfig preset in words, for the table."""
    parts = ["int8 per-channel" if cfg.get("per_channel", True) else "int8 per-tensor", "fused attention"]
    if cfg.get("smooth"):
        parts.append(f"SmoothQuant {cfg['smooth']}")
    if cfg.get("per_token"):
        parts.append("per-token activations" + ("" if cfg["per_token"] is True else f" ({len(cfg['per_token'])} MatMul patterns)"))
    if cfg.get("nbits"):
        parts.append(f"MatMulNBits {', '.join(p.removesuffix('/dense/MatMul') for p in cfg['nbits'])}")
    if cfg.get("keep_fp32"):
        parts.append(f"fp32 {', '.join(p.removesuffix('/dense/MatMul') for p in cfg['keep_fp32'])}")
    return ", ".join(parts)


def optimum_int8(cli: Path, teacher_dir: Path, work: Path) -> dict:
    """optimum-onnx's int8 files of the teacher, as benchmarks/peers/run.py makes them: `optimum-cli export onnx`, then
    `optimum-cli onnxruntime quantize --<this CPU's ISA>` (per-tensor, and with --per_channel)."""
    import subprocess

    from export.onnx import artifact_for
    from export.quantize import _version

    sys.path.insert(0, str(ROOT / "benchmarks" / "peers"))
    from run import quantize_isa

    out = {}
    t0 = time.perf_counter()
    subprocess.run([str(cli), "export", "onnx", "--model", str(teacher_dir), "--task", "text-classification", str(work / "optimum")],
                   check=True, capture_output=True)
    export_s = time.perf_counter() - t0
    for label, extra in (("optimum-onnx int8 (per-tensor, optimum-cli default)", []), ("optimum-onnx int8 --per_channel", ["--per_channel"])):
        t0 = time.perf_counter()
        dst = work / f"optimum-{len(out)}"
        subprocess.run([str(cli), "onnxruntime", "quantize", "--onnx_model", str(work / "optimum"), f"--{quantize_isa()}", *extra, "-o", str(dst)],
                       check=True, capture_output=True)
        path = dst / "model_quantized.onnx"
        from collections import Counter

        import onnx

        counts = dict(Counter(n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node))
        out[label] = (artifact_for(path, "int8", {"onnxruntime": _version("onnxruntime")}, {}, {"op_counts": counts}), "int8",
                      export_s + time.perf_counter() - t0)
    return out


def markdown(payload: dict) -> str:
    m = payload["bench"].get("median_seq_len")
    lines = [f"ONNX Runtime, batch 1, 1 thread, seq 64 and seq {m} (the test sentences' median length), {payload['bench']['runs']} interleaved "
             f"runs in one process; agreement with the PyTorch fp32 model on {payload['sentences']} {payload['data']} sentences. "
             f"Measured on a machine shared with other jobs (load average {', '.join(f'{x:.1f}' for x in payload.get('load_average', ()))}): "
             "absolute ms are inflated, the paired ratios from this one run hold.", "",
             f"| model | precision | size MB | x smaller | p50 ms seq 64 | x faster than fp32 (seq 64) | p50 ms seq {m} | x faster than fp32 (seq {m}) | "
             "agreement | acc. change | mean abs logit diff | max abs logit diff | within tolerance |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in payload["rows"]:
        med = r.get("latency_ms_median_len", {}).get("p50", float("nan"))
        lines.append(f"| {r['model']} | {r['precision']} | {r['size_bytes'] / 1e6:.2f} | {1 / r['size_vs_fp32']:.1f} | "
                     f"{r['latency_ms']['p50']:.2f} | {r['speedup_vs_fp32']:.2f} | {med:.2f} | {r.get('speedup_vs_fp32_median_len', float('nan')):.2f} | "
                     f"{r['agreement']:.2%} | {r['accuracy_change'] * 100:+.2f} pt | {r.get('mean_abs_logit_diff', float('nan')):.3g} | "
                     f"{r['max_abs_logit_diff']:.3g} | {'yes' if r['passed'] else 'NO'} |")
    if payload.get("bilstm_int8_bundle_bytes"):
        lines.append(f"\nBiLSTM int8 phone bundle (model + tokenizer.json + vocab.txt + labels + manifest): "
                     f"{payload['bilstm_int8_bundle_bytes'] / 1e6:.2f} MB.")
    lines += [""] + [f"- {n}" for n in payload.get("notes", [])]
    lines.append("- graphs: " + "; ".join(f"{r['precision']}: " + ", ".join(f"{k} {v}" for k, v in sorted(r["op_counts"].items()))
                                          for r in payload["rows"] if r["model"] == "teacher" and r.get("op_counts")))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
