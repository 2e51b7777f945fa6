"""The accuracy-latency frontier (issue 23): every student kind distilled from the built-in teacher on movie-snippets,
exported to ONNX fp32 and int8, and timed in one interleaved run with the teacher (PyTorch and its int8 ONNX file).

    python benchmarks/frontier_table.py                   # make bench-frontier (about an hour on 2 quiet cores)
    python benchmarks/frontier_table.py --quick           # 1 epoch, 300 test sentences, 30 timed runs (a smoke run)
    python benchmarks/frontier_table.py --only static cnn # a subset of STUDENTS (the teacher rows always run)

For each file: test accuracy (ONNX Runtime over the test split), agreement with the teacher's PyTorch predictions,
size, p50 at batch 1 / 1 thread at seq 64 and at the test split's median token length, and end to end (tokenizer
included, the real test sentences), with the ratios to the teacher in PyTorch and to the teacher's int8 ONNX file. The
label-only controls train the same student on the gold labels alone. Rows with "TA" learn from a teacher assistant
(`distill --assistant`): the 3-layer Transformer student's logits instead of, or mixed with, the teacher's.
Peers (model2vec, fastText: benchmarks/peers/fast_peers.py, `make bench-fast-peers`) join from their own JSON when it
exists; their latency comes from their own interleaved run, marked in the table.

Checkpoints and bundles go to WORK (default runs/frontier, not committed); a trained student is reused when its
request is unchanged, so an interrupted run resumes. Writes benchmarks/results/frontier{_quick}.{json,md,html}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("EDGEDISTILL_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
ASSISTANT = "transformer-3L"
# name -> DistillConfig options (epochs are set by the run); the assistant trains first, the TA rows read it
STUDENTS: dict[str, dict] = {
    ASSISTANT: {"student": "transformer", "layers": 3, "epochs": 2},
    "static": {"student": "static", "augment": 4},
    "static, label-only": {"student": "static", "loss": "ce"},
    "static + TA": {"student": "static", "augment": 4, "assistant": ASSISTANT},
    "cnn": {"student": "cnn", "augment": 4},
    "cnn, label-only": {"student": "cnn", "loss": "ce"},
    "cnn + TA": {"student": "cnn", "augment": 4, "assistant": ASSISTANT},
    "cnn 128-d": {"student": "cnn", "augment": 4, "embed_dim": 128},   # PCA of the embeddings to 128 (the BiLSTM's width): 3x smaller windows
    "bilstm": {"student": "bilstm", "augment": 4},
    "bigru": {"student": "gru", "augment": 4},
    "bigru + TA": {"student": "gru", "augment": 4, "assistant": ASSISTANT},
    "bigru + TA/teacher mix": {"student": "gru", "augment": 4, "assistant": ASSISTANT, "assistant_weight": 0.5},
}
KINDS = {"transformer": "transformer", "static": "static", "cnn": "cnn", "bilstm": "bilstm", "gru": "bigru"}
BUDGETS_MS = (0.1, 0.5, 1, 3, 10)


def log(msg: str) -> None:
    print(f"[frontier {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def train(name: str, options: dict, teacher_path: Path, work: Path, epochs: int | None) -> dict:
    """The student's checkpoint (trained now unless WORK holds one from the same request) and its distill metrics."""
    from edgedistill.api import DistillConfig, distill

    options = dict(options)
    if "assistant" in options:
        options["assistant"] = work / slug(options["assistant"])
    if epochs is not None and "epochs" not in options:
        options["epochs"] = epochs
    if epochs is not None and options["student"] == "transformer":
        options["epochs"] = min(options["epochs"], epochs)
    if "epochs" not in options:
        options["epochs"] = 3     # over 7,041 + 28,164 augmented sentences: best-on-dev within 3 for every kind here
    out = work / slug(name)
    request = {k: str(v) for k, v in options.items()}
    stamp = out.parent / f".{out.name}.request.json"
    if out.is_dir() and stamp.is_file() and json.loads(stamp.read_text()) == request:
        meta = out / ("metrics.json" if options["student"] == "transformer" else "student.json")
        return json.loads(meta.read_text())["result"]
    log(f"training {name}: {request}")
    t0 = time.perf_counter()
    result = distill(DistillConfig(teacher=teacher_path, out=out, force=True, **options))
    stamp.write_text(json.dumps(request))
    log(f"  {name}: test {result.metrics['test_accuracy']:.2%} in {time.perf_counter() - t0:.0f} s")
    return result.metrics


def slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-").replace("--", "-")


def export(checkpoint: Path, out: Path, validate: int) -> None:
    """ONNX fp32 + int8 bundle of `checkpoint` (the default recipes), with parity on the test split, unless `out` has one."""
    from edgedistill.api import ExportConfig, export_checkpoint

    if not (out / "manifest.json").is_file():
        export_checkpoint(ExportConfig(checkpoint=checkpoint, out=out, formats=("onnx",), precisions=("fp32", "int8"), validate=validate, force=True))


def plain_int8(fp32: Path, work: Path) -> Path:
    """Per-channel dynamic int8 of the teacher's fp32 file, for when the export default did not pass parity."""
    from export import QuantConfig, quantize_onnx
    from export.onnx import artifact_for, read_metadata

    out = work / "teacher.plain-int8.onnx"
    if not out.is_file():
        quantize_onnx(artifact_for(fp32, "fp32", {}, read_metadata(fp32), {}), out, QuantConfig("int8", transformer=True))
    return out


def accuracy(logits, labels) -> float:
    import numpy as np

    return float((np.asarray(logits).argmax(-1) == np.asarray(labels)).mean())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 epoch, 300 test sentences, 30 timed runs")
    p.add_argument("--only", nargs="*", default=None, help=f"students to run, of: {', '.join(STUDENTS)}")
    p.add_argument("--runs", type=int, default=200, help="timed runs per file in the interleaved latency run")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "frontier")
    p.add_argument("--peers", type=Path, default=RESULTS / "fast_peers.json")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--from-json", type=Path, default=None, help="re-read a frontier.json, merge the peers file again and rewrite the tables (no training, no timing)")
    a = p.parse_args(argv)
    if a.from_json is not None:
        return rewrite(a.from_json, a.peers, a.out, a.quick)
    unknown = set(a.only or ()) - set(STUDENTS)
    if unknown:
        p.error(f"unknown student(s) {', '.join(sorted(unknown))}; choose from {', '.join(STUDENTS)}")

    import torch

    torch.set_num_threads(1)
    from distill import TeacherConfig, finetune_teacher, load_dataset
    from distill.teacher import predict_logits
    from edge_runtime import BenchConfig, Bundle, bench_interleaved, fixed_length_feeds, load
    from edge_runtime.benchmark import end_to_end
    from edge_runtime.frontier import frontier_budgets, pareto_rows
    from edge_runtime.runners import TorchRunner

    t_start = time.perf_counter()
    load_start = os.getloadavg()
    work = a.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    ds = load_dataset("movie-snippets")
    teacher = finetune_teacher(ds, TeacherConfig())
    n_test = 300 if a.quick else len(ds.test)
    texts, labels = ds.test.texts[:n_test], list(ds.test.labels[:n_test])
    teacher_logits = predict_logits(teacher.model, teacher.encoder, texts)
    teacher_pred = teacher_logits.argmax(-1)
    teacher_acc = accuracy(teacher_logits, labels)
    lengths = [len(teacher.encoder.tokenizer.encode(t).ids) for t in texts]
    median_len = int(statistics.median(lengths))
    log(f"teacher test {teacher_acc:.2%} on {n_test} sentences; median length {median_len} tokens (template included)")

    names = [n for n in STUDENTS if a.only is None or n in a.only]
    helped = [n for n in names if "assistant" in STUDENTS[n]]
    if helped or ASSISTANT in names:   # the assistant trains after the students that do not need it, right before those that do
        names = [n for n in names if n not in helped and n != ASSISTANT] + [ASSISTANT] + helped
    trained = {n: train(n, STUDENTS[n], teacher.path, work, 1 if a.quick else None) for n in names}

    files: dict[str, dict] = {}      # row name -> {path, bundle, kind, training, ...}
    export(teacher.path, work / "teacher.bundle", n_test)
    bundles = {"teacher": Bundle.open(work / "teacher.bundle")}
    for n in names:
        export(work / slug(n), work / f"{slug(n)}.bundle", n_test)
        bundles[n] = Bundle.open(work / f"{slug(n)}.bundle")
    for n, bundle in bundles.items():
        manifest = bundle.manifest
        failed = {(r["format"], r["precision"]): r for r in manifest["parity"]["rows"] if not r.get("passed", True)}
        for entry in manifest["models"]:
            row = f"{n} {entry['precision']}"
            opts = STUDENTS.get(n, {})
            files[row] = {"student": n, "path": bundle.resolve(entry["file"]), "precision": entry["precision"],
                          "kind": "teacher" if n == "teacher" else KINDS[opts["student"]],
                          "training": "teacher" if n == "teacher" else _training(opts)}
        for (fmt, prec), r in failed.items():
            log(f"  {n} {fmt}/{prec} not shipped: {'; '.join(r.get('failures', []))}")
    if "teacher int8" not in files:   # the reference every x-teacher-int8 ratio needs: plain per-channel int8, said so
        files["teacher int8"] = {"student": "teacher", "path": plain_int8(bundles["teacher"].model_path("fp32", "onnx"), work),
                                 "precision": "int8", "kind": "teacher", "training": "teacher (default int8 failed parity: plain per-channel)"}

    log("accuracy of every file on the test split")
    for f in files.values():
        bundle = bundles[f["student"]]
        runner = load(f["path"], threads=1)
        logits = bundle.logits(runner, texts)
        f["accuracy"], f["agreement"] = accuracy(logits, labels), float((logits.argmax(-1) == teacher_pred).mean())
        f["size_mb"] = f["path"].stat().st_size / 1e6

    config = BenchConfig(warmup=5 if a.quick else 20, runs=30 if a.quick else a.runs, threads=1)
    runners = {"teacher pytorch": TorchRunner(teacher.model, threads=1, name="teacher")}
    runners |= {row: load(f["path"], threads=1) for row, f in files.items()}
    timing = {}
    # each encode holds its tokenizer, as an app does (else every end-to-end call would also read tokenizer.json)
    encoders = {n: (lambda texts, b=b, tok=b.tokenizer(): b.encode(texts, tokenizer=tok)) for n, b in bundles.items()}
    # "seq64" etc.: each timed call follows the other runners (the teacher's 90 MB of weights pass through the caches in
    # between, as in an app that runs other work between classifications); "warm": one untimed call of the same model
    # right before each timed one, as a model running back to back
    warm = replace(config, warm_calls=1)
    for label, workload, cfg in (("seq64", lambda enc: fixed_length_feeds(enc, texts[:64], 64), config),
                                 ("seq64_warm", lambda enc: fixed_length_feeds(enc, texts[:64], 64), warm),
                                 ("median", lambda enc: fixed_length_feeds(enc, texts[:64], median_len), config),
                                 ("e2e", lambda enc: end_to_end(enc, texts[:200]), config)):
        log(f"latency, interleaved: {label} ({len(runners)} runners)")
        feeds = {"teacher pytorch": workload(encoders["teacher"])}
        feeds |= {row: workload(encoders[f["student"]]) for row, f in files.items()}
        timing[label] = {k: v.latency_ms for k, v in bench_interleaved(runners, feeds, cfg).items()}

    t_torch = timing["seq64"]["teacher pytorch"]["p50"]
    t_int8 = timing["seq64"]["teacher int8"]["p50"]
    rows = [{"name": "teacher pytorch", "kind": "teacher", "format": "pytorch", "precision": "fp32", "accuracy": teacher_acc, "agreement": 1.0,
             "size_mb": sum(p.numel() for p in teacher.model.parameters()) * 4 / 1e6, "training": "fine-tuned", "peer": False}]
    rows += [{"name": row, "kind": f["kind"], "format": "onnx", "precision": f["precision"], "accuracy": f["accuracy"],
              "agreement": f["agreement"], "size_mb": f["size_mb"], "training": f["training"], "peer": False} for row, f in files.items()]
    for r in rows:
        r["p50_ms"] = timing["seq64"][r["name"]]["p50"]
        r["p50_ms_median"] = timing["median"][r["name"]]["p50"]
        r["p50_ms_e2e"] = timing["e2e"][r["name"]]["p50"]
        r["p50_ms_warm"] = timing["seq64_warm"][r["name"]]["p50"]
    rows += peer_rows(a.peers)
    teacher_row = {"name": "teacher", "accuracy": teacher_acc, "p50_ms_torch": t_torch, "p50_ms_int8": t_int8,
                   "p50_ms_torch_warm": timing["seq64_warm"]["teacher pytorch"]["p50"],
                   "p50_ms_int8_warm": timing["seq64_warm"]["teacher int8"]["p50"]}
    add_ratios(rows, teacher_row)
    for r in rows:
        r["name"] = r["name"].replace("teacher int8", "teacher onnx int8").replace("teacher fp32", "teacher onnx fp32")
    ours = [r for r in rows if not r["peer"] and r["kind"] != "teacher"]
    frontier = {
        "title": "Accuracy-latency frontier: every student kind vs the teacher (movie-snippets)",
        "setup": (f"{n_test} test sentences; ONNX Runtime / PyTorch, batch 1, 1 thread, seq 64 (and the median {median_len} tokens), "
                  f"{config.runs} interleaved runs; {platform.machine()}, {os.cpu_count()} cores, load at start {load_start[0]:.1f}"),
        "teacher": teacher_row,
        "rows": rows,
        "budgets": frontier_budgets(ours, BUDGETS_MS),
        "pareto": {"latency": pareto_rows(ours, "p50_ms"), "size": pareto_rows(ours, "size_mb")},
        "targets": targets(rows, teacher_acc, same_run_static(a.peers)),
        "students": {n: {k: v for k, v in m.items() if isinstance(v, (int, float, str))} for n, m in trained.items()},
        "median_len": median_len, "wall_s": round(time.perf_counter() - t_start),
        "command": "python benchmarks/frontier_table.py" + (" --quick" if a.quick else ""),
    }
    write(frontier, a.out, a.quick)
    return 0


