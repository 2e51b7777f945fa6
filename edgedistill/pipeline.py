"""The demo: real data -> teacher -> cached logits -> distilled and label-only students -> ONNX fp32/int8
-> benchmark -> parity -> bundle + report.json. It only calls the capability packages' verbs.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from edgecore import ConfigError, ParityError, atomic_write, prepare_output_dir
from edgecore.tokenizer import RNN_INPUTS


@dataclass(frozen=True)
class DemoProfile:
    name: str
    test: int
    dev: int
    max_train: int | None
    teacher_epochs: float
    teacher_max_steps: int | None
    student_epochs: int
    bench_runs: int
    bench_warmup: int
    hidden: int = 256
    embed_dim: int = 128       # student embeddings: PCA of the teacher's word embeddings (384 -> 128 keeps the bundle < 3 MB)
    min_count: int = 2         # vocabulary: tokens seen at least twice in the transfer set
    parity_sentences: int | None = None   # None: the whole test split


PROFILES = {
    "full": DemoProfile("full", test=2000, dev=1000, max_train=None, teacher_epochs=2.0, teacher_max_steps=None,
                        student_epochs=6, bench_runs=200, bench_warmup=20),
    "quick": DemoProfile("quick", test=500, dev=200, max_train=1500, teacher_epochs=1.0, teacher_max_steps=40,
                         student_epochs=3, bench_runs=100, bench_warmup=10),
}


@dataclass(frozen=True)
class DemoConfig:
    out: Path = Path("runs/demo")
    profile: str | DemoProfile = "full"
    data: str = "movie-snippets"
    base: str = "minilm-l6"
    force: bool = False
    threads: int = 1
    seq_len: int = 64
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.profile, DemoProfile) and self.profile not in PROFILES:
            raise ConfigError(f"profile {self.profile!r} is unknown; choose one of {', '.join(PROFILES)}")


def _log(console, message: str) -> None:
    if console is not None:
        console.print(message)


class _Clock:
    """Wall time per stage, for report.json's timings_seconds."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.timings: dict[str, float] = {}

    def stage(self, name: str):
        clock = self

        class _Lap:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                clock.timings[name] = round(time.perf_counter() - self.t0, 2)
        return _Lap()


def run_demo(config: DemoConfig, console=None) -> dict:
    """Run the whole path once and return report.json's content (also written to `config.out`).

    A file that fails parity is never bundled (the int8 student failing leaves no bundle at all). When any file fails,
    every output is still written (report.json / parity.json show which and why), then ParityError names the failed
    files; its `.report` holds what this function would have returned.

    >>> report = run_demo(DemoConfig(out="runs/demo-quick", profile="quick"))   # doctest: +SKIP
    >>> report["students"][0]["accuracy"]                                       # doctest: +SKIP
    """
    import torch

    profile = config.profile if isinstance(config.profile, DemoProfile) else PROFILES[config.profile]
    out = prepare_output_dir(config.out, config.force)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    clock = _Clock()
    with clock.stage("data"):
        dataset = _data(config, profile, console)
    with clock.stage("teacher"):
        teacher, teacher_cfg = _teacher(config, profile, dataset)
    cached = clock.timings["teacher"] < teacher.metrics["train_seconds"]
    _log(console, f"[bold]teacher[/] dev {teacher.metrics['dev_accuracy']:.2%}, test {teacher.metrics['test_accuracy']:.2%} "
                  f"({'cached' if cached else 'trained'}, {teacher.path})")
    with clock.stage("teacher_logits"):
        train_logits, test_logits, logits_hit = _teacher_logits(teacher, dataset, console)
    students = _students(out, profile, config, dataset, teacher, train_logits, clock, console)
    with clock.stage("export"):
        artifacts = _export(out, dataset, teacher, students.runs["bilstm-distilled"].model, console)
    with clock.stage("benchmark"):
        runners, bench, bench_cfg, by_length = _benchmark(config, profile, dataset, teacher, students, artifacts)
    with clock.stage("parity"):
        logits, reports = _parity(profile, dataset, teacher, runners, test_logits)
    failed = _parity_failures(out, reports, artifacts)
    with clock.stage("bundle"):
        s_int8_report = reports[SHIPPED]
        bundle_dir = _bundle(out, dataset, teacher, artifacts["s_int8"], s_int8_report) if s_int8_report.passed else _no_bundle(out)
    report = _report(config, profile, out, dataset, teacher, students, artifacts, bench, bench_cfg, logits, reports, test_logits,
                     bundle_dir, logits_hit, clock)
    report["parity_failed"] = failed
    report["bench_by_length"] = by_length
    _write_outputs(out, report, reports, bench, config, profile, teacher_cfg, students)
    if console is not None:
        from edge_runtime.report import rich_table

        console.print(rich_table(report))
        console.print(f"wrote {out / 'report.json'}, {out / 'report.html'}, "
                      f"{f'bundle {bundle_dir}' if bundle_dir else 'no bundle (the int8 student failed parity)'} "
                      f"({report['wall_seconds']:.0f} s)")
    if failed:
        error = ParityError(f"parity failed for {len(failed)} file{'s' * (len(failed) > 1)}: "
                            + "; ".join(f"{f['file']}: {', '.join(f['failures'])}" for f in failed)
                            + f"; {'the bundle holds only files that passed' if bundle_dir else 'no bundle was written'}, "
                            f"details in {out / 'parity.json'} and {out / 'report.json'}")
        error.report = report
        raise error
    return report


