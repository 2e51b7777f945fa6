"""Transformer students and parameter-efficient teacher fine-tuning on the built-in movie data (issue 3).

    python benchmarks/transformer_table.py            # the full tables (hours of CPU on 2 cores)
    python benchmarks/transformer_table.py --quick    # every step on a few optimizer steps (a smoke run)
    python benchmarks/transformer_table.py --only students|peft --student-epochs 2 --peft-epochs 1
    python benchmarks/transformer_table.py --only students --students distil-2L-ffn768-aug4-bf16 --seeds 0 1 2

Students table: 3-layer and 2-layer DistilBERT-style students initialised from the teacher's blocks,
a 4-layer / hidden-192 TinyBERT-style student (two stages), and a 2-layer student with half-width
feed-forward blocks distilled over an augmented transfer set (STUDENTS); test accuracy (PyTorch fp32 and ONNX
int8) as % of the teacher's, parameters, and ONNX int8 latency at batch 1 / 1 thread / seq 64 with the
ratio to the teacher's int8 latency, all latencies measured in one interleaved run.
With --seeds, each student is trained once per seed; the table adds test mean +- std and the seed with
the best dev accuracy (the one to ship), and judges the target on both.
PEFT table: full fine-tuning vs freeze-first-4 vs BitFit vs adapters: accuracy, trainable %, wall time.

Finished rows are kept in WORK/rows.json (keyed by their settings), so an interrupted run resumes;
checkpoints and ONNX files go to WORK (default runs/transformer_table, not committed). Results go to
OUT/transformer[_quick].json and .md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import MISSING, asdict, fields, replace
from pathlib import Path

os.environ.setdefault("EDGEDISTILL_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

STUDENTS = {
    # name: (student config kwargs, distill config kwargs, transfer set: augmented variants per training sentence)
    "distil-3L": ({"layers": 3, "init": "teacher"}, {"method": "distilbert"}, 0),
    "distil-2L": ({"layers": 2, "init": "teacher"}, {"method": "distilbert"}, 0),
    "tinybert-4L-192": ({"layers": 4, "hidden": 192, "heads": 12, "intermediate": 768, "init": "embeddings"}, {"method": "tinybert"}, 0),
    # 2 teacher blocks with each feed-forward block cut to its top 768 (1024) of 1536 neurons, distilled on the teacher's
    # logits (no layer matches: the teacher never runs) over the training sentences + 4 augmented variants of each.
    # Epochs and lr: the best dev accuracy of the settings tried for each width (README lists them with their test accuracy).
    "distil-2L-ffn768-aug4": ({"layers": 2, "intermediate": 768, "init": "teacher"},
                              {"method": "distilbert", "matches": "none", "epochs": 3, "lr": 2e-4}, 4),
    "distil-2L-ffn1024-aug4": ({"layers": 2, "intermediate": 1024, "init": "teacher"},
                               {"method": "distilbert", "matches": "none", "epochs": 4, "lr": 2e-4}, 4),
    # the 768 recipe trained under bf16 autocast (about a quarter less training time here; the student is saved fp32)
    "distil-2L-ffn768-aug4-bf16": ({"layers": 2, "intermediate": 768, "init": "teacher"},
                                   {"method": "distilbert", "matches": "none", "epochs": 3, "lr": 2e-4, "bf16": True}, 4),
    # the same teacher-init 2L-768 student trained TinyBERT's way on the augmented set: stage 1, 2 epochs of embedding +
    # per-block attention and hidden MSE against teacher blocks 3 and 6 (lr 3e-4, the better on dev of 1e-4 / 3e-4);
    # stage 2, 3 epochs of soft targets at T=2 (lr 2e-4, no gold-label term). bf16. Stage 1 runs the teacher on every batch.
    "tinybert-2L-ffn768-aug4-bf16": ({"layers": 2, "intermediate": 768, "init": "teacher"},
                                     {"method": "tinybert", "intermediate_epochs": 2, "intermediate_lr": 3e-4, "epochs": 3, "lr": 2e-4,
                                      "bf16": True}, 4),
}
# (method, lr, epochs or None for --peft-epochs): every setting tried. Full fine-tuning keeps the teacher's 1e-4;
# methods that train few parameters need larger steps. The table picks each method's row by dev accuracy.
PEFT = [("full", 1e-4, None),
        ("bitfit", 1e-3, None), ("bitfit", 3e-3, 3.0), ("bitfit", 5e-3, 3.0), ("bitfit", 5e-3, 4.0), ("bitfit", 5e-3, 5.0), ("bitfit", 1e-2, 3.0),
        ("adapter:64", 1e-3, None), ("adapter:64", 3e-3, None),
        ("freeze:4", 1e-4, None)]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def student_key(name: str, s_cfg, d_cfg, augment: int, teacher: str) -> str:
    """A student row's key: its name and every setting it was trained with (the full configs, defaults included)."""
    return f"student|{name}|{json.dumps(s_cfg.to_dict(), sort_keys=True)}|{json.dumps(d_cfg.to_dict(), sort_keys=True)}|aug{augment}|{teacher}"