def rewrite(path: Path, peers: Path, out: Path, quick: bool) -> int:
    """A finished frontier with the peers file merged again (e.g. after fast_peers.py --ours-onnx timed our static file)."""
    frontier = json.loads(path.read_text())
    teacher = frontier["teacher"]
    rows = [r for r in frontier["rows"] if not r["peer"]] + peer_rows(peers)
    add_ratios(rows, teacher)
    frontier["rows"], frontier["targets"] = rows, targets(rows, teacher["accuracy"], same_run_static(peers))
    write(frontier, out, quick)
    return 0


def add_ratios(rows: list[dict], teacher: dict) -> None:
    """Each row's speed-up over the teacher in PyTorch and over its int8 file, cold and (where timed) warm."""
    for r in rows:
        r["x_teacher_torch"], r["x_teacher_int8"] = teacher["p50_ms_torch"] / r["p50_ms"], teacher["p50_ms_int8"] / r["p50_ms"]
        if r.get("p50_ms_warm") and "p50_ms_torch_warm" in teacher:
            r["x_teacher_torch_warm"] = teacher["p50_ms_torch_warm"] / r["p50_ms_warm"]
            r["x_teacher_int8_warm"] = teacher["p50_ms_int8_warm"] / r["p50_ms_warm"]


def _training(opts: dict) -> str:
    if opts.get("loss") == "ce":
        return "label-only"
    parts = ["distilled"] + (["aug"] if opts.get("augment") else [])
    if "assistant" in opts:
        parts.append(f"TA {opts.get('assistant_weight', 1.0):g}")
    return ", ".join(parts)


