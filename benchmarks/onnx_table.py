"""ONNX precisions for the teacher and the distilled BiLSTM: size, ONNX Runtime latency (batch 1,
1 thread, seq 64, all files interleaved in one run), agreement with the PyTorch fp32 original on the
test sentences, accuracy change, and the size of the BiLSTM int8 phone bundle.

    python benchmarks/onnx_table.py [--student runs/demo/students/bilstm-distilled] [--quick]

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
            ("int8 per-channel, blocks 1-3 FFN fp32", "int8", {"per_channel": True, "keep_fp32": "TEACHER_SENSITIVE"}),
            ("int8 per-channel, SmoothQuant auto", "int8", {"per_channel": True, "smooth": "auto"}),
            ("int8 per-channel, SmoothQuant auto, blocks 1-3 FFN fp32", "int8", {"per_channel": True, "smooth": "auto", "keep_fp32": "TEACHER_SENSITIVE"}),
            ("int8 per-channel, SmoothQuant auto, blocks 1-3 FFN MatMulNBits 8-bit", "int8",
             {"per_channel": True, "smooth": "auto", "nbits": "TEACHER_NBITS"}),
            ("int8-static", "int8-static", {}))
TRANSFORMER_ONLY = ("keep_fp32", "smooth", "nbits")   # a BiLSTM has no feed-forward blocks, and its LSTM weights are not plain MatMuls
TARGETS = {"int8": "agreement >= 99.5%, accuracy change <= 0.3 points", "fp16": "agreement >= 99.9%"}
# `edgedistill export` / the demo default: per-channel for the teacher, per-tensor for the BiLSTM (QuantConfig.per_channel=None)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--student", type=Path, default=ROOT / "runs" / "demo" / "students" / "bilstm-distilled")
    p.add_argument("--quick", action="store_true", help="500 test sentences, 30 timed runs")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from distill import TeacherConfig, finetune_teacher, load_dataset, load_student
    from distill.text import Encoder
    from distill.trainer import predict
    from edge_runtime import BenchConfig, bench_interleaved, fixed_length_feeds, load, logits_for_texts, parity
    from edgecore import CheckpointError
    from export import BundleConfig, OnnxConfig, QuantConfig, quantize_onnx, to_onnx, write_bundle
    from export.quantize import TEACHER_NBITS, TEACHER_SENSITIVE

    if not (a.student / "student.json").is_file():
        raise CheckpointError(f"no student at {a.student}; run `make demo` first or pass --student DIR")
    t_start = time.perf_counter()
    ds = load_dataset("movie-snippets")
    teacher = finetune_teacher(ds, TeacherConfig())
    student, meta = load_student(a.student)
    s_enc = Encoder(a.student, meta.get("max_len", 64))
    n = 500 if a.quick else len(ds.test)
    texts, gold = ds.test.texts[:n], ds.test.labels[:n]
    runs = 30 if a.quick else a.runs
    calibration = [{k: v.numpy() for k, v in teacher.encoder.encode([t]).items()} for t in ds.train.texts[:200]]
    rows, runners, feeds = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, model, enc, transformer in (("teacher", teacher.model, teacher.encoder, True), ("bilstm-distilled", student, s_enc, False)):
            source = predict(model, enc.ids(texts), enc.pad)
            encode = lambda t, enc=enc: {k: v.numpy() for k, v in enc.encode(t).items()}
            validate = [enc.encode(ds.dev.texts[i:i + 16]) for i in range(0, 64, 16)]
            t0 = time.perf_counter()
            fp32 = to_onnx(model, enc.encode(ds.dev.texts[:2]), tmp / f"{name}.fp32.onnx", OnnxConfig(), validate_with=validate)
            arts = {"fp32": (fp32, "fp32", time.perf_counter() - t0)}
            for label, prec, extra in VARIANTS:
                if not transformer and any(k in extra for k in TRANSFORMER_ONLY):
                    continue
                if extra.get("keep_fp32") == "TEACHER_SENSITIVE":
                    extra = {**extra, "keep_fp32": TEACHER_SENSITIVE}
                if extra.get("nbits") == "TEACHER_NBITS":
                    extra = {**extra, "nbits": TEACHER_NBITS}
                t0 = time.perf_counter()
                art = quantize_onnx(fp32, tmp / f"{name}.{label.replace(' ', '-')}.onnx", QuantConfig(prec, transformer=transformer, **extra),
                                    calibration=calibration)
                arts[label] = (art, prec, time.perf_counter() - t0)
            bench_feed = fixed_length_feeds(encode, ds.test.texts[:40], 64)
            for label, (art, prec, seconds) in arts.items():
                runner = load(art.path, threads=1)
                rep = parity(logits_for_texts(runner, encode, texts), source, source, gold=gold, fmt="onnx", precision=prec)
                key = f"{name}/{label}"
                runners[key], feeds[key] = runner, bench_feed
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
        bench = bench_interleaved(runners, feeds, BenchConfig(warmup=10, runs=runs, threads=1, seq_len=64))
    for row in rows:
        lat = bench[f"{row['model']}/{row['precision']}"].latency_ms
        row["latency_ms"] = {k: round(lat[k], 4) for k in ("p50", "p90", "p99", "mean")}
    for row in rows:
        base = next(r for r in rows if r["model"] == row["model"] and r["precision"] == "fp32")
        row["speedup_vs_fp32"] = base["latency_ms"]["p50"] / row["latency_ms"]["p50"]
        row["size_vs_fp32"] = row["size_bytes"] / base["size_bytes"]
        row["speedup_vs_teacher_fp32"] = rows[0]["latency_ms"]["p50"] / row["latency_ms"]["p50"]
    payload = {"rows": rows, "bilstm_int8_bundle_bytes": bundle_bytes, "sentences": n, "data": "movie-snippets test split",
               "bench": {"batch": 1, "threads": 1, "seq_len": 64, "runs": runs, "interleaved": True},
               "targets": TARGETS, "wall_seconds": round(time.perf_counter() - t_start, 1)}
    a.out.mkdir(parents=True, exist_ok=True)
    stem = "onnx_table_quick" if a.quick else "onnx_table"
    (a.out / f"{stem}.json").write_text(json.dumps(payload, indent=2))
    md = markdown(payload)
    (a.out / f"{stem}.md").write_text(md)
    print(md)
    return 0


def markdown(payload: dict) -> str:
    lines = [f"ONNX Runtime, batch 1, 1 thread, seq 64, {payload['bench']['runs']} interleaved runs; agreement with the PyTorch fp32 "
             f"model on {payload['sentences']} {payload['data']} sentences.", "",
             "| model | precision | size MB | x smaller | p50 ms | p90 ms | x faster than fp32 | x faster than teacher fp32 | agreement | acc. change | mean abs logit diff | max abs logit diff | within tolerance |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in payload["rows"]:
        lines.append(f"| {r['model']} | {r['precision']} | {r['size_bytes'] / 1e6:.2f} | {1 / r['size_vs_fp32']:.1f} | "
                     f"{r['latency_ms']['p50']:.2f} | {r['latency_ms']['p90']:.2f} | {r['speedup_vs_fp32']:.2f} | {r['speedup_vs_teacher_fp32']:.1f} | "
                     f"{r['agreement']:.2%} | {r['accuracy_change'] * 100:+.2f} pt | {r.get('mean_abs_logit_diff', float('nan')):.3g} | "
                     f"{r['max_abs_logit_diff']:.3g} | {'yes' if r['passed'] else 'NO'} |")
    lines.append(f"\nBiLSTM int8 phone bundle (model + tokenizer.json + vocab.txt + labels + manifest): "
                 f"{payload['bilstm_int8_bundle_bytes'] / 1e6:.2f} MB.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