def upgrade_student_key(key: str) -> str:
    """Re-key a student row written before a config field existed, with that field at its default.

    A new field's default keeps the old behaviour (bf16=False, logit_loss="kl"), so the row still
    describes the run; without this, adding a field to a config would retrain every cached student.
    A field whose stored value differs from today's default is kept as stored, so the key still differs.
    """
    from distill.students.transformer import TransformerStudentConfig
    from distill.transformer_trainer import TransformerDistillConfig

    if not key.startswith("student|"):
        return key
    name, rest = key[len("student|"):].split("|", 1)
    decoder = json.JSONDecoder()
    s_old, end = decoder.raw_decode(rest)
    d_old, end2 = decoder.raw_decode(rest, end + 1)
    tail = rest[end2:]
    s_new = {**defaults_of(TransformerStudentConfig), **s_old}
    d_new = {**defaults_of(TransformerDistillConfig), **d_old}
    return f"student|{name}|{json.dumps(s_new, sort_keys=True)}|{json.dumps(d_new, sort_keys=True)}{tail}"


def defaults_of(config_class) -> dict:
    return {f.name: (list(f.default) if isinstance(f.default, tuple) else f.default)
            for f in fields(config_class) if f.default is not MISSING}


class Rows:
    """Finished rows on disk, keyed by name + settings: a rerun with the same settings skips them.

    Student keys from an older row file are upgraded on load (upgrade_student_key), and written back
    with the next finished row.
    """

    def __init__(self, path: Path, fresh: bool) -> None:
        self.path = path
        stored = {} if fresh or not path.is_file() else json.loads(path.read_text())
        self.rows = {upgrade_student_key(k): v for k, v in stored.items()}

    def get(self, key: str):
        return self.rows.get(key)

    def put(self, key: str, row: dict) -> None:
        self.rows[key] = row
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.rows, indent=2, default=str))
        os.replace(tmp, self.path)


def accuracy(logits: np.ndarray, labels) -> float:
    return float((np.asarray(logits).argmax(1) == np.asarray(labels)).mean())


def export_int8(model, encoder, texts, out_dir: Path, name: str):
    from export import OnnxConfig, QuantConfig, quantize_onnx, to_onnx

    sample = encoder.encode(texts[:2])
    validate = [encoder.encode(texts[i:i + 16]) for i in range(0, 64, 16)]
    validate_np = [{k: v.numpy() for k, v in f.items()} for f in validate]
    meta = {"edgedistill.labels": "negative,positive", "edgedistill.max_len": str(encoder.max_len), "edgedistill.kind": "transformer"}
    fp32 = to_onnx(model, sample, out_dir / f"{name}.fp32.onnx", OnnxConfig(), meta, validate, force=True)
    int8 = quantize_onnx(fp32, out_dir / f"{name}.int8.onnx", QuantConfig("int8", transformer=True), validate_with=validate_np, force=True)
    return fp32, int8


def int8_accuracy(path: str, encoder, texts, labels, threads: int) -> tuple[float, np.ndarray]:
    from edge_runtime import load, logits_for_texts

    runner = load(path, threads)
    encode_np = encoder.encode_np
    logits = logits_for_texts(runner, encode_np, texts, batch_size=64)
    return accuracy(logits, labels), logits


# ---------------------------------------------------------------------------------------------