def peer_rows(path: Path) -> list[dict]:
    """model2vec / fastText rows from benchmarks/peers/fast_peers.py: model-only p50 where the peer has one (else its end
    to end p50, said in `note`)."""
    if not path.is_file():
        log(f"no peers file at {path} (make bench-fast-peers); the frontier has our students only")
        return []
    out = []
    for r in json.loads(path.read_text()).get("rows", []):
        if r.get("tool") == "edgedistill":   # one of ours timed in the peers' loop (--ours-onnx): read by targets()
            continue
        model = r.get("p50_ms_model")
        out.append({"name": r["name"], "kind": "peer", "format": r.get("tool", r["name"]), "precision": r.get("precision", "fp32"),
                    "accuracy": r["accuracy"], "agreement": r.get("agreement"), "size_mb": r["size_mb"], "training": "peer",
                    "p50_ms": model if model is not None else r["p50_ms_e2e"], "p50_ms_median": r.get("p50_ms_model_median"),
                    "p50_ms_e2e": r["p50_ms_e2e"], "peer": True,
                    "note": ("model-only" if model is not None else "end to end (no separate model call)") + ", from its own run"})
    return out


def same_run_static(path: Path) -> dict | None:
    """Our static student as fast_peers.py --ours-onnx timed it: end to end in the same loop as the peers."""
    if not path.is_file():
        return None
    return next((r for r in json.loads(path.read_text()).get("rows", []) if r.get("tool") == "edgedistill"), None)


