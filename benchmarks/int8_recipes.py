"""Teacher int8 recipes on the dev sentences (issue #24): agreement with fp32 and speed, to pick the default.

Every recipe is built from the teacher's fp32 ONNX (the sdpa export the old default saw, or the eager-attention
export to_onnx writes now, whose attention onnxruntime fuses), scored on the 1,000 dev sentences at batch 1 against
the fp32 logits, and timed with all recipes interleaved in one run (batch 1, 1 thread, seq 64 and the test data's
median length). Test sentences are not looked at here.

    python benchmarks/int8_recipes.py [--only NAME,...] [--runs 60]

Writes benchmarks/results/int8_recipes.{json,md} and prints the table.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from int8_common import RESULTS, log, op_counts, prepare, run_logits, score

# FFN MatMuls of blocks 1-3 (TEACHER_SENSITIVE) and, from int8_sensitivity.md, the ops whose int8 error hurts most
L0 = ("layer.0/intermediate/dense/MatMul", "layer.0/output/dense/MatMul")   # the most sensitive pair (int8_sensitivity.md)
FFN = tuple(f"layer.{i}/{part}/dense/MatMul" for i in range(3) for part in ("intermediate", "output"))


def optimum_style(src, out, per_channel: bool) -> None:
    """What optimum-cli onnxruntime quantize does: the unfused graph, every MatMul (attention's activation x activation
    ones too) dynamic int8, per-tensor unless --per_channel."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8, per_channel=per_channel, op_types_to_quantize=["MatMul"],
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT, "MatMulConstBOnly": False})


def recipes(st) -> dict:
    """name -> (source fp32 file, QuantConfig kwargs | callable(src, out))."""
    from export.quantize import TEACHER_NBITS

    sdpa, eager = st.fp32, st.eager
    return {
        "old default: sdpa graph, per-channel, SmoothQuant auto, blocks 1-3 FFN NBits": (sdpa, {"smooth": "auto", "nbits": TEACHER_NBITS}),
        "sdpa graph, per-channel (attention unfused)": (sdpa, {}),
        "optimum-style: unfused, all MatMuls, per-tensor": (sdpa, lambda s, o: optimum_style(s, o, False)),
        "optimum-style: unfused, all MatMuls, per-channel": (sdpa, lambda s, o: optimum_style(s, o, True)),
        "fused attention, per-channel": (eager, {}),
        "fused attention, per-channel, SmoothQuant auto": (eager, {"smooth": "auto"}),
        "fused attention, per-channel, SmoothQuant auto, blocks 1-3 FFN NBits": (eager, {"smooth": "auto", "nbits": TEACHER_NBITS}),
        "fused attention, per-channel, SmoothQuant auto, blocks 1-3 FFN fp32": (eager, {"smooth": "auto", "keep_fp32": FFN}),
        "fused attention, per-channel, SmoothQuant 0.5": (eager, {"smooth": 0.5}),
        "fused attention, static QDQ": (eager, {"precision": "int8-static"}),
        # second round (after int8_sensitivity.md and the group study): per-token activations, per-row word embeddings
        "fused attention, per-channel, per-row embedding": (eager, {"embedding": "per-row"}),
        "fused attention, per-channel, per-token, per-row embedding": (eager, {"per_token": True, "embedding": "per-row"}),
        "fused attention, per-channel, per-token, embeddings fp32": (eager, {"per_token": True, "embedding": "fp32"}),
        "fused attention, per-channel, SmoothQuant auto, per-token, per-row embedding": (eager, {"smooth": "auto", "per_token": True}),
        "fused attention, per-channel, SmoothQuant auto, per-token, per-row embedding, layer.0 FFN NBits":
            (eager, {"smooth": "auto", "per_token": True, "nbits": L0}),
        "fused attention, per-channel, SmoothQuant auto, per-token, per-row embedding, layer.0 FFN fp32":
            (eager, {"smooth": "auto", "per_token": True, "keep_fp32": L0}),
        "QKV projection as MatMul + MultiHeadAttention, per-channel, per-token, per-row embedding":
            (eager, {"attention": "mha", "per_token": True}),
    }


