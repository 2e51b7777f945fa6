"""ExecuTorch (.pte, XNNPACK) next to ONNX Runtime for the built-in teacher, a Transformer student and a BiLSTM student,
driven through the CLI a user runs (issue #27's acceptance run).

    python benchmarks/executorch_table.py [--work runs/executorch] [--models teacher,transformer-3L,bilstm] [--runs 200]
                                          [--reexport [teacher,transformer-3L]]

Per model it runs `edgedistill export CKPT --format onnx,executorch --precision fp32,int8 --out WORK/NAME --json ...`
(parity on the whole movie-snippets test split: 2,000 sentences), reads each file's size, agreement with the PyTorch fp32
checkpoint, max |logit diff|, accuracy and whether it shipped (or why not) from the export's own figures, then times every
shipped file of that model interleaved in one run (edge_runtime.bench_interleaved; batch 1, 1 thread, 64 real tokens) and
gives each file's p50 as a ratio to the ONNX Runtime file of the same precision. An export already in WORK from the same
command is reused (--reexport redoes it, for the named models only when given names). Last, it runs `edgedistill parity` and `edgedistill bench` on one bundle's .pte
file from the CLI and records the commands and their output. Writes benchmarks/results/executorch.{json,md}.

Models: the built-in teacher (distill.finetune_teacher on movie-snippets, cached), runs/frontier/transformer-3L and
runs/frontier/bilstm (made by benchmarks/frontier_table.py; --wait waits for its student.json). WORK is not committed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("EDGEDISTILL_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
FRONTIER = ROOT / "runs" / "frontier"
CLI = Path(sys.executable).parent / "edgedistill"
SEQ = 64


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "executorch")
    p.add_argument("--models", default="teacher,transformer-3L,bilstm")
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--reexport", nargs="?", const="all", default="",
                   help="export again even when WORK holds the same command's output: all models, or the comma-separated ones named")
    p.add_argument("--export-only", action="store_true", help="only run the exports (e.g. several models in parallel), no table")
    p.add_argument("--wait", type=float, default=0, help="seconds to wait for runs/frontier/bilstm/student.json")
    p.add_argument("--cli-demo", default="transformer-3L,bilstm", help="bundles on which `edgedistill parity` / `bench` run from the CLI ('' skips)")
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    t_start = time.perf_counter()
    a.work.mkdir(parents=True, exist_ok=True)
    (a.work / "logs").mkdir(exist_ok=True)
    names = [n for n in a.models.split(",") if n]
    checkpoints = {n: checkpoint(n, a.wait) for n in names}
    exports = {}
    for name, ckpt in checkpoints.items():
        if isinstance(ckpt, str):       # not there: reported, not hidden
            exports[name] = {"error": ckpt}
            continue
        exports[name] = export(name, ckpt, a.work, a.reexport == "all" or name in a.reexport.split(","))
        print(f"{name}: export exit {exports[name]['exit_code']} in {exports[name]['seconds']} s", flush=True)
    if a.export_only:
        return 0
    rows, benches = [], {}
    for name, ex in exports.items():
        if "error" in ex:
            rows.append({"model": name, "file": None, "error": ex["error"]})
            continue
        r, b = table_rows(name, checkpoints[name], ex, a.work / name, a.runs, a.warmup)
        rows += r
        benches[name] = b
    demo = {}
    for name in (n for n in a.cli_demo.split(",") if n):
        if name in exports and "error" not in exports[name] and (a.work / name / "manifest.json").is_file():
            demo |= {f"{name}/{k}": v for k, v in cli_demo(name, checkpoints, a.work).items()}
    payload = {"rows": rows, "exports": exports, "bench": {"batch": 1, "threads": 1, "seq_len": SEQ, "runs": a.runs, "warmup": a.warmup,
               "interleaved": "all files of one model (shipped ones, and re-made copies of those that failed parity) in one edge_runtime.bench_interleaved run", "raw": benches},
               "cli_demo": demo, "data": "movie-snippets test split (2,000 sentences)",
               "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "loadavg_at_end": os.getloadavg(),
                           "note": "2 cores shared with other jobs running at the same time: absolute times are inflated; ratios come from one interleaved run"},
               "wall_seconds": round(time.perf_counter() - t_start, 1)}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "executorch.json").write_text(json.dumps(payload, indent=2))
    md = markdown(payload)
    (a.out / "executorch.md").write_text(md)
    print(md)
    return 0


def checkpoint(name: str, wait: float) -> Path | str:
    """The model folder, or a one-line reason it is not there."""
    if name == "teacher":
        from distill import TeacherConfig, finetune_teacher, load_dataset

        return Path(finetune_teacher(load_dataset("movie-snippets"), TeacherConfig()).path)
    path = FRONTIER / name
    marker = path / ("student.json" if name in ("bilstm", "gru", "cnn", "static") else "config.json")
    deadline = time.time() + wait
    while not marker.is_file() and time.time() < deadline:
        time.sleep(20)
    if not marker.is_file():
        return f"{marker} does not exist (benchmarks/frontier_table.py makes it); run `make bench-frontier` first"
    return path


def buckets_for(ckpt: Path) -> str:
    """A recurrent student is lowered once per bucket (unrolled LSTM, slow): buckets up to its own max_len only."""
    meta = ckpt / "student.json"
    if not meta.is_file():
        return "16,32,64,128"
    max_len = int(json.loads(meta.read_text()).get("max_len", 128))
    return ",".join(str(b) for b in sorted({b for b in (16, 32, 64, 128) if b < max_len} | {max_len}))


def export(name: str, ckpt: Path, work: Path, reexport: bool) -> dict:
    """Run the CLI export (or reuse the same command's earlier output); returns command, exit code, seconds, its rows."""
    out, figures, record = work / name, work / f"{name}.export.json", work / f"{name}.run.json"
    cmd = [str(CLI), "export", str(ckpt), "--format", "onnx,executorch", "--precision", "fp32,int8", "--buckets", buckets_for(ckpt),
           "--out", str(out), "--json", str(figures), "--force"]
    shown = " ".join(["edgedistill", *map(shlex.quote, cmd[1:])])
    if not reexport and record.is_file():
        old = json.loads(record.read_text())
        if old.get("command") == shown and (figures.is_file() or old.get("exit_code") not in (0, None)):
            return old | {"reused": True, "figures": json.loads(figures.read_text()) if figures.is_file() else None}
    figures.unlink(missing_ok=True)
    log = work / "logs" / f"{name}.export.log"
    t0 = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log, "w") as f:
        rc = subprocess.call(["nice", "-n", "5", *cmd], stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    rec = {"command": shown, "exit_code": rc, "seconds": round(time.perf_counter() - t0, 1), "log": str(log.relative_to(ROOT) if log.is_relative_to(ROOT) else log),
           "log_tail": log.read_text(errors="replace").strip().splitlines()[-3:]}
    record.write_text(json.dumps(rec, indent=1))
    return rec | {"figures": json.loads(figures.read_text()) if figures.is_file() else None}


def table_rows(name: str, ckpt: Path, ex: dict, bundle_dir: Path, runs: int, warmup: int) -> tuple[list[dict], dict]:
    from edge_runtime import BenchConfig, Bundle, bench_interleaved, fixed_length_feeds, load

    fig = ex.get("figures") or {}
    rows = []
    for r in fig.get("rows", []):
        if r.get("input") == "text":
            continue
        rows.append({"model": name, "format": r["format"], "precision": r["precision"], "size_bytes": r["size_bytes"],
                     "agreement_with_pytorch_fp32": r["agreement_with_source"], "max_abs_logit_diff": r["max_abs_logit_diff"],
                     "accuracy": r["accuracy"], "pytorch_fp32_accuracy": r.get("source_accuracy"), "shipped": bool(r["passed"]),
                     "why_not": "; ".join(r.get("failures") or []) or None, "sentences": fig.get("sentences"), "family": r.get("family")})
    if not rows:
        return [{"model": name, "file": None, "error": f"export exit {ex['exit_code']}, no figures: " + " / ".join(ex.get("log_tail", []))}], {}
    if not (bundle_dir / "manifest.json").is_file():
        return rows, {}
    bundle = Bundle.open(bundle_dir)
    files = {(m["format"], m["precision"]): m["file"] for m in bundle.manifest["models"]}
    kept = {(m["format"], m["precision"]): (m.get("metadata") or {}).get("edgedistill.executorch.int8_fp32") for m in bundle.manifest["models"]}
    tok = bundle.tokenizer()
    from distill import load_dataset

    feed = fixed_length_feeds(lambda t: bundle.encode(t, tokenizer=tok), load_dataset("movie-snippets").test.texts[:60], SEQ)
    paths = {key: bundle.resolve(f) for key, f in files.items()}
    for r in rows:
        key = (r["format"], r["precision"])
        if key in files:
            r["file"] = files[key]
            if kept.get(key) is not None:
                r["int8_fp32_linears"] = [n for n in kept[key].split(",") if n]
        elif r["size_bytes"] and not r["shipped"] and ("onnx", "fp32") in files:
            # a file that converted but failed parity is not kept: re-make it as the CLI did, to time it all the same
            target = bundle_dir.parent / f"{name}.{r['format']}-{r['precision']}-timing-only.{'onnx' if r['format'] == 'onnx' else 'pte'}"
            transformer = r.get("family") not in ("bilstm", "gru", "cnn", "static")
            try:
                if target.is_file() and target.stat().st_mtime > (bundle_dir / "manifest.json").stat().st_mtime:
                    paths[key] = target   # re-made after this export already
                elif r["format"] == "onnx":
                    paths[key] = timing_onnx(paths[("onnx", "fp32")], r["precision"], target, transformer)
                elif r["format"] == "executorch":
                    paths[key] = timing_pte(ckpt, r["precision"], target, buckets_for(ckpt))
                r["file"] = f"{target.name} (failed parity, so not shipped; re-made with the CLI's settings to time it)"
            except Exception as e:   # recorded, not hidden
                r["timing_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    runners = {f"{f}/{p}": load(path, threads=1) for (f, p), path in sorted(paths.items())}
    seq = int(feed["input_ids"].shape[1])
    res = bench_interleaved(runners, feed, BenchConfig(warmup=warmup, runs=runs, threads=1, seq_len=seq))
    raw = {k: {"latency_ms": {q: round(v, 4) for q, v in b.latency_ms.items() if isinstance(v, (int, float))},
               "vs_baseline": b.vs_baseline} for k, b in res.items()}
    for r in rows:
        key = f"{r['format']}/{r['precision']}"
        if key not in res:
            continue
        lat = res[key].latency_ms
        r["seq_len"] = seq
        r["latency_ms"] = {q: round(lat[q], 4) for q in ("min", "p50", "p90", "p99") if q in lat}
        ref = res.get(f"onnx/{r['precision']}")
        if ref is not None:
            r["x_onnx_same_precision_p50"] = round(lat["p50"] / ref.latency_ms["p50"], 3)
            paired = _paired(res[key], ref)
            if paired is not None:
                r["x_onnx_same_precision_paired"] = paired
    return rows, raw


def timing_onnx(fp32: Path, precision: str, path: Path, transformer: bool) -> Path:
    """The ONNX file of `precision` made as `edgedistill export` makes it (edgedistill/_export.py, default options), for timing."""
    from export import QuantConfig, quantize_onnx
    from export.artifact import Artifact
    from export.quantize import TRANSFORMER_INT8

    per_token = bool(TRANSFORMER_INT8.get("per_token")) and precision == "int8" and transformer
    quantize_onnx(Artifact.for_file(fp32, "onnx", "fp32", [], []), path, QuantConfig(precision, transformer=transformer, per_token=per_token),
                  force=True)
    return path


def timing_pte(ckpt: Path, precision: str, path: Path, buckets: str) -> Path:
    """The .pte of `precision` lowered as `edgedistill export` lowers it (edgedistill/_export.py), kept although past its tolerance."""
    import json as _json
    from dataclasses import asdict

    from distill import load_dataset
    from edgedistill._export import load_checkpoint
    from export.executorch import ExecuTorchConfig, to_executorch

    model, encoder, labels, kind = load_checkpoint(ckpt)
    meta = {"edgedistill.labels": ",".join(labels), "edgedistill.max_len": str(encoder.max_len), "edgedistill.kind": kind,
            "edgedistill.tokenizer": _json.dumps(asdict(encoder.settings))}
    sample = encoder.encode(load_dataset("movie-snippets").test.texts[:2])
    to_executorch(model, sample, path, ExecuTorchConfig(precision, buckets=tuple(int(b) for b in buckets.split(","))), metadata=meta,
                  force=True, strict=False)
    return path


def _paired(a, b) -> float | None:
    """Median of per-round ratios a/b (drift within the run cancels), when the results keep their samples."""
    import numpy as np

    sa, sb = a.latencies_ms, b.latencies_ms
    if not sa or len(sa) != len(sb):
        return None
    return round(float(np.median(np.asarray(sa) / np.asarray(sb))), 3)


def cli_demo(name: str, checkpoints: dict, work: Path) -> dict:
    """`edgedistill parity` and `edgedistill bench` on one bundle's .pte file, as a user types them."""
    bundle = work / name
    manifest = json.loads((bundle / "manifest.json").read_text())
    pte = next((m["file"] for m in manifest["models"] if m["format"] == "executorch"), None)
    onnx = next((m["file"] for m in manifest["models"] if m["format"] == "onnx" and m["precision"] == "int8"), None)
    if pte is None:
        return {"parity": {"error": f"{bundle} ships no .pte file"}}
    teacher = checkpoints.get("teacher") if isinstance(checkpoints.get("teacher"), Path) else checkpoint("teacher", 0)
    cmds = {"parity": ["parity", str(bundle), "--teacher", str(teacher), "--source", str(checkpoints[name]), "--json", str(work / f"{name}.parity.json")],
            "bench": ["bench", str(bundle / pte), *([str(bundle / onnx)] if onnx else []), "--runs", "100", "--threads", "1", "--seq-len", str(SEQ),
                      "--json", str(work / f"{name}.bench.json")]}
    out = {}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "160"}
    for key, args in cmds.items():
        t0 = time.perf_counter()
        proc = subprocess.run(["nice", "-n", "5", str(CLI), *args], capture_output=True, text=True, env=env, cwd=ROOT)
        out[key] = {"command": " ".join(["edgedistill", *map(shlex.quote, args)]), "exit_code": proc.returncode,
                    "seconds": round(time.perf_counter() - t0, 1), "stdout": proc.stdout[-4000:], "stderr": proc.stderr[-1500:]}
        print(f"$ {out[key]['command']}\n{proc.stdout[-3000:]}{proc.stderr[-800:]}(exit {proc.returncode})", flush=True)
    return out


def _short(command: str) -> str:
    """A command as a user in the repository types it: paths relative to it, the teacher cache as ~."""
    return command.replace(f"{ROOT}/", "").replace(str(Path.home()), "~")


def markdown(payload: dict) -> str:
    b = payload["bench"]
    lines = [f"ExecuTorch 1.5.1 (.pte, XNNPACK delegate) vs ONNX Runtime, exported by the CLI (`edgedistill export CKPT --format "
             f"onnx,executorch --precision fp32,int8`). Agreement = same label as the PyTorch fp32 checkpoint on the "
             f"{payload['data']}; p50 at batch {b['batch']}, {b['threads']} thread, {b['seq_len']} real tokens, {b['runs']} runs, "
             "all files of one model interleaved in one run; x ORT = p50 / p50 of the ONNX Runtime file of the same precision "
             "(paired = median of per-round ratios).", "",
             f"Machine: {payload['machine']['cores']} cores shared with other jobs (load average at the end "
             f"{payload['machine']['loadavg_at_end'][0]:.1f}): absolute times are inflated, the ratios are from one interleaved run.", "",
             "| model | file | size MB | agree w/ PyTorch fp32 | max abs logit diff | accuracy | shipped | p50 ms | x ORT same prec. p50 (paired) |",
             "|---|---|---|---|---|---|---|---|---|"]
    pct = lambda v: "-" if v is None else f"{v:.2%}"
    for r in payload["rows"]:
        if r.get("error"):
            lines.append(f"| {r['model']} | - | - | - | - | - | not run: {r['error'][:300]} | - | - |")
            continue
        ext = {"onnx": "onnx", "executorch": "pte"}.get(r["format"], r["format"])
        size = "-" if r["size_bytes"] is None else f"{r['size_bytes'] / 1e6:.1f}"
        diff = "-" if r["max_abs_logit_diff"] is None else f"{r['max_abs_logit_diff']:.3g}"
        ship = "yes" if r["shipped"] else f"no: {(r['why_not'] or '')[:240]}"
        if not r["shipped"] and r.get("latency_ms"):
            ship += " (timed from a copy re-made with the CLI's settings)"
        if r.get("timing_error"):
            ship += f" (not timed: {r['timing_error']})"
        lat = r.get("latency_ms", {}).get("p50")
        ratio = r.get("x_onnx_same_precision_p50")
        ratio_s = "-" if ratio is None else f"{ratio:.2f}" + (f" ({r['x_onnx_same_precision_paired']:.2f})" if "x_onnx_same_precision_paired" in r else "")
        prec = r["precision"] + (f" ({len(r['int8_fp32_linears'])} Linears fp32)" if r.get("int8_fp32_linears") else "")
        lines.append(f"| {r['model']} | {ext} {prec} | {size} | {pct(r['agreement_with_pytorch_fp32'])} | {diff} | "
                     f"{pct(r['accuracy'])} | {ship} | {'-' if lat is None else f'{lat:.2f}'} | {ratio_s} |")
    for r in payload["rows"]:
        if r.get("int8_fp32_linears"):
            lines.append(f"\n{r['model']} {r['format']} {r['precision']}: Linears left fp32 by the quantizer (ExecuTorchConfig.int8_fp32 default): "
                         + ", ".join(f"`{n}`" for n in r["int8_fp32_linears"]) + ".")
    lines += ["", "Commands (exit code, wall seconds on the loaded machine):", ""]
    for name, ex in payload["exports"].items():
        if "command" in ex:
            lines.append(f"- `{_short(ex['command'])}` (exit {ex['exit_code']}, {ex['seconds']} s{', reused' if ex.get('reused') else ''})")
        else:
            lines.append(f"- {name}: {ex.get('error')}")
    demo = payload.get("cli_demo") or {}
    for key, run in demo.items():
        if "command" not in run:
            lines.append(f"- {key}: {run.get('error')}")
            continue
        lines.append(f"- `{_short(run['command'])}` (exit {run['exit_code']}, {run['seconds']} s)")
        if key.endswith("/parity"):   # its verdict lines, one per file
            lines += [f"  - {line.strip()}" for line in run["stdout"].splitlines() if line.rstrip().endswith(("PASS", "FAIL", "FAILED"))]
    lines.append(f"\nWall time {payload['wall_seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