def targets(rows: list[dict], teacher_acc: float, same_run: dict | None = None) -> list[dict]:
    """The issue's three targets, each with the row that meets it or the closest one. The static-vs-peers target compares
    end-to-end p50s from one loop when `same_run` (our static file timed among the peers) is given, else across runs."""
    ours = [r for r in rows if not r["peer"] and r["kind"] != "teacher"]

    def best(pred, key):
        hits = [r for r in ours if pred(r)]
        return max(hits, key=key) if hits else None

    out = []
    for suffix, how in (("", ""), ("_warm", ", warm")):
        if suffix and not all(f"x_teacher_torch{suffix}" in r for r in ours):
            continue
        torch_x, int8_x = f"x_teacher_torch{suffix}", f"x_teacher_int8{suffix}"
        fast = best(lambda r, t=torch_x, i=int8_x: r[t] >= 50 and r[i] >= 15, lambda r: r["accuracy"])
        out.append({"target": f">= 50x teacher PyTorch and >= 15x teacher int8, within 4 points{how}", "row": fast and fast["name"],
                    "met": bool(fast and teacher_acc - fast["accuracy"] <= 0.04), "accuracy": fast and fast["accuracy"]})
        close = best(lambda r, i=int8_x: r[i] >= 8, lambda r: r["accuracy"])
        out.append({"target": f">= 8x teacher int8 within 1 point{how}", "row": close and close["name"],
                    "met": bool(close and teacher_acc - close["accuracy"] <= 0.01), "accuracy": close and close["accuracy"]})
    peers = [r for r in rows if r["peer"]]
    static = [r for r in ours if r["kind"] == "static"]
    if peers and static:
        s = max(static, key=lambda r: r["accuracy"])
        e2e, how = (same_run["p50_ms_e2e"], "one loop with the peers") if same_run else (s["p50_ms_e2e"], "across runs")
        beaten = [p["name"] for p in peers if e2e <= p["p50_ms_e2e"] and s["accuracy"] - p["accuracy"] >= (0.02 if "model2vec" in p["name"] else 0)]
        out.append({"target": f"static beats model2vec by >= 2 points and fastText, at equal or lower latency (end to end, {how})",
                    "row": s["name"], "met": len(beaten) == len(peers), "beats": beaten, "accuracy": s["accuracy"], "p50_ms_e2e": e2e})
    return out