#: the demo's phone bundle ships this file (only if it passes parity)
SHIPPED = "bilstm-distilled/onnx/int8"
#: parity report key -> the artifacts entry of the file it checked (PyTorch rows compare a model with itself)
_FILES = {"teacher/onnx/fp32": "t_fp32", "teacher/onnx/int8": "t_int8", "bilstm-distilled/onnx/fp32": "s_fp32", SHIPPED: "s_int8"}


def _parity_failures(out: Path, reports: dict, artifacts: dict) -> list[dict]:
    """[{name, file, failures}] of every file outside its parity tolerance, files named relative to `out`."""
    failed = []
    for name, rep in reports.items():
        if rep.passed:
            continue
        file = Path(artifacts[_FILES[name]].path) if name in _FILES else None
        shown = str(file.relative_to(out)) if file is not None and file.is_relative_to(out) else str(file or name)
        failed.append({"name": name, "file": shown, "failures": list(rep.failures)})
    return failed


def _no_bundle(out: Path) -> None:
    """No file to ship: a bundle left by an earlier run (replaced with --force) must not pass for this run's."""
    import shutil

    for old in (out / "bundle", out / "bundle.zip"):
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    return None


def _data(config: DemoConfig, profile: DemoProfile, console):
    """1. The data set with the profile's fixed-seed split."""
    from distill import SplitConfig, load_dataset

    dataset = load_dataset(config.data, SplitConfig(test=profile.test, dev=profile.dev, seed=13, max_train=profile.max_train))
    _log(console, f"[bold]data[/] {dataset.name}: {dataset.sizes()}")
    return dataset


def _teacher(config: DemoConfig, profile: DemoProfile, dataset):
    """2. The fine-tuned teacher, cached by base weights + data + settings."""
    from distill import TeacherConfig, finetune_teacher

    teacher_cfg = TeacherConfig(base=config.base, epochs=profile.teacher_epochs, max_steps=profile.teacher_max_steps, seed=config.seed)
    return finetune_teacher(dataset, teacher_cfg), teacher_cfg


