"""bench-long: long documents (issue 25) on the built-in `imdb` (IMDb reviews, Maas et al. 2011; median 172 words),
through the Python API users call.

    python benchmarks/long_table.py                                  # the table (make bench-long)
    python benchmarks/long_table.py --tiny                           # a few minutes' proof that every part runs

Parts, each written to benchmarks/results/long_table.json and .md as soon as it is done:

  lengths    accuracy and latency against max length (--lengths, default 64,128,256,512): the teacher (built-in
             MiniLM-L6 base, `finetune_teacher` at that max_len) and three students distilled from it, which inherit
             the length (--students: a 3-layer Transformer, the BiLSTM and the static student, the fastest), each
             exported to ONNX fp32 + int8 with parity; accuracy = the int8 file's on the test split (`parity`), or the
             fp32 file's where the int8 one failed parity and was left out (marked); latency = p50 at batch 1, 1 thread,
             at that length (`bench`, fixed mode, one interleaved run per length).
  strategies at --compare-len (default 128): head vs tail vs head_tail (teacher and student trained with it), and
             windows (the head student's bundle exported with --long-text windows, mean of logits).
  data_lengths  latency of the longest length's files at the data's median and 90th-percentile token length (the
             teacher's tokenizer, specials included, capped at that max_len), beside 64.
  auto       the README's long-document path: a teacher fine-tuned with max_len "auto" (the training texts' 95th
             percentile, capped by the position limit) and head_tail truncation, the BiLSTM distilled from it
             (inheriting both), both exported with --long-text windows (mean) and checked by `parity`.

--parts picks parts; --reuse takes teachers, students and bundles already under --work (after a crash, or to add a
part). Cost on 2 shared cores (load 5-8), --max-train 1000: a teacher epoch took 6-7 min at 64, 128 and 256 tokens
alike, a whole length (teacher, three students, exports, parity, timing) 15-23 min; 512 did not fit in the session
that first ran it. `--tiny` (64 train, 32 test, lengths 64,128, 0.05 epochs, 20 timed runs) proves every part runs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("EDGEDISTILL_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def write_split_folder(ds, folder: Path) -> Path:
    """The data set as a user's split folder: train/validation/test .jsonl of text and label names."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, part in (("train", ds.train), ("validation", ds.dev), ("test", ds.test)):
        with (folder / f"{split}.jsonl").open("w", encoding="utf-8") as f:
            for text, label in zip(part.texts, part.labels):
                f.write(json.dumps({"text": text, "label": ds.label_names[label]}, ensure_ascii=False) + "\n")
    return folder