def run_peft(args, dataset, teacher, rows: Rows) -> list[dict]:
    from distill.parallel import train_classifier
    from distill.peft import apply_peft
    from distill.teacher import TeacherConfig, load_classifier, predict_logits, resolve_base
    from distill.text import Encoder

    out = []
    base = resolve_base("minilm-l6")
    for spec, lr, epochs in PEFT:
        if spec == "full":
            m = teacher.metrics
            model = load_classifier(base, len(dataset.label_names), dataset.label_names)
            report = apply_peft(model, "full")
            row = {"method": "full", "lr": m["config"]["lr"], "epochs": m["config"]["epochs"], "trainable": report.trainable,
                   "total": report.total, "trainable_percent": 100.0, "dev_accuracy": m["dev_accuracy"], "test_accuracy": m["test_accuracy"],
                   "wall_seconds": m["train_seconds"], "source": f"the built-in teacher's cached run ({teacher.path.name}/metrics.json)"}
            out.append(row)
            log(f"peft full (cached teacher): test {row['test_accuracy']:.4f}, {row['wall_seconds']} s")
            if not args.rerun_full:
                continue
        config = TeacherConfig(lr=lr, epochs=epochs or args.peft_epochs, max_steps=args.peft_max_steps)
        key = f"peft|{spec}|{json.dumps(asdict(config), sort_keys=True)}|{dataset.fingerprint()[:12]}"
        row = rows.get(key)
        if row is None:
            log(f"peft {spec}: fine-tuning (lr {lr:g}, epochs {config.epochs}, max_steps {config.max_steps})")
            torch.manual_seed(config.seed)
            model = load_classifier(base, len(dataset.label_names), dataset.label_names)
            encoder = Encoder(base, config.max_len)
            report = apply_peft(model, spec)
            t0 = time.perf_counter()
            summary = train_classifier(model, encoder, dataset, config)
            seconds = time.perf_counter() - t0
            dev = accuracy(predict_logits(model, encoder, dataset.dev.texts), dataset.dev.labels)
            test = accuracy(predict_logits(model, encoder, dataset.test.texts), dataset.test.labels)
            row = {"method": spec + (" (re-run)" if spec == "full" else ""), "lr": lr, "epochs": config.epochs, "max_steps": config.max_steps, "steps": summary["steps"],
                   "trainable": report.trainable, "total": report.total, "trainable_percent": report.percent,
                   "dev_accuracy": dev, "test_accuracy": test, "wall_seconds": round(seconds, 1),
                   "final_loss": float(np.mean(summary["step_losses"][-20:])), "source": "measured in this run"}
            rows.put(key, row)
        out.append(row)
        log(f"peft {spec} (lr {lr:g}): dev {row['dev_accuracy']:.4f}, test {row['test_accuracy']:.4f}, trainable {row['trainable_percent']:.2f}%, {row['wall_seconds']} s")
    return out


def run_students(args, dataset, teacher, train_logits, rows: Rows, work: Path) -> list[dict]:
    from transformers import AutoModelForSequenceClassification

    from distill import transfer_set
    from distill.students.transformer import TransformerStudentConfig, count_parameters, save_transformer_student
    from distill.transformer_trainer import TransformerDistillConfig, train_transformer_student

    out, transfers = [], {}
    for name, (s_kwargs, d_kwargs, augment) in STUDENTS.items():
        if args.students and name not in args.students:
            continue
        s_cfg = TransformerStudentConfig(**s_kwargs)
        defaults = {"epochs": args.student_epochs, "intermediate_epochs": args.intermediate_epochs, "max_steps": args.student_max_steps,
                    "lr": args.student_lr if d_kwargs["method"] == "distilbert" else args.tiny_lr}
        base_cfg = TransformerDistillConfig(**{**defaults, **d_kwargs, **({"max_steps": args.student_max_steps} if args.quick else {})})
        for seed in args.seeds:
            d_cfg = replace(base_cfg, seed=seed)   # batch order; the same seed draws the new head and dropout
            key = student_key(name, s_cfg, d_cfg, augment, teacher.path.name)
            run_name = name if seed == 0 else f"{name}-seed{seed}"
            ckpt = work / "students" / run_name
            row = rows.get(key)
            if row is None or not (ckpt / "model.safetensors").is_file():
                log(f"student {run_name}: training ({d_cfg.method}, epochs {d_cfg.epochs}, stage-1 epochs {d_cfg.intermediate_epochs if d_cfg.method == 'tinybert' else '-'})")
                t0 = time.perf_counter()
                if augment not in transfers:   # cached teacher logits; one transfer set for every seed
                    transfers[augment] = transfer_set(teacher, dataset, augment, (), seed=0)
                extra, extra_logits = transfers[augment]
                run = train_transformer_student(name, dataset, teacher, s_cfg, d_cfg, teacher_logits=train_logits,
                                                extra_texts=extra, extra_logits=extra_logits, seed=seed)
                seconds = time.perf_counter() - t0
                model = run.model
                params = count_parameters(model)
                embeddings = sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)
                row = {"name": name, "seed": seed, "kind": "transformer", "method": d_cfg.method, "student": s_cfg.to_dict(), "distill": d_cfg.to_dict(),
                       "augment": augment, "transfer_sentences": len(dataset.train) + len(extra),
                       "params": params, "params_without_embeddings": params - embeddings,
                       "test_accuracy": run.test_accuracy, "best_dev_accuracy": run.result.best_dev_accuracy, "best_epoch": run.result.best_epoch,
                       "steps": run.result.steps, "train_seconds": round(seconds, 1), "history": run.result.history}
                save_transformer_student(model, ckpt, teacher.encoder, {k: v for k, v in row.items() if k != "history"}, force=True)
                rows.put(key, row)
            row.setdefault("seed", seed)   # rows from before --seeds are seed 0
            if not Path(row.get("onnx_int8", "/nonexistent")).is_file():
                model = AutoModelForSequenceClassification.from_pretrained(ckpt).eval()
                fp32, int8 = export_int8(model, teacher.encoder, dataset.dev.texts, work / "onnx", run_name)
                row.update(onnx_int8=int8.path, onnx_int8_bytes=int8.size_bytes, onnx_fp32_bytes=fp32.size_bytes,
                           onnx_int8_validation={k: v for k, v in int8.validation.items() if k != "op_counts"})
                rows.put(key, row)
            log(f"student {run_name}: dev {row['best_dev_accuracy']:.4f}, test {row['test_accuracy']:.4f}, {row['params']:,} params, {row['train_seconds']} s")
            out.append({**row, "_key": key})
    return out