def _teacher_logits(teacher, dataset, console):
    """3. Teacher logits over the transfer set (train split) and the test split, cached by content hash."""
    from distill import cached_teacher_logits

    train_logits, hit_train = cached_teacher_logits(teacher, dataset.train.texts, "teacher logits (transfer set)")
    test_logits, hit_test = cached_teacher_logits(teacher, dataset.test.texts, "teacher logits (test)")
    _log(console, f"[bold]teacher logits[/] transfer {train_logits.shape} ({'cache hit' if hit_train else 'computed'}), "
                  f"test {test_logits.shape} ({'cache hit' if hit_test else 'computed'})")
    return train_logits, test_logits, hit_train and hit_test


@dataclass
class _Students:
    runs: dict
    hits: dict
    student_cfg: object
    train_cfg: object


def _students(out: Path, profile: DemoProfile, config: DemoConfig, dataset, teacher, train_logits, clock: _Clock, console) -> _Students:
    """4. Two BiLSTMs with the same hyper-parameters: distilled (logit MSE, BiLSTM-SOFT) and label-only (the control).

    The vocabulary is pruned to the transfer set's tokens and the embeddings projected (PCA) to fewer columns:
    the table (and the bundle) shrink, the tokenizer stays whole."""
    from distill import RNNStudentConfig, TrainConfig, save_student
    from distill.recipes import reduce_embeddings, select_vocabulary, teacher_word_embeddings

    encoder = teacher.encoder.with_inputs(RNN_INPUTS)
    keep_ids = select_vocabulary(encoder, dataset.train.texts, profile.min_count)
    embeddings = teacher_word_embeddings(teacher.model)
    if profile.embed_dim < embeddings.shape[1]:
        embeddings = reduce_embeddings(embeddings, profile.embed_dim, keep_ids)
    student_cfg = RNNStudentConfig(vocab_size=len(keep_ids), tokenizer_vocab_size=encoder.settings.vocab_size,
                                   num_labels=len(dataset.label_names), embed_dim=embeddings.shape[1],
                                   hidden=profile.hidden, pad_id=encoder.settings.pad_id)
    train_cfg = TrainConfig(loss="mse", epochs=profile.student_epochs, patience=3, seed=config.seed)
    runs, hits = {}, {}
    for name, cfg in (("bilstm-distilled", train_cfg), ("bilstm-labels", replace(train_cfg, loss="ce"))):
        with clock.stage(f"train_{name}"):
            runs[name], hits[name] = _cached_student(name, dataset, teacher, student_cfg, cfg, train_logits, embeddings, keep_ids)
        run = runs[name]
        save_student(run.model, out / "students" / name, encoder, dataset.label_names,
                     {"train": asdict(cfg), "result": {k: v for k, v in asdict(run.result).items() if k != "history"},
                      "history": run.result.history, "test_accuracy": run.test_accuracy}, force=True)
        _log(console, f"[bold]{name}[/] test {run.test_accuracy:.2%} (best dev {run.result.best_dev_accuracy:.2%} "
                      f"at epoch {run.result.best_epoch}, {run.result.seconds:.0f} s{', cached' if hits[name] else ''})")
    return _Students(runs, hits, student_cfg, train_cfg)