def token_lengths(texts: list[str]) -> dict:
    from distill.teacher import resolve_base
    from edgecore.tokenizer import load_tokenizer

    tok = load_tokenizer(resolve_base("minilm-l6")).tokenizer
    tok.no_truncation()
    n = sorted(len(e.ids) for e in tok.encode_batch(texts))
    return {"median": n[len(n) // 2], "p90": n[int(0.9 * (len(n) - 1))], "p95": n[int(0.95 * (len(n) - 1))], "texts": len(n)}


# the students of the lengths part: a Transformer student, the BiLSTM and the fastest student (static, model2vec-style)
STUDENTS = {"bilstm": {"student": "bilstm"}, "static": {"student": "static"}, "transformer-3L": {"student": "transformer", "layers": 3}}


def pipeline(data: str, work: Path, tag: str, args, max_len: int, truncation: str | None = None, long_text: str = "truncate",
             teacher=None, student=None, students: tuple[str, ...] = ("bilstm",)) -> dict:
    """teacher (or the given one) -> students (the BiLSTM, or the given one) -> ONNX int8 bundles -> parity of each."""
    import edgedistill as ed

    t0 = time.perf_counter()
    if teacher is None and args.reuse and (work / f"{tag}-teacher" / "metrics.json").is_file():
        teacher = SimpleNamespace(path=work / f"{tag}-teacher", metrics=json.loads((work / f"{tag}-teacher" / "metrics.json").read_text()))
        log(f"reusing {teacher.path}")
    if teacher is None:
        teacher = ed.finetune_teacher(ed.FinetuneConfig(out=work / f"{tag}-teacher", data=data, epochs=args.epochs, max_len=max_len,
                                                        truncation=truncation, batch_size=16, force=True))
    trained = {"bilstm": student} if student is not None else {}
    for name in students:
        if name not in trained and args.reuse and any((work / f"{tag}-{name}" / f).is_file() for f in ("student.json", "metrics.json")):
            trained[name] = SimpleNamespace(path=work / f"{tag}-{name}")
            log(f"reusing {trained[name].path}")
        if name not in trained:
            epochs = args.transformer_epochs if STUDENTS[name]["student"] == "transformer" else args.student_epochs
            trained[name] = ed.distill(ed.DistillConfig(teacher=teacher.path, data=data, out=work / f"{tag}-{name}", epochs=epochs,
                                                        force=True, **STUDENTS[name]))
    if max_len == "auto":   # what the teacher chose from the data
        max_len = teacher.metrics["config"]["max_len"]
    out = {"max_len": max_len, "truncation": truncation or "head", "long_text": long_text,
           "teacher_test_accuracy": teacher.metrics.get("test_accuracy")}
    for name, source in (("teacher", teacher.path), *((n, trained[n].path) for n in students)):
        folder = work / f"{tag}-{name}-bundle"
        if args.reuse and (folder / "manifest.json").is_file():
            bundle = SimpleNamespace(path=folder)
        else:   # a student's int8 file that fails parity (the static one's does: docs/export.md) leaves its fp32 file to ship and be timed
            precisions = ("int8",) if name == "teacher" else ("fp32", "int8")
            bundle = ed.export_checkpoint(ed.ExportConfig(checkpoint=source, data=data, out=folder, formats=("onnx",),
                                                          precisions=precisions, validate=args.validate, long_text=long_text, force=True))
        check = ed.parity(ed.ParityConfig(bundle=bundle.path, teacher=teacher.path, data=data)) if bundle.path else None
        models = check.models if check else {}
        key = next((k for k, m in models.items() if m.get("precision") == "int8"), next(iter(models), None))   # int8 when it shipped
        entry = models.get(key) or {}
        out[name] = {"bundle": str(bundle.path) if bundle.path else None, "precision": entry.get("precision"), "accuracy": entry.get("accuracy"),
                     "agreement_with_teacher": entry.get("agreement_with_teacher")}
    out["seconds"] = round(time.perf_counter() - t0)
    out["_teacher"], out["_student"] = teacher, trained["bilstm"] if "bilstm" in trained else None
    return out


def latency(bundles: list[str], seq_len: int, args) -> dict[str, float]:
    import edgedistill as ed

    report = ed.bench(ed.BenchConfig(models=tuple(bundles), runs=args.runs, warmup=max(1, args.runs // 10), seq_len=seq_len))
    return {b: round(report.p50(b), 3) for b in bundles}


def markdown(payload: dict) -> str:
    d = payload["data"]
    lines = [f"# Long documents: imdb (train {d['train']}, dev {d['dev']}, test {d['test']})", "",
             f"Token lengths (teacher tokenizer, specials included): median {payload['lengths_of_data']['median']}, "
             f"p90 {payload['lengths_of_data']['p90']}, p95 {payload['lengths_of_data']['p95']}. Command: `{payload['command']}`. "
             f"Machine: {payload['machine']}. Accuracy = the ONNX int8 file's on the test split (a student's fp32 file where its int8 file failed parity and was left out: marked); p50 = batch 1, 1 thread, at max_len, one interleaved run per length.", ""]
    students = payload.get("students") or ["bilstm"]
    if payload.get("lengths"):
        head = "| max_len | teacher int8 acc | teacher int8 p50 ms |" + "".join(
            f" {n} int8 acc | {n} agree w/ teacher | {n} int8 p50 ms | teacher/{n} |" for n in students)
        lines += ["## Accuracy and latency against max length", "", head, "|" + "---|" * (3 + 4 * len(students))]
        for r in payload["lengths"]:
            t = r["teacher"]
            row = f"| {r['max_len']} | {_pct(t['accuracy'])} | {_ms(t.get('p50_ms'))} |"
            for n in students:
                st = r.get(n) or {}
                ratio = t["p50_ms"] / st["p50_ms"] if t.get("p50_ms") and st.get("p50_ms") else None
                fp32 = " (fp32 file)" if st.get("precision") == "fp32" else ""
                row += f" {_pct(st.get('accuracy'))}{fp32} | {_pct(st.get('agreement_with_teacher'))} | {_ms(st.get('p50_ms'))} | {f'{ratio:.1f}x' if ratio else '-'} |"
            lines.append(row)
        lines.append("")
    if payload.get("strategies"):
        lines += [f"## Strategies at max_len {payload['compare_len']}", "",
                  "| strategy | teacher int8 acc | teacher int8 agree w/ teacher checkpoint | BiLSTM int8 acc | BiLSTM agree w/ teacher |",
                  "|---|---|---|---|---|"]
        for r in payload["strategies"]:
            name = "windows (mean)" if r["long_text"] == "windows" else r["truncation"]
            lines.append(f"| {name} | {_pct(r['teacher']['accuracy'])} | {_pct(r['teacher']['agreement_with_teacher'])} | "
                         f"{_pct(r['bilstm']['accuracy'])} | {_pct(r['bilstm']['agreement_with_teacher'])} |")
        lines += ["", "Agreement is with the teacher checkpoint of the row reading what the files read (for windows, the same "
                  "windows, aggregated the same way).", ""]
    if payload.get("strategies_e2e"):
        lines += [f"End-to-end latency on the test reviews (tokenizer + model; windows: every window of a review as one batch; "
                  f"batch 1, 1 thread, interleaved): the head cut against windows at max_len {payload['compare_len']}.", "",
                  "| bundle | p50 ms | p90 ms |", "|---|---|---|"]
        lines += [f"| {Path(e['bundle']).name} | {_ms(e['p50_ms'])} | {_ms(e['p90_ms'])} |" for e in payload["strategies_e2e"]]
        lines.append("")
    if payload.get("auto"):
        r = payload["auto"]
        lines += [f"## max_len auto ({r['max_len']} tokens chosen from the training texts), head_tail truncation, windows (mean)", "",
                  "| model | file | test acc | agree w/ teacher checkpoint |", "|---|---|---|---|"]
        for n in ("teacher", "bilstm"):
            lines.append(f"| {n} | {r[n]['precision']} | {_pct(r[n]['accuracy'])} | {_pct(r[n]['agreement_with_teacher'])} |")
        lines += ["", f"Teacher checkpoint test accuracy (its own head_tail cut, no windows): {_pct(r['teacher_test_accuracy'])}.", ""]
    if payload.get("data_lengths"):
        names = ["teacher", *students]
        lines += [f"## Latency at the data's lengths (the max_len {payload['data_lengths'][0]['max_len']} files)", "",
                  "| tokens |" + "".join(f" {n} int8 p50 ms |" for n in names), "|---|" + "---|" * len(names)]
        for r in payload["data_lengths"]:
            lines.append(f"| {r['tokens']} ({r['what']}) |" + "".join(f" {_ms(r.get(f'{n}_p50_ms'))} |" for n in names))
        lines.append("")
    return "\n".join(lines)


def _pct(x) -> str:
    return f"{x:.2%}" if isinstance(x, (int, float)) else "-"


def _ms(x) -> str:
    return f"{x:.3f}" if isinstance(x, (int, float)) else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-train", type=int, default=4000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--dev", type=int, default=500)
    parser.add_argument("--lengths", default="64,128,256,512")
    parser.add_argument("--compare-len", type=int, default=128)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--student-epochs", type=int, default=None, help="BiLSTM / static epochs (default: the kind's, 12 for the BiLSTM)")
    parser.add_argument("--transformer-epochs", type=int, default=1, help="the Transformer student's epochs (it costs half a teacher per epoch)")
    parser.add_argument("--students", default=",".join(STUDENTS), help="students of the lengths part: " + ", ".join(STUDENTS))
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--validate", type=int, default=None, help="export parity on the first N test reviews (default: all)")
    parser.add_argument("--tiny", action="store_true", help="64 train, 32 test, lengths 64,128, 0.05 epochs: proves it runs")
    parser.add_argument("--work", default="runs/bench-long")
    parser.add_argument("--parts", default="lengths,strategies,data_lengths,auto", help="which parts to run (lengths is needed by strategies and data_lengths; --lengths '' runs none)")
    parser.add_argument("--reuse", action="store_true", help="reuse teachers and students already trained under --work (e.g. after a crash)")
    parser.add_argument("--name", default=None, help="results file stem (default long_table, or long_table_tiny)")
    args = parser.parse_args()
    if args.tiny:
        args.max_train, args.test, args.dev, args.lengths, args.compare_len = 64, 32, 16, "64,128", 64
        args.epochs, args.student_epochs, args.runs, args.validate = 0.05, 1, 20, 32
    stem = args.name or ("long_table_tiny" if args.tiny else "long_table")
    from distill.data import SplitConfig, load_dataset

    ds = load_dataset("imdb", SplitConfig(test=args.test, dev=args.dev, max_train=args.max_train))
    work = Path(args.work)
    data = str(write_split_folder(ds, work / "imdb-data"))
    payload = {"command": "python benchmarks/long_table.py " + " ".join(sys.argv[1:]), "data": ds.describe(),
               "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs", "settings": vars(args),
               "lengths_of_data": token_lengths(ds.test.texts), "compare_len": args.compare_len}
    started = time.perf_counter()

    def write() -> None:
        payload["seconds"] = round(time.perf_counter() - started)
        RESULTS.mkdir(parents=True, exist_ok=True)
        clean = json.loads(json.dumps(payload, default=lambda o: None))
        (RESULTS / f"{stem}.json").write_text(json.dumps(clean, indent=2))
        (RESULTS / f"{stem}.md").write_text(markdown(clean))
        log(f"wrote {RESULTS / stem}.json and .md")

    students = tuple(x.strip() for x in args.students.split(",") if x.strip())
    if "bilstm" not in students or set(students) - set(STUDENTS):
        parser.error(f"--students must name the bilstm and others of {', '.join(STUDENTS)}")
    payload["students"] = list(students)
    runs = {}
    payload["lengths"] = []
    for length in (int(x) for x in args.lengths.split(",") if x.strip()):
        log(f"lengths: max_len {length}")
        r = pipeline(data, work, f"len{length}", args, length, students=students)
        names = ("teacher", *students)
        p50 = latency([r[n]["bundle"] for n in names if r[n]["bundle"]], length, args)
        for n in names:
            r[n]["p50_ms"] = p50.get(r[n]["bundle"])
        runs[length] = r
        payload["lengths"].append({k: v for k, v in r.items() if not k.startswith("_")})
        write()
    parts = set(args.parts.split(","))
    if "strategies" in parts:
        strategies(payload, runs, data, work, args, write)
    if "data_lengths" in parts and runs:
        data_lengths(payload, runs, students, args, write)
    if "auto" in parts:
        log("auto: max_len auto, head_tail, windows")
        r = pipeline(data, work, "auto", args, "auto", "head_tail", long_text="windows")
        payload["auto"] = {k: v for k, v in r.items() if not k.startswith("_")}
        write()


def strategies(payload: dict, runs: dict, data: str, work: Path, args, write) -> None:
    payload["strategies"] = []
    head = runs.get(args.compare_len)
    for strategy in ("head", "tail", "head_tail"):
        log(f"strategies: {strategy} at {args.compare_len}")
        r = head if strategy == "head" and head else pipeline(data, work, f"{strategy}{args.compare_len}", args, args.compare_len, strategy)
        head = head or (r if strategy == "head" else None)
        payload["strategies"].append({k: v for k, v in r.items() if not k.startswith("_")})
        write()
    log(f"strategies: windows at {args.compare_len}")
    r = pipeline(data, work, f"windows{args.compare_len}", args, args.compare_len, long_text="windows",
                 teacher=head["_teacher"], student=head["_student"])
    payload["strategies"].append({k: v for k, v in r.items() if not k.startswith("_")})
    write()
    # what windows cost: end-to-end (tokenizer + every window of the review as one batch) against the head cut
    import edgedistill as ed

    bundles = [x[n]["bundle"] for x in (head, r) for n in ("teacher", "bilstm")]
    report = ed.bench(ed.BenchConfig(models=tuple(bundles), runs=args.runs * 2, warmup=max(1, args.runs // 5), mode="end-to-end", data=data))
    payload["strategies_e2e"] = [{"bundle": b, "p50_ms": round(report.p50(b), 3), "p90_ms": round(report.results[b]["latency_ms"]["p90"], 3)}
                                 for b in bundles]
    write()


def data_lengths(payload: dict, runs: dict, students: tuple[str, ...], args, write) -> None:
    lengths = payload["lengths_of_data"]
    longest = runs[max(runs)]
    payload["data_lengths"] = []
    cap = longest["max_len"]   # a bundle reads at most its max_len tokens
    for what, tokens in (("fixed", min(cap, 64)), ("median", min(cap, lengths["median"])), ("p90", min(cap, lengths["p90"]))):
        names = [n for n in ("teacher", *students) if longest[n]["bundle"]]
        p50 = latency([longest[n]["bundle"] for n in names], tokens, args)
        payload["data_lengths"].append({"what": what, "tokens": tokens, "max_len": longest["max_len"],
                                        **{f"{n}_p50_ms": p50[longest[n]["bundle"]] for n in names}})
    write()


if __name__ == "__main__":
    main()