def seed_summary(students: list[dict], teacher_accuracy: float) -> list[dict]:
    """Per student trained on more than one seed: test mean +- std, and the seed a user would ship (best dev
    accuracy; test never chooses). The target is judged on both."""
    import statistics

    summary = []
    for name in dict.fromkeys(s["name"] for s in students):
        runs = [s for s in students if s["name"] == name]
        if len(runs) < 2:
            continue
        tests = [r["test_accuracy"] for r in runs]
        mean = statistics.mean(tests)
        picked = max(runs, key=lambda r: (r["best_dev_accuracy"], -r["seed"]))
        summary.append({"name": name, "seeds": [r["seed"] for r in runs], "test": tests, "dev": [r["best_dev_accuracy"] for r in runs],
                        "test_mean": mean, "test_std": statistics.stdev(tests), "percent_of_teacher_mean": 100.0 * mean / teacher_accuracy,
                        "dev_picked_seed": picked["seed"], "dev_picked_percent_of_teacher": picked["percent_of_teacher"],
                        "speedup_vs_teacher_int8": runs[0]["speedup_vs_teacher_int8"]})
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a few optimizer steps per model and short timings: checks the whole path")
    p.add_argument("--only", choices=("students", "peft"), help="run one table only")
    p.add_argument("--students", nargs="*", choices=list(STUDENTS), help="which students (default: all)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0],
                   help="train each student once per seed and report mean +- std and the dev-picked seed (e.g. --seeds 0 1 2)")
    p.add_argument("--student-epochs", type=int, default=3, help="epochs for students whose STUDENTS entry sets none")
    p.add_argument("--intermediate-epochs", type=int, default=3, help="TinyBERT stage-1 epochs")
    p.add_argument("--student-lr", type=float, default=1e-4)
    p.add_argument("--tiny-lr", type=float, default=5e-4, help="TinyBERT stage-2 learning rate (stage 1 uses the config default 5e-4)")
    p.add_argument("--peft-epochs", type=float, default=2.0, help="epochs for each PEFT teacher (the built-in teacher uses 2)")
    p.add_argument("--peft-max-steps", type=int, help="cap the optimizer steps of each PEFT run (CPU budget); with --rerun-full the full run gets the same cap")
    p.add_argument("--teacher", type=Path, help="a fine-tuned teacher folder instead of the built-in one (fine-tuned or cached)")
    p.add_argument("--rerun-full", action="store_true", help="fine-tune the full teacher again instead of reading the cached run")
    p.add_argument("--threads", type=int, default=1, help="threads for latency (batch 1)")
    p.add_argument("--train-threads", type=int, default=2)
    p.add_argument("--bench-runs", type=int, default=200)
    p.add_argument("--work", type=Path, default=Path("runs/transformer_table"))
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--fresh", action="store_true", help="ignore finished rows in WORK/rows.json")
    args = p.parse_args()
    args.student_max_steps = 15 if args.quick else None
    args.peft_max_steps = 10 if args.quick else args.peft_max_steps
    if args.quick:
        args.bench_runs = min(args.bench_runs, 30)
        args.work = args.work.with_name(args.work.name + "_quick")
    torch.set_num_threads(args.train_threads)

    from distill import TeacherConfig, cached_teacher_logits, finetune_teacher, load_dataset, load_teacher
    from edge_runtime import BenchConfig, bench_interleaved, fixed_length_feeds, load

    t_start = time.perf_counter()
    dataset = load_dataset("movie-snippets")
    log(f"data {dataset.sizes()}")
    if args.teacher:
        teacher = load_teacher(args.teacher)
        for split in ("dev", "test"):
            if f"{split}_accuracy" not in teacher.metrics:
                part = getattr(dataset, split)
                teacher.metrics[f"{split}_accuracy"] = accuracy(teacher.logits(part.texts), part.labels)
        teacher.metrics.setdefault("config", {"lr": None, "epochs": None})
        teacher.metrics.setdefault("train_seconds", None)
    else:
        teacher = finetune_teacher(dataset, TeacherConfig())   # the built-in teacher, from the cache when it is there
    log(f"teacher {teacher.path}: dev {teacher.metrics['dev_accuracy']:.4f}, test {teacher.metrics['test_accuracy']:.4f}")
    rows = Rows(args.work / "rows.json", args.fresh)
    report: dict = {"data": {"name": dataset.name, **dataset.sizes()}, "quick": args.quick,
                    "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "threads_latency": args.threads,
                                "threads_training": args.train_threads, "load_average_at_start": os.getloadavg()},
                    "command": " ".join(["python", *sys.argv])}

    if args.only != "peft":
        train_logits, _ = cached_teacher_logits(teacher, dataset.train.texts, "teacher logits (transfer set)")
        students = run_students(args, dataset, teacher, train_logits, rows, args.work)
        # teacher: ONNX int8 once per run (it is cheap) and its int8 accuracy
        t_acc = teacher.metrics["test_accuracy"]
        t_key = f"teacher-int8|{teacher.path.name}"
        t_row = rows.get(t_key)
        if t_row is None or not Path(t_row["onnx_int8"]).is_file():
            _, t_int8 = export_int8(teacher.model, teacher.encoder, dataset.dev.texts, args.work / "onnx", "teacher")
            t_int8_acc, t_int8_logits = int8_accuracy(t_int8.path, teacher.encoder, dataset.test.texts, dataset.test.labels, args.train_threads)
            t_row = {"onnx_int8": str(t_int8.path), "onnx_int8_bytes": t_int8.size_bytes, "int8_test_accuracy": t_int8_acc,
                     "int8_test_pred": t_int8_logits.argmax(1).tolist()}
            rows.put(t_key, t_row)
        t_int8_acc, t_int8_pred = t_row["int8_test_accuracy"], np.asarray(t_row["int8_test_pred"])
        for s in students:
            if "int8_test_pred" not in s:
                s["int8_test_accuracy"], s_logits = int8_accuracy(s["onnx_int8"], teacher.encoder, dataset.test.texts, dataset.test.labels,
                                                                  args.train_threads)
                s["int8_test_pred"] = s_logits.argmax(1).tolist()
                rows.put(s.pop("_key"), dict(s))
            s.pop("_key", None)
            s["int8_agreement_with_teacher_int8"] = float((np.asarray(s["int8_test_pred"]) == t_int8_pred).mean())
            s["percent_of_teacher"] = 100.0 * s["test_accuracy"] / t_acc
            s["int8_percent_of_teacher_int8"] = 100.0 * s["int8_test_accuracy"] / t_int8_acc
        # latency: every int8 model in one interleaved run, batch 1, fixed seq len
        bench = BenchConfig(warmup=10 if args.quick else 30, runs=args.bench_runs, threads=args.threads, seq_len=64)
        encode_np = teacher.encoder.encode_np
        feeds = fixed_length_feeds(encode_np, dataset.test.texts[:40], bench.seq_len)
        # one model per student: its other seeds have the same shapes, hence the same latency
        timed = {s["name"]: s for s in reversed(students)}
        runners = {"teacher": load(t_row["onnx_int8"], args.threads), **{n: load(s["onnx_int8"], args.threads) for n, s in timed.items()}}
        log(f"latency: {len(runners)} int8 models interleaved, {bench.runs} runs each")
        timings = bench_interleaved(runners, feeds, bench)
        t_p50 = timings["teacher"].latency_ms["p50"]
        for s in students:
            s["latency_measured_on_seed"] = timed[s["name"]]["seed"]
            lat = timings[s["name"]].latency_ms
            s["int8_latency_ms"] = {k: round(lat[k], 3) for k in ("p50", "p90", "p99", "mean")}
            s["speedup_vs_teacher_int8"] = t_p50 / lat["p50"]
        report["teacher"] = {"path": str(teacher.path), "accuracy": t_acc, "int8_test_accuracy": t_int8_acc,
                             "params": sum(p.numel() for p in teacher.model.parameters()),
                             "int8_latency_ms": {k: round(timings["teacher"].latency_ms[k], 3) for k in ("p50", "p90", "p99", "mean")},
                             "onnx_int8_bytes": t_row["onnx_int8_bytes"], "train_seconds": teacher.metrics.get("train_seconds")}
        report["students"] = students
        report["bench"] = asdict(bench)
        report["seed_summary"] = seed_summary(students, t_acc)
        report["targets"] = {
            "student_98.5pct_at_3x": [label(s, students) for s in students if s["percent_of_teacher"] >= 98.5 and s["speedup_vs_teacher_int8"] >= 3.0],
            "student_98.5pct_at_3x_mean_of_seeds": [g["name"] for g in report["seed_summary"]
                                                    if g["percent_of_teacher_mean"] >= 98.5 and g["speedup_vs_teacher_int8"] >= 3.0],
            "student_98.5pct_at_3x_dev_picked_seed": [g["name"] for g in report["seed_summary"]
                                                      if g["dev_picked_percent_of_teacher"] >= 98.5 and g["speedup_vs_teacher_int8"] >= 3.0]}
        report["wall_seconds"] = round(time.perf_counter() - t_start, 1)
        write(report, args)   # the students table is on disk even if the PEFT runs are cut short

    if args.only != "students":
        report["peft"] = run_peft(args, dataset, teacher, rows)
    if "peft" in report:
        # compare with the full fine-tuning run that had the same budget (the re-run, when there is one)
        fulls = [r for r in report["peft"] if r["method"].startswith("full")]
        full = fulls[-1]
        report["peft_reference"] = full["method"]
        chosen = pick_by_dev([r for r in report["peft"] if not r["method"].startswith("full")])
        for r in report["peft"]:
            r["chosen_by_dev"] = r in chosen
        report["targets_peft_within_2_points"] = {r["method"]: round(100 * (full["test_accuracy"] - r["test_accuracy"]), 2) <= 2.0 for r in chosen}
    report["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    write(report, args)


def markdown(report: dict) -> str:
    lines = [f"# Transformer students and teacher PEFT ({'quick smoke run: few steps, numbers not meaningful' if report['quick'] else 'movie-snippets'})", "",
             f"Data: {report['data']}. Command: `{report['command']}`. Machine: {report['machine']}.", ""]
    if "students" in report:
        t = report["teacher"]
        lines += ["## Students (test split; latency: ONNX int8, batch 1, 1 thread, seq 64, interleaved with the teacher)", "",
                  "| model | transfer set | params | test acc | % of teacher | int8 acc | int8 % of teacher int8 | int8 p50 ms | speed-up vs teacher | int8 MB | train s |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
                  f"| teacher (MiniLM-L6, fine-tuned) | {report['data']['train']:,} | {t['params']:,} | {100 * t['accuracy']:.2f} | 100.0 | "
                  f"{100 * t['int8_test_accuracy']:.2f} | 100.0 | {t['int8_latency_ms']['p50']:.2f} | 1.00x | {t['onnx_int8_bytes'] / 1e6:.1f} | {t['train_seconds']} |"]
        for s in report["students"]:
            transfer = s.get("transfer_sentences", report["data"]["train"])
            lines.append(f"| {label(s, report['students'])} ({s['method']}) | {transfer:,} | {s['params']:,} | {100 * s['test_accuracy']:.2f} | {s['percent_of_teacher']:.1f} | "
                         f"{100 * s['int8_test_accuracy']:.2f} | {s['int8_percent_of_teacher_int8']:.1f} | {s['int8_latency_ms']['p50']:.2f} | "
                         f"{s['speedup_vs_teacher_int8']:.2f}x | {s['onnx_int8_bytes'] / 1e6:.1f} | {s['train_seconds']} |")
        lines += ["", f"Target (>= 98.5% of teacher accuracy at >= 3x its speed) met by: {', '.join(report['targets']['student_98.5pct_at_3x']) or 'none'}.", ""]
        if report.get("seed_summary"):
            lines += ["Students trained on several seeds (one transfer set; the seed moves the new head's init, dropout and batch order). "
                      "The seed to ship is the one with the best dev accuracy:", "",
                      "| student | seeds | dev acc | test acc | test mean ± std | % of teacher (mean) | dev-picked seed: % of teacher |",
                      "|---|---|---|---|---:|---:|---:|"]
            for g in report["seed_summary"]:
                lines.append(f"| {g['name']} | {', '.join(map(str, g['seeds']))} | {' / '.join(f'{100 * d:.1f}' for d in g['dev'])} | "
                             f"{' / '.join(f'{100 * t:.2f}' for t in g['test'])} | {100 * g['test_mean']:.2f} ± {100 * g['test_std']:.2f} | "
                             f"{g['percent_of_teacher_mean']:.2f} | seed {g['dev_picked_seed']}: {g['dev_picked_percent_of_teacher']:.2f} |")
            lines += ["", f"Target on the mean of seeds met by: {', '.join(report['targets']['student_98.5pct_at_3x_mean_of_seeds']) or 'none'}; "
                      f"on the dev-picked seed: {', '.join(report['targets']['student_98.5pct_at_3x_dev_picked_seed']) or 'none'}.", ""]
    if "peft" in report:
        lines += ["## Teacher fine-tuning: full vs parameter-efficient (same base MiniLM-L6, data, batch 32, seed)", "",
                  "Every setting tried is listed; **bold**: each method's setting with the best dev accuracy, the one the target is judged on.", "",
                  "| method | lr | epochs | steps | trainable params | trainable % | dev acc | test acc | vs full | wall s | note |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        full = next(r for r in reversed(report["peft"]) if r["method"] == report["peft_reference"])
        for r in report["peft"]:
            steps = r.get("steps") or "-"
            dev = "-" if r["dev_accuracy"] is None else f"{100 * r['dev_accuracy']:.2f}"
            name = f"**{r['method']}**" if r.get("chosen_by_dev") else r["method"]
            delta = "" if r["method"].startswith("full") else f"{100 * (r['test_accuracy'] - full['test_accuracy']):+.2f}"
            epochs, lr = ("-" if r[k] is None else f"{r[k]:g}" for k in ("epochs", "lr"))
            lines.append(f"| {name} | {lr} | {epochs} | {steps} | {r['trainable']:,} | {r['trainable_percent']:.2f} | {dev} | "
                         f"{100 * r['test_accuracy']:.2f} | {delta} | {r['wall_seconds']} | {r['source']} |")
        lines += ["", f"Within 2 points of `{report['peft_reference']}`: {report['targets_peft_within_2_points']}.", ""]
    return "\n".join(lines)


def label(student: dict, students: list[dict]) -> str:
    """A student row's name, with its seed when the table holds more than one run of that student."""
    several = sum(s["name"] == student["name"] for s in students) > 1
    return f"{student['name']} seed {student['seed']}" if several else student["name"]


def pick_by_dev(rows: list[dict]) -> list[dict]:
    """Per method, the setting with the best dev accuracy (the first tried on a tie): test never chooses."""
    best: dict[str, dict] = {}
    for r in rows:
        if r["method"] not in best or r["dev_accuracy"] > best[r["method"]]["dev_accuracy"]:
            best[r["method"]] = r
    return list(best.values())


def write(report: dict, args) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    report = {**report, "students": [{k: v for k, v in s.items() if k not in ("int8_test_pred", "_key")} for s in report.get("students", [])]}
    if not report["students"]:
        report.pop("students")
    stem = "transformer_quick" if args.quick else "transformer"
    if args.only:
        stem += f"_{args.only}"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2, default=str))
    md = markdown(report)
    (args.out / f"{stem}.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