def _export(out: Path, dataset, teacher, student, console) -> dict:
    """5. The distilled student to ONNX fp32 + int8; the teacher to ONNX fp32 + its default int8 recipe."""
    from export import OnnxConfig, QuantConfig, quantize_onnx, to_onnx
    from export.quantize import TRANSFORMER_INT8

    encoder = teacher.encoder
    check_texts = dataset.dev.texts[:64]
    sample = encoder.encode(check_texts[:2])
    validate = [encoder.encode(check_texts[i:i + 16]) for i in range(0, len(check_texts), 16)]
    validate_np = [{k: v.numpy() for k, v in f.items()} for f in validate]
    rnn = [{k: v for k, v in f.items() if k in RNN_INPUTS} for f in (sample, *validate)]
    art_dir = out / "artifacts"
    meta = {"edgedistill.labels": json.dumps(list(dataset.label_names)), "edgedistill.max_len": str(encoder.max_len)}
    s_fp32 = to_onnx(student, rnn[0], art_dir / "bilstm-distilled.fp32.onnx", OnnxConfig(), meta, rnn[1:], force=True)
    s_int8 = quantize_onnx(s_fp32, art_dir / "bilstm-distilled.int8.onnx", QuantConfig("int8"),
                           validate_with=[{k: v.numpy() for k, v in f.items()} for f in rnn[1:]], force=True)
    t_fp32 = to_onnx(teacher.model, sample, art_dir / "teacher.fp32.onnx", OnnxConfig(), meta, validate, force=True)
    calibration = [encoder.encode_np([t]) for t in dataset.train.texts[:200]]   # SmoothQuant's
    t_int8 = quantize_onnx(t_fp32, art_dir / "teacher.int8.onnx", QuantConfig("int8", transformer=True, **TRANSFORMER_INT8),
                           calibration=calibration, validate_with=validate_np, force=True)
    _log(console, f"[bold]export[/] student ONNX fp32 {s_fp32.size_bytes / 1e6:.1f} MB -> int8 {s_int8.size_bytes / 1e6:.1f} MB; "
                  f"teacher fp32 {t_fp32.size_bytes / 1e6:.1f} MB -> int8 {t_int8.size_bytes / 1e6:.1f} MB")
    return {"s_fp32": s_fp32, "s_int8": s_int8, "t_fp32": t_fp32, "t_int8": t_int8}


def _benchmark(config: DemoConfig, profile: DemoProfile, dataset, teacher, students: _Students, artifacts: dict):
    """6. Every model timed interleaved, so drift of the machine hits all alike."""
    from edge_runtime import BenchConfig, TorchRunner, bench_interleaved, fixed_length_feeds, load
    from edge_runtime.benchmark import bench_data_lengths

    bench_cfg = BenchConfig(warmup=profile.bench_warmup, runs=profile.bench_runs, threads=config.threads, seq_len=config.seq_len)
    feeds = fixed_length_feeds(teacher.encoder.encode_np, dataset.test.texts[:40], config.seq_len)
    t = config.threads
    runners = {"teacher/pytorch/fp32": TorchRunner(teacher.model, t),
               "teacher/onnx/fp32": load(artifacts["t_fp32"].path, t),
               "teacher/onnx/int8": load(artifacts["t_int8"].path, t),
               "bilstm-distilled/pytorch/fp32": TorchRunner(students.runs["bilstm-distilled"].model, t),
               "bilstm-distilled/onnx/fp32": load(artifacts["s_fp32"].path, t),
               "bilstm-distilled/onnx/int8": load(artifacts["s_int8"].path, t),
               "bilstm-labels/pytorch/fp32": TorchRunner(students.runs["bilstm-labels"].model, t)}
    bench = bench_interleaved(runners, feeds, bench_cfg)
    return runners, bench, bench_cfg, bench_data_lengths(runners, bench, bench_cfg, teacher.encoder.encode_np, dataset.test.texts)


def _parity(profile: DemoProfile, dataset, teacher, runners: dict, test_logits):
    """7. Every file on the test split, against its PyTorch source and against the teacher."""
    from edge_runtime import logits_for_texts, parity

    texts, gold = dataset.test.texts, dataset.test.labels
    if profile.parity_sentences:
        n = profile.parity_sentences
        texts, gold, test_logits = texts[:n], gold[:n], test_logits[:n]
    logits = {name: logits_for_texts(runner, teacher.encoder.encode_np, texts) for name, runner in runners.items()
              if "teacher/pytorch" not in name}
    reports = {}
    for name, lg in logits.items():
        model, fmt, precision = name.split("/")
        source = logits[f"{model}/pytorch/fp32"] if model != "teacher" else test_logits
        reports[name] = parity(lg, source, test_logits, gold=gold, texts=texts, fmt=fmt, precision=precision, name=name)
    return logits, reports


