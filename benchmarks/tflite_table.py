"""TFLite (LiteRT) precisions for the distilled BiLSTM and a Transformer: file size, Interpreter latency per
bucket (batch 1, num_threads=1, real tokens filling the bucket) next to ONNX Runtime int8 of the same model
timed in the same interleaved runs, and agreement with the PyTorch fp32 model on the test sentences.

    python benchmarks/tflite_table.py [--student runs/demo/students/bilstm-distilled] [--quick]
    python benchmarks/tflite_table.py --routes      # the BiLSTM recurrent routes (while / stock / fused / loop) at seq 64

Without a distilled student, an untrained BiLSTM of the same shape (embed 384, hidden 256, full vocab)
is used and the table says so. The Transformer is a 2-layer BERT built from the teacher's config
(width 128 unless --transformer-width), randomly initialised: its figures are about conversion fidelity
and speed, not accuracy. Writes benchmarks/results/tflite_table[_quick].{json,md} (or tflite_routes.*).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("EDGEDISTILL_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
TARGET = "TFLite int8 BiLSTM p50 <= 1.2x ONNX Runtime int8 at seq 64; int8 agreement >= 99.5%"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--student", type=Path, default=ROOT / "runs" / "demo" / "students" / "bilstm-distilled")
    p.add_argument("--transformer-width", type=int, default=128)
    p.add_argument("--buckets", default="16,32,64,128")
    p.add_argument("--precisions", default="fp32,fp16,int8,int8-weight")
    p.add_argument("--recurrent", default="while", help="route(s) for the BiLSTM, comma-separated: while,stock,fused,loop")
    p.add_argument("--routes", action="store_true", help="compare the recurrent routes of the BiLSTM at seq 64 only")
    p.add_argument("--quick", action="store_true", help="300 test sentences, buckets 16,64, 30 timed runs")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--skip-transformer", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from distill import load_dataset

    t_start = time.perf_counter()
    ds = load_dataset("movie-snippets")
    n = 300 if a.quick else len(ds.test)
    texts = ds.test.texts[:n]
    runs = 30 if a.quick else a.runs
    buckets = (16, 64) if a.quick and a.buckets == "16,32,64,128" else tuple(int(b) for b in a.buckets.split(","))
    if a.routes:
        buckets = (64,)
        routes = ("while", "stock", "fused", "loop")
        precisions = ("fp32", "int8")
    else:
        routes = tuple(a.recurrent.split(","))
        precisions = tuple(a.precisions.split(","))
    models = [bilstm(a.student)]
    if not a.skip_transformer and not a.routes:
        models.append(tiny_transformer(a.transformer_width))
    rows, latency = [], {}
    with tempfile.TemporaryDirectory(prefix="tflite-table-") as tmp:
        tmp = Path(tmp)
        for m in models:
            for route in (routes if m["kind"] == "bilstm" else ("stock",)):
                r, lat = run_model(m, route, precisions, buckets, texts, ds, tmp, runs)
                rows += r
                latency |= lat
    payload = {"rows": rows, "sentences": n, "data": "movie-snippets test split", "buckets": list(buckets),
               "bench": {"batch": 1, "threads": 1, "runs": runs, "interleaved": True, "interpreter": "ai_edge_litert.Interpreter (XNNPACK default)",
                         "reference": "onnxruntime int8 (quantize_onnx dynamic) of the same model, same feeds, same runs"},
               "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
               "target": TARGET, "wall_seconds": round(time.perf_counter() - t_start, 1),
               "models": [{k: v for k, v in m.items() if k not in ("model", "encoder")} for m in models]}
    a.out.mkdir(parents=True, exist_ok=True)
    stem = "tflite_routes" if a.routes else ("tflite_table_quick" if a.quick else "tflite_table")
    (a.out / f"{stem}.json").write_text(json.dumps(payload, indent=2))
    md = markdown(payload)
    (a.out / f"{stem}.md").write_text(md)
    print(md)
    return 0


def bilstm(path: Path) -> dict:
    import torch

    from distill import Encoder, RNNStudent, RNNStudentConfig, load_student
    from distill.teacher import resolve_base

    if (path / "student.json").is_file():
        model, meta = load_student(path)
        return {"name": "bilstm-distilled", "kind": "bilstm", "model": model, "encoder": Encoder(path, meta.get("max_len", 64)),
                "trained": True, "source": str(path), "labels": meta.get("labels")}
    enc = Encoder(resolve_base("minilm-l6"), 64)
    torch.manual_seed(0)
    model = RNNStudent(RNNStudentConfig(vocab_size=enc.settings.vocab_size, embed_dim=384, hidden=256)).eval()
    return {"name": "bilstm-untrained", "kind": "bilstm", "model": model, "encoder": enc, "trained": False,
            "source": f"UNTRAINED RNNStudent(embed 384, hidden 256, vocab {enc.settings.vocab_size}): no student at {path}"}


def tiny_transformer(width: int) -> dict:
    import torch
    from transformers import AutoConfig, BertForSequenceClassification

    from distill import Encoder
    from distill.teacher import resolve_base

    base = resolve_base("minilm-l6")
    config = AutoConfig.from_pretrained(base)
    config.num_hidden_layers, config.hidden_size = 2, width
    config.num_attention_heads, config.intermediate_size, config.num_labels = max(2, width // 64), 4 * width, 2
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    return {"name": f"bert-2L-w{width}", "kind": "transformer", "model": model, "encoder": Encoder(base, 64), "trained": False,
            "source": f"UNTRAINED 2-layer BERT from the teacher config, hidden {width}, {config.num_attention_heads} heads (no Transformer student exists yet)"}


def run_model(m: dict, route: str, precisions, buckets, texts, ds, tmp: Path, runs: int):
    import numpy as np
    import torch

    from distill.trainer import predict
    from edge_runtime import BenchConfig, bench_interleaved, fixed_length_feeds, load, logits_for_texts
    from edgecore.tolerances import tolerance
    from export import QuantConfig, quantize_onnx, to_onnx
    from export.tflite import TFLiteConfig, quantize_tflite, to_tflite

    model, enc, transformer = m["model"], m["encoder"], m["kind"] == "transformer"

    def encode(t, enc=enc):
        feed = enc.encode_np(t)
        if transformer:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        return feed

    def torch_feed(t):
        return {k: torch.from_numpy(v) for k, v in encode(t).items()}

    pad = (lambda ids: {**enc.pad(ids), "token_type_ids": torch.zeros_like(enc.pad(ids)["input_ids"])}) if transformer else enc.pad
    with torch.no_grad():
        source = predict(model if not transformer else _Logits(model), enc.ids(texts), pad)
    name = f"{m['name']}/{route}" if m["kind"] == "bilstm" else m["name"]
    validate = [torch_feed(ds.dev.texts[i:i + 8]) for i in range(0, 32, 8)]
    t0 = time.perf_counter()
    onnx32 = to_onnx(model, torch_feed(ds.dev.texts[:2]), tmp / f"{name.replace('/', '_')}.onnx")
    ort8 = quantize_onnx(onnx32, tmp / f"{name.replace('/', '_')}.int8.onnx", QuantConfig("int8", transformer=transformer))
    onnx_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fp32 = to_tflite(model, torch_feed(ds.dev.texts[:2]), tmp / f"{name.replace('/', '_')}.tflite",
                     TFLiteConfig(buckets=buckets, recurrent=route), validate_with=validate)
    arts = {"fp32": (fp32, time.perf_counter() - t0)}
    calibration = [encode([t]) for t in ds.train.texts[:200]]
    for prec in precisions:
        if prec == "fp32":
            continue
        t0 = time.perf_counter()
        try:
            arts[prec] = (quantize_tflite(fp32, tmp / f"{name.replace('/', '_')}.{prec}.tflite", TFLiteConfig(prec),
                                          calibration=calibration, validate_with=[{k: v.numpy() for k, v in f.items()} for f in validate]),
                          time.perf_counter() - t0)
        except Exception as e:   # int8-full refusals and route limits are results too: record the message
            arts[prec] = (None, str(e))
    rows, runners = [], {"ort-int8": load(ort8.path, threads=1)}
    ort_logits = logits_for_texts(runners["ort-int8"], encode, texts)
    rows.append({"model": name, "format": "onnx", "precision": "int8", "size_bytes": ort8.size_bytes, "export_seconds": round(onnx_s, 1),
                 "agreement": float((ort_logits.argmax(1) == source.argmax(1)).mean()),
                 "max_abs_logit_diff": float(np.abs(ort_logits - source).max())})
    for prec, (art, seconds) in arts.items():
        if art is None:
            rows.append({"model": name, "format": "tflite", "precision": prec, "refused": seconds})
            continue
        runner = load(art.path, threads=1)
        logits = logits_for_texts(runner, encode, texts)
        tol = tolerance("tflite", prec)
        agree, diff = float((logits.argmax(1) == source.argmax(1)).mean()), float(np.abs(logits - source).max())
        rows.append({"model": name, "format": "tflite", "precision": prec, "route": route, "size_bytes": art.size_bytes,
                     "export_seconds": round(seconds, 1), "agreement": agree, "max_abs_logit_diff": diff,
                     "within_tolerance": bool(agree >= tol.min_agreement and diff <= tol.max_abs_logit_diff),
                     "ops_per_subgraph": art.validation.get("op_counts", []),
                     "reset_variables": runner.reset_variables})
        runners[f"tflite-{prec}"] = runner
    latency = {}
    from distill import Encoder

    for bucket in buckets:
        # real tokens filling the bucket: a tokenizer that truncates at the bucket, not at the model's max_len
        long_enc = Encoder(enc.dir, max(bucket, enc.max_len))
        feed = fixed_length_feeds(lambda t, e=long_enc: encode(t, e), ds.test.texts[:60], bucket)
        assert feed["input_ids"].shape[1] == bucket, f"could not fill a {bucket}-token feed"
        bench = bench_interleaved(runners, feed, BenchConfig(warmup=5, runs=runs, threads=1, seq_len=bucket))
        ort = bench["ort-int8"].latency_ms
        for row in rows:
            key = "ort-int8" if row["format"] == "onnx" else f"tflite-{row['precision']}"
            if key not in bench:
                continue
            lat = bench[key].latency_ms
            row.setdefault("latency_ms", {})[str(bucket)] = {k: round(lat[k], 4) for k in ("min", "p50", "p90", "mean")}
            row.setdefault("x_ort_int8_p50", {})[str(bucket)] = round(lat["p50"] / ort["p50"], 3)
            row.setdefault("x_ort_int8_min", {})[str(bucket)] = round(lat["min"] / ort["min"], 3)
            latency[f"{name}/{key}/{bucket}"] = lat
    return rows, latency


class _Logits:
    """A Hugging Face classifier called like a student: logits only."""

    def __init__(self, model) -> None:
        self.model = model

    def eval(self):
        return self

    def __call__(self, **kw):
        return self.model(**kw).logits


def markdown(payload: dict) -> str:
    buckets = [str(b) for b in payload["buckets"]]
    lines = [f"TFLite (ai-edge-litert Interpreter, XNNPACK default, num_threads=1, batch 1) vs ONNX Runtime int8 of the same model, "
             f"{payload['bench']['runs']} interleaved runs per bucket (all files of a model timed round-robin in one process); "
             f"agreement = same label as the PyTorch fp32 model on {payload['sentences']} {payload['data']} sentences "
             "(each sentence in its smallest bucket).", "",
             "Models: " + "; ".join(f"**{m['name']}**: {m['source']}" for m in payload["models"]), "",
             f"Machine: {payload['machine']['cores']} cores shared with other jobs (load average at the end "
             f"{payload['machine']['loadavg_at_end'][0]:.1f}); p50 is disturbed by them, min is the best case.", "",
             "| model / route | file | size MB | " + " | ".join(f"p50 ms @{b} (min)" for b in buckets)
             + " | x ORT int8 p50 @" + ("64" if "64" in buckets else buckets[-1]) + " | agreement | max abs logit diff | export s | ops per subgraph |",
             "|---|---|---|" + "---|" * len(buckets) + "---|---|---|---|---|"]
    ref = "64" if "64" in buckets else buckets[-1]
    for r in payload["rows"]:
        label = f"{r['format']} {r['precision']}"
        if "refused" in r:
            lines.append(f"| {r['model']} | {label} | refused: {r['refused'][:160]} |" + " |" * (len(buckets) + 5))
            continue
        lat = " | ".join(f"{r['latency_ms'][b]['p50']:.2f} ({r['latency_ms'][b]['min']:.2f})" for b in buckets)
        ops = r.get("ops_per_subgraph", "")
        nb = len(buckets)
        ops = (", ".join(map(str, ops[:nb])) + (f" + {len(ops) - nb} loop subgraphs (<= {max(ops[nb:])} ops)" if len(ops) > nb else "")) if ops else ""
        lines.append(f"| {r['model']} | {label} | {r['size_bytes'] / 1e6:.2f} | {lat} | {r['x_ort_int8_p50'][ref]:.2f} "
                     f"(min {r['x_ort_int8_min'][ref]:.2f}) | {r['agreement']:.2%} | {r['max_abs_logit_diff']:.3g} | {r['export_seconds']} | {ops} |")
    lines.append(f"\nTarget: {payload['target']}. Wall time {payload['wall_seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