def markdown(f: dict) -> str:
    pct = lambda x: "-" if x is None else f"{x:.2%}"
    ms = lambda x: "-" if x is None else (f"{x:.3f}" if x < 1 else f"{x:.2f}")
    times = lambda x: "-" if x is None else f"{x:.1f}x"
    lines = [f"# {f['title']}", "", f"{f['setup']}. Command: `{f['command']}`; wall {f['wall_s'] / 60:.0f} min (students already in WORK "
             "are reused, not retrained).", "", "Warm: one untimed call of the same model right before each timed one (its weights in "
             "cache, as when it runs back to back); the other columns time each call right after the other runners, the teacher's "
             "90 MB included, which evicts a small model's weights from the caches. Peers: from benchmarks/peers/fast_peers.py's own "
             "interleaved run (their x-teacher ratios mix two runs).", "",
             f"Teacher: {pct(f['teacher']['accuracy'])}; p50 {ms(f['teacher']['p50_ms_torch'])} ms in PyTorch, "
             f"{ms(f['teacher']['p50_ms_int8'])} ms as its int8 ONNX file (seq 64).", "",
             "| model | kind | training | prec. | test acc | agree w/ teacher | size MB | p50 ms seq 64 | p50 ms seq 64 warm | p50 ms median len | p50 ms end to end | x teacher torch | x teacher int8 | x teacher int8 warm | front |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    front = set(f["pareto"]["latency"]) | set(f["pareto"]["size"])
    for r in sorted(f["rows"], key=lambda r: r["p50_ms"]):
        on = " / ".join(k for k in ("latency", "size") if r["name"] in f["pareto"][k])
        lines.append(f"| {r['name']}{' (' + r['note'] + ')' if r.get('note') else ''} | {r['kind']} | {r['training']} | {r['precision']} | "
                     f"{pct(r['accuracy'])} | {pct(r.get('agreement'))} | {r['size_mb']:.2f} | {ms(r['p50_ms'])} | {ms(r.get('p50_ms_warm'))} | "
                     f"{ms(r.get('p50_ms_median'))} | {ms(r.get('p50_ms_e2e'))} | {r['x_teacher_torch']:.1f}x | {r['x_teacher_int8']:.1f}x | "
                     f"{times(r.get('x_teacher_int8_warm'))} | {on if r['name'] in front else ''} |")
    lines += ["", "Which student to ship under a latency budget (p50, seq 64, batch 1, 1 thread; ours only):", "",
              "| budget | ship | test acc |", "|---|---|---|"]
    lines += [f"| <= {b['ms']:g} ms | {b['ship'] or 'nothing measured runs this fast'} | {pct(b['accuracy'])} |" for b in f["budgets"]]
    lines += ["", "Targets:", ""]
    for t in f["targets"]:
        lines.append(f"- {t['target']}: {'met by' if t['met'] else 'NOT met; closest'} {t['row'] or 'none'} at {pct(t['accuracy'])}"
                     + (f"; beats {', '.join(t['beats']) or 'none'}" if "beats" in t else ""))
    lines += ["", "Students trained (distill metrics):", "", "| student | test acc (PyTorch) | best dev | transfer sentences | seconds |", "|---|---|---|---|---|"]
    for n, m in f["students"].items():
        lines.append(f"| {n} | {pct(m.get('test_accuracy'))} | {pct(m.get('best_dev_accuracy'))} | {m.get('transfer_sentences', '-')} | {m.get('seconds', '-')} |")
    return "\n".join(lines) + "\n"


def write(frontier: dict, out: Path, quick: bool) -> None:
    from edge_runtime.html import render_frontier_html

    out.mkdir(parents=True, exist_ok=True)
    stem = out / ("frontier_quick" if quick else "frontier")
    stem.with_suffix(".json").write_text(json.dumps(frontier, indent=2, default=str))
    md = markdown(frontier)
    stem.with_suffix(".md").write_text(md)
    stem.with_suffix(".html").write_text(render_frontier_html(frontier))
    print(md)


if __name__ == "__main__":
    sys.exit(main())