def _bundle(out: Path, dataset, teacher, s_int8, s_int8_report) -> Path:
    """8. The phone bundle: int8 student + tokenizer + labels + manifest with the parity figures just measured."""
    from export import BundleConfig, write_bundle

    return write_bundle(out / "bundle", [s_int8], teacher.path,
                        BundleConfig("bilstm-distilled", dataset.label_names, asdict(teacher.encoder.with_inputs(RNN_INPUTS).settings),
                                     f"BiLSTM distilled from {Path(teacher.metrics.get('base', 'teacher')).name} on {dataset.name}"),
                        parity={"data": dataset.name, "split": "test", **s_int8_report.to_dict(max_flips=20)}, force=True)


def _report(config, profile, out, dataset, teacher, students: _Students, artifacts, bench, bench_cfg, logits, reports, test_logits,
            bundle_dir, logits_hit, clock: _Clock) -> dict:
    """report.json's content: the keys other tools rely on (docs/architecture.md) and the run's details."""
    from edge_runtime.device import machine_info
    from edge_runtime.report import add_floors

    def artifact(name: str, path, size: int, fmt: str, precision: str) -> dict:
        key = f"{name}/{fmt}/{precision}"
        rep = reports.get(key)
        lat = bench[key].latency_ms
        return {"format": fmt, "precision": precision, "path": str(path), "size_bytes": int(size),
                "latency_ms": {k: round(lat[k], 4) for k in ("p50", "p90", "p99", "mean", "min", "max")},
                "accuracy": rep.accuracy if rep else None, "agreement_with_teacher": rep.agreement_with_teacher if rep else None,
                "agreement_with_source": rep.agreement_with_source if rep else None,
                "max_abs_logit_diff": rep.max_abs_logit_diff if rep else None,
                "mean_abs_logit_diff": rep.mean_abs_logit_diff if rep else None,
                "parity_passed": rep.passed if rep else None, "flips": len(rep.flips) if rep else None}

    rows = []
    for name, run in students.runs.items():
        ckpt = out / "students" / name
        arts = [artifact(name, ckpt, (ckpt / "model.safetensors").stat().st_size, "pytorch", "fp32")]
        agreement = float((logits[f"{name}/pytorch/fp32"].argmax(1) == test_logits[: len(logits[f"{name}/pytorch/fp32"])].argmax(1)).mean())
        arts[0].update(accuracy=run.test_accuracy, agreement_with_teacher=agreement, max_abs_logit_diff=0.0)
        if name == "bilstm-distilled":
            arts += [artifact(name, a.path, a.size_bytes, "onnx", a.precision) for a in (artifacts["s_fp32"], artifacts["s_int8"])]
        rows.append({"name": name, "kind": "bilstm", "trained_on": run.trained_on, "accuracy": run.test_accuracy,
                     "params": run.model.num_parameters(), "params_non_embedding": run.model.num_parameters(False),
                     "best_dev_accuracy": run.result.best_dev_accuracy, "train_seconds": round(run.result.seconds, 1),
                     "steps": run.result.steps, "artifacts": arts})
    t_lat = bench["teacher/pytorch/fp32"].latency_ms
    report = {
        "teacher": {"name": "teacher-minilm-l6", "accuracy": teacher.metrics["test_accuracy"], "dev_accuracy": teacher.metrics["dev_accuracy"],
                    "params": sum(p.numel() for p in teacher.model.parameters()),
                    "latency_ms": {k: round(t_lat[k], 4) for k in ("p50", "p90", "p99", "mean", "min", "max")},
                    "size_bytes": (teacher.path / "model.safetensors").stat().st_size, "path": str(teacher.path),
                    "artifacts": [artifact("teacher", a.path, a.size_bytes, "onnx", a.precision) for a in (artifacts["t_fp32"], artifacts["t_int8"])]},
        "students": rows,
        "data": {"name": dataset.name, **dataset.sizes(), "source": dataset.source},
        "machine": {**machine_info(), "threads": config.threads, "cores": len(os.sched_getaffinity(0))},
        "bench": {**asdict(bench_cfg), "interleaved": True},
        "profile": asdict(profile),
        "config": {**asdict(config), "out": str(config.out), "profile": profile.name},
        "bundle": ({"path": str(bundle_dir), "files": json.loads((bundle_dir / "manifest.json").read_text())["files"]} if bundle_dir
                   else {"path": None, "files": [], "left_out": f"{SHIPPED} failed parity"}),
        "cache": {"teacher": str(teacher.path), "teacher_logits_hit": logits_hit, "students_hit": students.hits},
        "timings_seconds": clock.timings,
        "wall_seconds": round(time.perf_counter() - clock.start, 1),
    }
    report["machine"]["load_avg_1min"] = os.getloadavg()[0]   # at the end of the run; machine_info() took it at the start
    return add_floors(report, out)   # each latency as a multiple of its FLOP floor on this machine


