"""ARM64 parity (issue 28): every shipped kind of file run on the ARM64 builds of onnxruntime and LiteRT (qemu-user,
the environment `make arm64-env` builds) and on this machine's x86 builds, on the same movie-snippets test sentences.

    python benchmarks/arm64_table.py                          # the default rows, 2,000 sentences, cortex-a76
    python benchmarks/arm64_table.py --sentences 300 --cpus cortex-a76,max --only teacher
    python benchmarks/arm64_table.py --sentences 16 --formats executorch --out benchmarks/results/arm64_executorch

Per file: agreement with the teacher's PyTorch predictions on x86 and on ARM64, and ARM64 against the same file on
x86 (argmax agreement, max and mean |logit diff|), checked against the file's tolerance (edgecore/tolerances.py).
The texts are encoded on the host with each bundle's own tokenizer (edge_runtime.arm64: the batches Bundle.logits
runs, replayed), so truncation and padding are identical on both sides. No latency: emulated time means nothing.
Writes benchmarks/results/arm64_parity.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs"
TEACHER = Path.home() / ".cache/edgedistill/teachers/4cc82ca20ff59c2e2c4c"   # runs/int8/teacher.path: the built-in teacher
# (model, bundle folder for the tokenizer, which of its files: a format, or explicit files relative to runs/)
ROWS = [
    ("teacher", "frontier/teacher.bundle", "onnx"),                 # fp32 + the default int8 (SmoothQuant + MatMulNBits)
    ("teacher --nbits off", "frontier/teacher.bundle", ["arm64/teacher.int8-nbits-off.onnx"]),   # made by nbits_off()
    ("transformer-3L", "frontier/transformer-3L.bundle", "onnx"),
    ("transformer-3L", "text_input/transformer-3L", "tflite"),
    ("bilstm", "frontier/bilstm.bundle", "onnx"),
    ("bilstm", "text_input/bilstm", "tflite"),
    ("bigru", "frontier/bigru.bundle", "onnx"),
    ("bigru", "arm64/bigru-tflite", "tflite"),
    ("bilstm", "executorch/bilstm", "executorch"),                 # .pte rows: ARM64_EXECUTORCH_INSTALL=1 make arm64-env first
    ("transformer-3L", "executorch/transformer-3L", "executorch"),
    ("teacher", "executorch/teacher", "executorch"),
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def files_of(bundle, which) -> list[tuple[Path, str, str]]:
    """(path, format, precision) of the ids-input files a row runs."""
    from edge_runtime.arm64 import skip_reason

    if isinstance(which, str):
        return [(bundle.resolve(e["file"]), e["format"], e["precision"]) for e in bundle.manifest["models"]
                if e["format"] == which and skip_reason(e, "x86", None) is None]
    return [(RUNS / rel, "onnx", "int8") for rel in which if (RUNS / rel).is_file()]   # read with this bundle's tokenizer


def nbits_off(bundle_dir: Path = RUNS / "frontier/teacher.bundle") -> Path:
    """The teacher's int8 ONNX with the export default recipe but `--nbits off` (SmoothQuant auto, per-channel, per-token,
    per-row embeddings; MatMulInteger everywhere, no MatMulNBits), quantized from the bundle's fp32 file. `edgedistill export
    --nbits off` makes the same file but leaves it out of the bundle: it fails the x86 parity (99.0% on 300 sentences,
    runs/arm64/teacher-nbits-off.export.json). Made once, at runs/arm64/teacher.int8-nbits-off.onnx."""
    from distill import load_dataset
    from edge_runtime import Bundle
    from export import QuantConfig, quantize_onnx
    from export.artifact import Artifact

    out = RUNS / "arm64/teacher.int8-nbits-off.onnx"
    if out.is_file():
        return out
    bundle = Bundle.open(bundle_dir)
    entry = bundle.model_entry("fp32", "onnx")
    source = Artifact.for_file(bundle.resolve(entry["file"]), "onnx", "fp32", [i["name"] for i in entry["inputs"]], ["logits"])
    tok = bundle.tokenizer()
    calibration = [bundle.encode([t], tokenizer=tok) for t in load_dataset("movie-snippets").train.texts[:200]]
    out.parent.mkdir(parents=True, exist_ok=True)
    log(f"making {out.relative_to(ROOT)} (export default int8 recipe, --nbits off)")
    quantize_onnx(source, out, QuantConfig("int8", transformer=True, smooth="auto", nbits=(), per_token=True), calibration=calibration)
    return out


def run_row(model: str, bundle_dir: Path, which, texts, teacher_pred, gold, cpu: str) -> tuple[list[dict], dict]:
    from edge_runtime import Bundle
    from edge_runtime.arm64 import Arm64Env, compare, record, replay, run_worker, skip_reason

    bundle = Bundle.open(bundle_dir)
    tok = bundle.tokenizer()
    files = files_of(bundle, which)
    if not files:
        return [{"model": model, "bundle": str(bundle_dir.relative_to(ROOT)), "format": which if isinstance(which, str) else "onnx",
                 "cpu": cpu, "error": f"no file of this kind in {bundle_dir.relative_to(ROOT)}"}], {}
    batches = record(bundle, texts, tok)
    env = Arm64Env.default()
    root = RUNS.resolve()   # every file lies under runs/: one read-only mount
    logits, platform = {}, {}
    for arch in ("x86", "arm64"):
        runnable = [f for f in files if arch == "x86" or skip_reason({"file": f[0].name}, "arm64", env) is None]
        if not runnable:
            continue
        t0 = time.perf_counter()
        platform[arch], out = run_worker(arch, [f[0] for f in runnable], batches, root, cpu=cpu, env=env)
        log(f"  {model} {bundle_dir.name} {arch}: {len(runnable)} files, {time.perf_counter() - t0:.0f} s wall")
        for k, got in out.items():
            logits[(runnable[k][0], arch)] = got if isinstance(got, str) else replay(bundle, texts, got, tok)
    rows = []
    for path, fmt, precision in files:
        row = {"model": model, "file": str(path.relative_to(RUNS.resolve())), "format": fmt, "precision": precision, "cpu": cpu,
               "sentences": len(texts)}
        x86, arm = logits.get((path, "x86")), logits.get((path, "arm64"))
        if isinstance(x86, np.ndarray):
            row["x86_agreement_with_teacher"] = float((x86.argmax(1) == teacher_pred).mean())
            row["x86_accuracy"] = float((x86.argmax(1) == gold).mean())
        else:
            row["x86_error"] = x86
        if arm is None:
            row["arm64_error"] = skip_reason({"file": path.name}, "arm64", env)
        elif isinstance(arm, str):
            row["arm64_error"] = arm
        else:
            row["arm64_agreement_with_teacher"] = float((arm.argmax(1) == teacher_pred).mean())
            row["arm64_accuracy"] = float((arm.argmax(1) == gold).mean())
            if isinstance(x86, np.ndarray):
                vs = compare(arm, x86, fmt, precision)
                row.update({"vs_x86_agreement": vs["agreement"], "vs_x86_max_abs_logit_diff": vs["max_abs_logit_diff"],
                            "vs_x86_mean_abs_logit_diff": vs["mean_abs_logit_diff"], "vs_x86_flips": vs["flip_count"],
                            "vs_x86_flip_indices": vs["flip_indices"], "tolerance": vs["tolerance"], "failures": vs["failures"],
                            "passed": not vs["failures"]})
        rows.append(row)
    return rows, platform


#: onnxruntime session variants a failing ONNX file is re-run with, on both arches, to find the kernel that moves it
VARIANTS = [("default", None), ("level basic (no fusions)", {"graph_optimization_level": "basic"}),
            ("level extended", {"graph_optimization_level": "extended"}),
            ("mlas.disable_kleidiai=1", {"config": {"mlas.disable_kleidiai": "1"}}),
            ("session.disable_prepacking=1", {"config": {"session.disable_prepacking": "1"}})]


def diagnose(file: Path, bundle_dir: Path, texts, cpu: str) -> list[dict]:
    """One ONNX file in each VARIANTS session on x86 and on ARM64: which option brings ARM64 back to x86."""
    from edge_runtime import Bundle
    from edge_runtime.arm64 import record, replay, run_worker

    bundle = Bundle.open(bundle_dir)
    tok = bundle.tokenizer()
    batches = record(bundle, texts, tok)
    files, options = [file] * len(VARIANTS), [o for _, o in VARIANTS]
    got = {arch: run_worker(arch, files, batches, RUNS.resolve(), cpu=cpu, ort_options=options)[1] for arch in ("x86", "arm64")}
    rows = []
    for k, (name, _) in enumerate(VARIANTS):
        x86, arm = (replay(bundle, texts, got[a][k], tok) for a in ("x86", "arm64"))
        ref = replay(bundle, texts, got["x86"][0], tok)
        rows.append({"file": str(file.relative_to(RUNS.resolve())), "cpu": cpu, "variant": name, "sentences": len(texts),
                     "vs_x86_agreement": float((arm.argmax(1) == x86.argmax(1)).mean()),
                     "vs_x86_max_abs_logit_diff": float(np.abs(arm - x86).max()),
                     "x86_vs_x86_default_max_abs_logit_diff": float(np.abs(x86 - ref).max())})
        log(f"  {name}: arm64 vs x86 agreement {rows[-1]['vs_x86_agreement']:.2%}, max |diff| {rows[-1]['vs_x86_max_abs_logit_diff']:.3g}")
    return rows


def markdown(rows: list[dict], meta: dict) -> str:
    pct = lambda v: f"{v:.2%}" if isinstance(v, float) else "–"
    num = lambda v: f"{v:.2g}" if isinstance(v, float) else "–"
    lines = ["# ARM64 parity (issue 28)", "",
             f"Command: `{meta['command']}`", "",
             f"{meta['sentences']} movie-snippets test sentences (the first {meta['sentences']} of the 2,000). ARM64: "
             f"{meta['arm64_runtime']} under {meta['qemu']} (CPU models: {', '.join(meta['cpus'])}; kernels chosen from that "
             f"core's features). x86: {meta['x86_runtime']}. Each file runs in its runtime's default CPU path, 1 thread. "
             "No latency is reported: emulated time means nothing.", "",
             "| model | file | format/precision | cpu | agree w/ teacher x86 | agree w/ teacher arm64 | arm64 vs x86 agreement "
             "| max \\|Δlogit\\| arm64 vs x86 | within tolerance |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        status = ("yes" if r.get("passed") else "**no**: " + "; ".join(r.get("failures", []))) if "passed" in r else \
            f"not run on arm64: {r.get('arm64_error') or r.get('error')}"
        lines.append(f"| {r['model']} | {r.get('file', '–')} | {r['format']}/{r.get('precision', '–')} | {r['cpu']} | "
                     f"{pct(r.get('x86_agreement_with_teacher'))} | {pct(r.get('arm64_agreement_with_teacher'))} | "
                     f"{pct(r.get('vs_x86_agreement'))} | {num(r.get('vs_x86_max_abs_logit_diff'))} | {status} |")
    if meta.get("diagnosis"):
        lines += ["", "Session variants of the files outside their tolerance (`--diagnose`): the same file, same inputs, "
                  "in another onnxruntime session on both sides.", "",
                  "| file | cpu | session | arm64 vs x86 agreement | max \\|Δlogit\\| | x86 vs x86 default max \\|Δlogit\\| |", "|---|---|---|---|---|---|"]
        lines += [f"| {d['file']} | {d['cpu']} | {d['variant']} | {d['vs_x86_agreement']:.2%} | {d['vs_x86_max_abs_logit_diff']:.2g} | "
                  f"{d['x86_vs_x86_default_max_abs_logit_diff']:.2g} |" for d in meta["diagnosis"]]
    lines += ["", "Tolerances: edgecore/tolerances.py for the file's format and precision, applied to ARM64 against the "
              "same file on x86. Environment stamp (versions, wheel sha256): " + meta["stamp_path"], ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--cpus", default="cortex-a76", help="comma-separated qemu CPU models (edge_runtime.arm64.CPUS)")
    parser.add_argument("--only", nargs="*", help="model names of ROWS to run (default: all)")
    parser.add_argument("--formats", help="comma-separated formats of ROWS to run (onnx, tflite, executorch; default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    parser.add_argument("--diagnose", action="store_true", help="re-run each ONNX file outside its tolerance in the VARIANTS sessions")
    a = parser.parse_args(argv)
    from distill import cached_teacher_logits, load_dataset, load_teacher
    from edge_runtime.arm64 import Arm64Env, check_cpu

    cpus = [check_cpu(c) for c in a.cpus.split(",")]
    env = Arm64Env.default().check()
    if (not a.only or "teacher --nbits off" in a.only) and (not a.formats or "onnx" in a.formats.split(",")):
        nbits_off()
    ds = load_dataset("movie-snippets")
    texts, gold = list(ds.test.texts[: a.sentences]), np.asarray(ds.test.labels[: a.sentences])
    teacher_pred = cached_teacher_logits(load_teacher(TEACHER), list(ds.test.texts))[0][: a.sentences].argmax(1)
    rows, platforms = [], {}
    for cpu in cpus:
        for model, rel, which in ROWS:
            if a.only and model not in a.only or a.formats and (which if isinstance(which, str) else "onnx") not in a.formats.split(","):
                continue
            bundle_dir = RUNS / rel
            if not (bundle_dir / "manifest.json").is_file():
                rows.append({"model": model, "bundle": rel, "format": which if isinstance(which, str) else "onnx", "cpu": cpu,
                             "error": f"runs/{rel} does not exist"})
                continue
            log(f"{model}: runs/{rel} ({which}) on {cpu}")
            got, platform = run_row(model, bundle_dir, which, texts, teacher_pred, gold, cpu)
            rows += got
            platforms.update(platform)
    diagnosis = []
    if a.diagnose:
        for r in rows:
            if r.get("passed") is False and r["format"] == "onnx":
                log(f"diagnosing {r['file']} on {r['cpu']}")
                bundle_dir = next(RUNS / rel for m, rel, _ in ROWS if m == r["model"] and (RUNS / rel / "manifest.json").is_file())
                diagnosis += diagnose(RUNS.resolve() / r["file"], bundle_dir, texts, r["cpu"])
    stamp = env.versions()
    meta = {"command": "python benchmarks/arm64_table.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "sentences": len(texts), "cpus": cpus, "diagnosis": diagnosis, "qemu": stamp.get("qemu"), "stamp_path": "$EDGEDISTILL_CACHE/arm64/stamp.json",
            "arm64_runtime": ", ".join(f"{k} {v}" for k, v in (platforms.get("arm64") or stamp["runtime"]).items() if v),
            "x86_runtime": ", ".join(f"{k} {v}" for k, v in (platforms.get("x86") or {}).items() if v)}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "arm64_parity.json").write_text(json.dumps({"meta": meta, "environment": stamp, "platforms": platforms, "rows": rows},
                                                        indent=2) + "\n")
    (a.out / "arm64_parity.md").write_text(markdown(rows, meta))
    print(markdown(rows, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