def build(name, src, how, out, st) -> dict:
    from export import QuantConfig, quantize_onnx
    from export.onnx import artifact_for

    t0 = time.perf_counter()
    if callable(how):
        how(src, out)
    else:
        kw = {"embedding": "per-tensor", **how}
        quantize_onnx(artifact_for(src, "fp32", {}, {}, {}), out, QuantConfig(kw.pop("precision", "int8"), transformer=True, **kw),
                      calibration=st.calibration, force=True)
    return {"build_seconds": round(time.perf_counter() - t0, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="", help="comma-separated parts of recipe names")
    p.add_argument("--runs", type=int, default=60)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--stem", default="int8_recipes")
    a = p.parse_args(argv)
    from edge_runtime import BenchConfig, bench_interleaved, load

    t_start = time.perf_counter()
    st = prepare()
    chosen = {k: v for k, v in recipes(st).items() if not a.only or any(part in k for part in a.only.split(","))}
    rows, runners = [], {"fp32": load(st.fp32, threads=1)}
    with tempfile.TemporaryDirectory(dir=st.fp32.parent) as tmp:
        for i, (name, (src, how)) in enumerate(chosen.items()):
            out = Path(tmp) / f"r{i}.onnx"
            try:
                info = build(name, src, how, out, st)
            except Exception as e:   # a recipe that cannot be built is a result too
                rows.append({"recipe": name, "error": f"{type(e).__name__}: {str(e)[:300]}"})
                log(f"{name}: FAILED {rows[-1]['error']}")
                continue
            row = {"recipe": name, **info, "size_bytes": out.stat().st_size, **score(run_logits(out, st.dev), st.dev_ref),
                   "op_counts": {k: v for k, v in op_counts(out).items() if any(s in k for s in ("Quant", "Integer", "NBits", "Attention", "MatMul"))}}
            rows.append(row)
            runners[name] = load(out, threads=1)
            log(f"{name}: dev {row['flips']} flips ({row['agreement']:.2%}), mean {row['mean_abs_logit_diff']:.4f}, max {row['max_abs_logit_diff']:.3f}")
        for label, feed in (("seq64", st.bench_feed), (f"seq{st.median_feed['input_ids'].shape[1]}", st.median_feed)):
            bench = bench_interleaved(runners, feed, BenchConfig(warmup=5, runs=a.runs, threads=1, seq_len=feed["input_ids"].shape[1]),
                                      baseline="fp32")
            for row in rows:
                if row["recipe"] in bench:
                    r = bench[row["recipe"]]
                    row[f"p50_ms_{label}"] = round(r.latency_ms["p50"], 3)
                    row[f"x_fp32_{label}"] = round(1 / r.vs_baseline["paired_median_ratio"], 3)
            rows_fp32 = bench["fp32"].latency_ms["p50"]
            log(f"{label}: fp32 p50 {rows_fp32:.2f} ms")
    payload = {"dev_sentences": len(st.dev), "median_len": int(st.median_feed["input_ids"].shape[1]), "runs": a.runs, "rows": rows,
               "note": "timed on a machine shared with other jobs: read the x-fp32 ratios (paired, one interleaved run)",
               "wall_seconds": round(time.perf_counter() - t_start, 1)}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{a.stem}.json").write_text(json.dumps(payload, indent=2))
    md = markdown(payload)
    (a.out / f"{a.stem}.md").write_text(md)
    print(md)
    return 0


def markdown(payload: dict) -> str:
    m = payload["median_len"]
    lines = [f"Teacher int8 recipes on {payload['dev_sentences']} dev sentences (batch 1) against fp32 ONNX; speed: batch 1, 1 thread, "
             f"{payload['runs']} interleaved runs, paired ratio to fp32 at seq 64 and seq {m} (the test median). {payload['note']}.", "",
             f"| recipe | dev agreement | flips | mean abs dlogit | max abs dlogit | x fp32 seq 64 | x fp32 seq {m} | p50 ms seq 64 | MB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in payload["rows"]:
        if "error" in r:
            lines.append(f"| {r['recipe']} | failed: {r['error'][:120]} | | | | | | | |")
            continue
        lines.append(f"| {r['recipe']} | {r['agreement']:.2%} | {r['flips']} | {r['mean_abs_logit_diff']:.4f} | {r['max_abs_logit_diff']:.3f} | "
                     f"{r.get('x_fp32_seq64', float('nan')):.2f} | {r.get(f'x_fp32_seq{m}', float('nan')):.2f} | "
                     f"{r.get('p50_ms_seq64', float('nan')):.2f} | {r['size_bytes'] / 1e6:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