def _write_outputs(out: Path, report: dict, reports: dict, bench: dict, config: DemoConfig, profile: DemoProfile, teacher_cfg,
                   students: _Students) -> None:
    """9. report.json, parity.json, bench.json (raw latencies), report.md, report.html and run_config.json."""
    from edge_runtime.report import write_html, write_markdown

    with atomic_write(out / "report.json", "w") as f:
        json.dump(report, f, indent=2)
    with atomic_write(out / "parity.json", "w") as f:
        json.dump({k: v.to_dict() for k, v in reports.items()}, f, indent=2)
    with atomic_write(out / "bench.json", "w") as f:
        json.dump({k: v.to_dict(with_samples=True) for k, v in bench.items()}, f)
    write_markdown(out)
    write_html(out)
    with atomic_write(out / "run_config.json", "w") as f:
        json.dump({"demo": {**asdict(config), "out": str(config.out), "profile": asdict(profile)}, "teacher": asdict(teacher_cfg),
                   "student": asdict(students.student_cfg), "train": asdict(students.train_cfg)}, f, indent=2)


def _cached_student(name, dataset, teacher, student_cfg, train_cfg, train_logits, embeddings, keep_ids):
    """Train a student, or load it from the cache when (teacher, transfer set, configs) are unchanged.

    Training is deterministic under its seed, so a cached student is the one a new run would train.
    Returns (StudentRun, hit).
    """
    import hashlib

    from distill import StudentRun, TrainResult, load_student, save_student, train_rnn_student
    from distill.trainer import accuracy
    from edgecore import cache_dir, cache_lock

    h = hashlib.sha256(teacher.weights_hash().encode())
    h.update(dataset.fingerprint().encode())
    h.update(json.dumps([asdict(student_cfg), asdict(train_cfg), keep_ids], sort_keys=True).encode())
    h.update(np.ascontiguousarray(train_logits).tobytes())
    path = cache_dir("students") / f"{name}-{h.hexdigest()[:20]}"

    def cached():
        if not (path / "student.json").is_file():
            return None
        try:
            model, meta = load_student(path)
            result = TrainResult(**meta["result"])
            encoder = teacher.encoder.with_inputs(RNN_INPUTS)
            test_acc = accuracy(model, encoder.ids(dataset.test.texts), dataset.test.labels, encoder.pad)
            if abs(test_acc - meta["test_accuracy"]) < 1e-9:   # the cached weights are the ones that scored this
                return StudentRun(name, model, meta["trained_on"], result, test_acc)
        except Exception:
            pass
        return None

    if (hit := cached()) is not None:
        return hit, True
    with cache_lock(path):   # another demo training the same student: wait for it, then reuse what it saved
        if (hit := cached()) is not None:
            return hit, True
        run = train_rnn_student(name, dataset, teacher.encoder, student_cfg, train_cfg, teacher_logits=train_logits,
                                init_embeddings=embeddings, keep_ids=keep_ids)
        save_student(run.model, path, teacher.encoder, dataset.label_names,
                     {"result": asdict(run.result), "test_accuracy": run.test_accuracy, "trained_on": run.trained_on}, force=True)
    return run, False
