"""The export and parity verbs' work: load the checkpoint, convert it format by format, measure parity, bundle."""
from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from edgecore import CheckpointError, ConfigError, DataError, OutputExistsError, ParityError, UnsupportedError, check_writable
from edgecore.formats import SHIP_ORDER


def load_checkpoint(path: Path):
    """(model, encoder, labels, kind) for a student folder or a Hugging Face classifier folder."""
    from distill import Encoder, is_student_checkpoint, load_student, load_teacher

    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; give a student folder from `edgedistill distill` or a Hugging Face classifier folder")
    if not path.is_dir():
        raise CheckpointError(f"{path} is a file; give the checkpoint folder (student.json or config.json + model.safetensors + tokenizer.json)")
    if is_student_checkpoint(path):
        from distill.hf_check import check_tokenizer_fits

        model, meta = load_student(path)
        encoder = Encoder(path, meta.get("max_len", 64))
        if getattr(model.config, "siamese", False):   # a siamese student of sentence pairs reads each side alone
            from edgecore.tokenizer import SIAMESE_INPUTS

            encoder = encoder.with_inputs(SIAMESE_INPUTS)
        check_tokenizer_fits(path, encoder.settings.vocab_size, model.config.tokenizer_vocab_size or model.config.vocab_size)
        return model, encoder, tuple(meta["labels"]), meta["kind"]
    if not any(path.iterdir()):
        raise CheckpointError(f"checkpoint folder {path} is empty; it needs student.json or config.json, model.safetensors and tokenizer.json")
    teacher = load_teacher(path)   # checks the tokenizer fits the embedding table itself
    return teacher.model, teacher.encoder, teacher.label_names, "transformer"


def checkpoint_task(path: Path, model, labels: tuple[str, ...]) -> dict:
    """A checkpoint's task record: {"problem_type": ...} and, for a multi-label classifier, its per-label "thresholds"
    (None when the checkpoint has none: a Hugging Face folder trained elsewhere). Read from student.json or metrics.json."""
    from edgecore.multilabel import MULTI_LABEL, SINGLE_LABEL, check_thresholds

    config = getattr(model, "config", None)
    saved = {}
    for name in ("student.json", "metrics.json"):
        file = path / name
        if file.is_file():
            try:
                doc = json.loads(file.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise CheckpointError(f"{file} is not valid JSON ({e}); re-save the checkpoint") from None
            saved = doc.get("task") if isinstance(doc, dict) and isinstance(doc.get("task"), dict) else saved
    problem = saved.get("problem_type") or getattr(config, "problem_type", None) or SINGLE_LABEL
    if problem == "regression":
        raise UnsupportedError(f"{path} is a regression model (problem_type regression); edgedistill exports classifiers")
    if problem not in (SINGLE_LABEL, MULTI_LABEL):
        raise CheckpointError(f"{path} has problem_type {problem!r}; expected {SINGLE_LABEL} or {MULTI_LABEL}")
    thresholds = saved.get("thresholds")
    if problem == MULTI_LABEL and thresholds is not None:
        thresholds = check_thresholds(thresholds, len(labels), f"{path} task.thresholds")
    return {"problem_type": problem, "thresholds": thresholds if problem == MULTI_LABEL else None}


def _keep_patterns(spec: tuple[str, ...], sensitive: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Node-name fragments with "sensitive" expanded to `sensitive` (default TEACHER_SENSITIVE)."""
    if sensitive is None:
        from export.quantize import TEACHER_SENSITIVE as sensitive

    return tuple(p for item in spec for p in (sensitive if item == "sensitive" else (item,)))


def _nbits_patterns(config, kind: str, fp32_path: str) -> tuple[str, ...]:
    """The MatMuls to make MatMulNBits. By default those of the Transformer int8 default (export.quantize.TRANSFORMER_INT8: a BERT's
    blocks 1-3 feed-forward MatMuls, benchmarks/results/int8_batched.md) when the node names have BERT's layout; `nbits` names them
    ("sensitive" = TEACHER_NBITS, or off); an explicit `nbits` that matches nothing is an error."""
    from export.quantize import TEACHER_NBITS, TRANSFORMER_INT8

    if config.nbits is not None:
        return _keep_patterns(tuple(item for item in config.nbits if item != "off"), TEACHER_NBITS)
    default = tuple(TRANSFORMER_INT8.get("nbits", ()))
    if kind != "transformer" or not default:
        return ()
    import onnx

    from export.nbits import nbits_targets

    try:
        nbits_targets(onnx.load(fp32_path, load_external_data=False), default)
    except ConfigError:
        return ()   # not BERT's node names (e.g. DistilBERT)
    return default


@dataclass(frozen=True)
class _Job:
    """What every per-format exporter needs: the loaded model and the sentences it is checked on."""
    config: object            # edgedistill.ExportConfig
    model: object
    encoder: object
    labels: tuple[str, ...]
    kind: str
    texts: list              # test rows: str, or (text, text_pair) for sentence-pair data
    train_texts: list
    tmp: Path
    meta: dict
    calibration: list | None  # padded feeds for int8-static / SmoothQuant, None when neither runs
    smooth: float | str | None

    @property
    def buckets(self) -> tuple[int, ...]:
        """The lengths bucketed files are built for: --buckets, else 16, 32, 64, ... up to the checkpoint's max_len."""
        from export.artifact import length_buckets

        return tuple(self.config.buckets) if self.config.buckets else length_buckets(self.encoder.max_len)

    @cached_property
    def sample(self):
        return self.encoder.encode(self.texts[:2])

    @cached_property
    def validate(self):
        """A few padded batches every exporter checks its file against before returning it (encoded once per export)."""
        return [self.encoder.encode(self.texts[i:i + 32]) for i in range(0, min(len(self.texts), 128), 32)]

    @cached_property
    def validate_np(self):
        return [{k: v.numpy() for k, v in f.items()} for f in self.validate]


def _attempt(fn, *args, **kwargs):
    """fn(*args, **kwargs) or the exception it raised: one format or precision failing leaves the others standing."""
    try:
        return fn(*args, **kwargs)
    except (ConfigError, OutputExistsError):
        raise   # the user's settings are wrong (a keep_fp32 pattern matching nothing, a bucket too short): fix, not skip
    except Exception as e:   # converters raise anything (NotImplementedError, RuntimeError, their own types)
        return e


def _failure(e: Exception) -> str:
    first = str(e).splitlines()[0] if str(e) else ""
    if isinstance(e, ParityError):   # converted, then failed the exporter's own check against PyTorch
        return f"failed its check at export: {first[:300]}"
    return f"conversion failed: {type(e).__name__}: {first[:300]}"


def _export_onnx(job: _Job) -> dict:
    from export import OnnxConfig, QuantConfig, quantize_onnx, to_onnx
    from export.quantize import TRANSFORMER_INT8

    cfg = job.config
    fp32 = _attempt(to_onnx, job.model, job.sample, job.tmp / "model.fp32.onnx", OnnxConfig(), job.meta, job.validate)
    if isinstance(fp32, Exception):
        return {p: fp32 for p in cfg.precisions}
    arts = {"fp32": fp32}
    nbits = _nbits_patterns(cfg, job.kind, fp32.path) if "int8" in cfg.precisions else ()
    for p in cfg.precisions:
        if p == "fp32":
            continue
        q_cfg = QuantConfig(p, transformer=job.kind == "transformer", keep_fp32=() if p == "fp16" else _keep_patterns(cfg.keep_fp32),
                            smooth=job.smooth if p == "int8" else None, nbits=nbits if p == "int8" else (),
                            per_token=bool(TRANSFORMER_INT8.get("per_token")) and p == "int8" and job.kind == "transformer")
        arts[p] = _attempt(quantize_onnx, fp32, job.tmp / f"model.{p}.onnx", q_cfg, calibration=job.calibration, validate_with=job.validate_np)
    return arts


def _export_tflite(job: _Job) -> dict:
    from export.tflite import TFLiteConfig, quantize_tflite, to_tflite

    cfg = job.config
    t_cfg = TFLiteConfig(buckets=job.buckets, recurrent=cfg.recurrent)
    meta = {**job.meta, "edgedistill.tokenizer": json.dumps(asdict(job.encoder.settings))}
    fp32 = _attempt(to_tflite, job.model, job.sample, job.tmp / "model.fp32.tflite", t_cfg, metadata=meta, validate_with=job.validate)
    if isinstance(fp32, Exception):
        return {p: fp32 for p in cfg.precisions}
    arts = {"fp32": fp32}
    calibration = job.calibration or [job.encoder.encode_np([t]) for t in job.train_texts[:100]]
    for p in cfg.precisions:
        if p != "fp32":
            arts[p] = _attempt(quantize_tflite, fp32, job.tmp / f"model.{p}.tflite", replace(t_cfg, precision=p),
                               calibration=calibration, validate_with=job.validate_np)
    return arts


def _export_coreml(job: _Job) -> dict:
    from export.coreml import CoreMLConfig, to_coreml

    arts = {}
    for p in job.config.precisions:
        # non-strict below fp32: a package past its tolerance is kept here, then measured and left out like any other
        c_cfg = CoreMLConfig(p, labels=tuple(job.labels), tokenizer=asdict(job.encoder.settings), max_seq_len=job.encoder.max_len,
                             description=f"{job.kind} exported by edgedistill")
        arts[p] = _attempt(to_coreml, job.model, job.sample, job.tmp / f"model.{p}.mlpackage", c_cfg, metadata=job.meta,
                           validate_with=job.validate, strict=(p == "fp32"))
    return arts


def _export_executorch(job: _Job) -> dict:
    from export.executorch import ExecuTorchConfig, to_executorch

    meta = {**job.meta, "edgedistill.tokenizer": json.dumps(asdict(job.encoder.settings))}
    arts = {}
    for p in job.config.precisions:
        # dynamic shapes where torch.export keeps them (Transformers), else one method per --buckets length (LSTM / GRU);
        # non-strict below fp32: a file past its tolerance is kept here, then measured and left out like any other
        e_cfg = ExecuTorchConfig(p, buckets=job.buckets)
        arts[p] = _attempt(to_executorch, job.model, job.sample, job.tmp / f"model.{p}.pte", e_cfg, metadata=meta,
                           validate_with=job.validate, strict=(p == "fp32"))
    return arts


EXPORTERS = {"onnx": _export_onnx, "tflite": _export_tflite, "coreml": _export_coreml, "executorch": _export_executorch}


def export(config, console=None) -> tuple[Path | None, list[dict], int]:
    """Checkpoint -> each format's files -> parity on real sentences -> bundle of the files that passed.

    Returns (bundle folder or None, one row per file, sentences checked)."""
    from distill import align_labels
    from distill.text import as_text
    from distill.trainer import predict
    from edge_runtime import load, logits_for_texts, parity
    from edgecore.multilabel import MULTI_LABEL, choose_thresholds
    from edgedistill._data import same_shape, supported_task
    from export import BundleConfig, write_bundle

    check_writable(config.out)
    dataset = supported_task(config.columns.load(config.data), "export")
    model, encoder, labels, kind = load_checkpoint(config.checkpoint)
    task = checkpoint_task(config.checkpoint, model, labels)
    multi_label = task["problem_type"] == MULTI_LABEL
    same_shape(dataset, multi_label, f"the checkpoint {config.checkpoint}")
    dataset = align_labels(dataset, labels, model=f"the checkpoint {config.checkpoint}")
    if multi_label and task["thresholds"] is None:   # a multi-label checkpoint trained elsewhere: thresholds from this data's dev split
        dev = predict(model, encoder.ids(dataset.dev.inputs), encoder.pad)
        task["thresholds"] = choose_thresholds(dev, dataset.dev.targets(len(labels)))
        if console is not None:
            console.print(f"{config.checkpoint} records no decision thresholds: chose them on {len(dataset.dev)} {dataset.name} dev rows")
    if dataset.has_pairs and kind != "transformer" and not encoder.siamese:
        raise UnsupportedError(f"{config.checkpoint} is a {kind} student of single sentences; {dataset.name} holds sentence pairs: "
                               f"export a student distilled on pair data (a siamese {kind}) or a Transformer checkpoint")
    if encoder.siamese and not dataset.has_pairs:
        raise UnsupportedError(f"{config.checkpoint} is a siamese {kind} student of sentence pairs; {dataset.name} holds single texts: "
                               f"give its pair data (--text-pair-column names the second text)")
    from edgecore.longtext import LongText

    policy = LongText(config.long_text, config.stride, config.aggregate, config.max_windows)
    if policy.windows and (dataset.has_pairs or encoder.siamese):
        raise UnsupportedError(f"--long-text windows reads single texts; {dataset.name} holds sentence pairs: use --long-text truncate")
    long_text = policy.to_dict(encoder.content_len)   # resolves the stride; one longer than a window fails here
    if config.text_input or config.mediapipe:
        _check_text_files(config, encoder, dataset.has_pairs or encoder.siamese, policy.windows)
    texts, gold = dataset.test.inputs[: config.validate], dataset.test.labels[: config.validate]
    shown = [as_text(t) for t in texts]
    source_logits = predict(model, encoder.ids(texts), encoder.pad)
    from export.quantize import TRANSFORMER_INT8

    smooth = (TRANSFORMER_INT8.get("smooth") if kind == "transformer" else None) if config.smooth is None else (None if config.smooth == "off" else config.smooth)
    calibration = None
    if "int8-static" in config.precisions or (smooth is not None and "int8" in config.precisions):
        calibration = [encoder.encode_np([t]) for t in config.columns.load(config.calibration or config.data).train.inputs[:200]]
    meta = {"edgedistill.labels": ",".join(labels), "edgedistill.max_len": str(encoder.max_len), "edgedistill.kind": kind}
    if multi_label:   # in each file's own metadata too, so a file used outside its bundle still says how to decide
        meta.update({"edgedistill.problem_type": task["problem_type"], "edgedistill.thresholds": json.dumps(list(task["thresholds"]))})
    family = str(getattr(model.config, "model_type", kind)) if kind == "transformer" else kind   # bert, roberta, ... or bilstm / gru
    rows, shipped, bundle = [], [], None
    with tempfile.TemporaryDirectory(prefix=".export-", dir=config.out.parent if config.out.parent.exists() else None) as tmp:
        job = _Job(config, model, encoder, labels, kind, texts, dataset.train.inputs, Path(tmp), meta, calibration, smooth)
        for fmt in config.formats:
            for p, art in EXPORTERS[fmt](job).items():
                if p not in config.precisions:
                    continue
                if isinstance(art, Exception):
                    rows.append({"family": family, "format": fmt, "precision": p, "size_bytes": None, "passed": False, "agreement_with_source": None,
                                 "max_abs_logit_diff": None, "accuracy": None, "source_accuracy": None, "failures": [_failure(art)]})
                    continue
                rep = parity(logits_for_texts(load(art.path), encoder.encode_np, texts), source_logits, source_logits, gold=gold,
                             texts=shown, fmt=fmt, precision=p, name=f"{config.checkpoint.name}/{fmt}/{p}", labels=list(labels),
                             thresholds=task["thresholds"])
                art = replace(art, validation={**art.validation, "parity": rep.to_dict(max_flips=10)})
                rows.append({"family": family, "format": fmt, "precision": p, "size_bytes": art.size_bytes, "passed": rep.passed,
                             "agreement_with_source": rep.agreement_with_source, "max_abs_logit_diff": rep.max_abs_logit_diff,
                             "accuracy": rep.accuracy, "source_accuracy": rep.source_accuracy, "failures": rep.failures})
                if rep.passed:
                    shipped.append(art)
        shipped.sort(key=lambda a: (config.formats.index(a.format), SHIP_ORDER[a.precision]))
        if shipped and (config.text_input or config.mediapipe):   # listed after the ids-input files: never the default
            text_rows, text_arts = _export_text_files(job, shipped, family, multi_label)
            rows += text_rows
            shipped += text_arts
        if shipped:
            bundle = write_bundle(config.out, shipped, encoder.dir,
                                  BundleConfig(config.checkpoint.name, labels, asdict(encoder.settings), f"{kind} exported by edgedistill", config.zip,
                                               task={"inputs": ["text", "text_pair"] if dataset.has_pairs else ["text"],
                                                     **({"pair_encoding": "siamese" if encoder.siamese else "joint"} if dataset.has_pairs else {}),
                                                     "problem_type": task["problem_type"], "long_text": long_text,
                                                     **({"thresholds": list(task["thresholds"])} if multi_label else {})}),
                                  parity={"data": dataset.name, "split": "test", "sentences": len(texts), "rows": rows}, force=config.force)
    if console is not None:
        console.print(_export_table(config, rows, len(texts), dataset.name))
        console.print(f"bundle: {bundle}" if bundle else "[red]no model passed parity: nothing was written[/]")
    return bundle, rows, len(texts)


def _check_text_files(config, encoder, pairs: bool, windows: bool) -> None:
    """--text-input / --mediapipe refused up front, in one line, for what no route supports (before any conversion)."""
    what = " and ".join(f for f, on in (("--text-input", config.text_input), ("--mediapipe", config.mediapipe)) if on)
    if pairs:
        raise UnsupportedError(f"{what} classifies one text per call; this export reads sentence pairs: leave {what} out")
    if windows:
        raise UnsupportedError(f"{what} truncates like the checkpoint's tokenizer; --long-text windows needs the ids-input files")
    settings = asdict(encoder.settings)
    if config.text_input:
        from edgecore.tokenizer import load_tokenizer
        from export.text_input import op_settings

        op_settings(load_tokenizer(encoder.dir).spec, settings)
    if config.mediapipe:
        from export.mediapipe import check_tokenizer

        check_tokenizer(settings)


def _export_text_files(job: _Job, shipped: list, family: str, multi_label: bool) -> tuple[list[dict], list]:
    """The string-input ONNX of every shipped ONNX file (--text-input) and the MediaPipe .tflite (--mediapipe), each checked
    against the ids-input path on every test sentence; kept when it agrees on at least the fp32 share of its format."""
    from edgecore.tokenizer import load_tokenizer
    from edgecore.tolerances import tolerance
    from export.bundle import _derive_vocab_txt
    from export.mediapipe import to_mediapipe_tflite
    from export.text_input import to_text_input_onnx

    cfg, settings = job.config, asdict(job.encoder.settings)
    pairs = [(t, job.encoder.encode_np([t])) for t in job.texts]
    rows, arts = [], []

    def add(fmt: str, precision: str, art, runtime: str) -> None:
        row = {"family": family, "format": fmt, "precision": precision, "input": "text", "runtime": runtime, "accuracy": None,
               "source_accuracy": None}
        if isinstance(art, Exception):
            rows.append({**row, "size_bytes": None, "passed": False, "agreement_with_source": None, "max_abs_logit_diff": None,
                         "failures": [_failure(art)]})
            return
        v, need = art.validation, tolerance(fmt, "fp32").min_agreement
        passed = v["agreement_vs_ids"] >= need
        rows.append({**row, "size_bytes": art.size_bytes, "passed": passed, "agreement_with_source": v["agreement_vs_ids"],
                     "max_abs_logit_diff": v.get("max_abs_logit_diff_vs_ids"), "max_abs_prob_diff": v.get("max_abs_prob_diff_vs_ids"),
                     "failures": [] if passed else [f"agrees with the ids-input path on {v['agreement_vs_ids']:.2%} of {v['sentences']} "
                                                     f"sentences (needs {need:.1%}): its tokenizer splits those texts differently"]})
        if passed:
            arts.append(art)

    if cfg.text_input:
        spec = load_tokenizer(job.encoder.dir).spec
        for art in [a for a in shipped if a.format == "onnx"]:
            add("onnx", art.precision, _attempt(to_text_input_onnx, art, spec, settings, job.tmp / f"model.{art.precision}.text.onnx",
                                                validate_with=pairs), "onnxruntime-extensions")
    if cfg.mediapipe:
        vocab = job.tmp / "vocab.txt"
        if settings.get("model") == "Unigram":   # MediaPipe's SentencePiece tokenizer reads the ModelProto the ONNX op gets
            from export.text_input import op_settings

            vocab = job.tmp / "sentencepiece.model"
            vocab.write_bytes(op_settings(load_tokenizer(job.encoder.dir).spec, settings).model)
        elif (job.encoder.dir / "vocab.txt").is_file():
            vocab.write_bytes((job.encoder.dir / "vocab.txt").read_bytes())
        else:
            _derive_vocab_txt(job.encoder.dir / "tokenizer.json", vocab)
        recurrent = cfg.recurrent if cfg.recurrent in ("stock", "loop") else "loop"   # MediaPipe runs one subgraph: no WHILE loop
        add("tflite", "fp32", _attempt(to_mediapipe_tflite, job.model, settings, vocab, tuple(job.labels), job.tmp / "model.fp32.mediapipe.tflite",
                                       multi_label=multi_label, recurrent=recurrent, metadata=job.meta, validate_with=pairs), "mediapipe-tasks")
    return rows, arts


def _export_table(config, rows: list[dict], sentences: int, data_name: str):
    from rich.table import Table

    family = rows[0]["family"] if rows else "?"
    table = Table(title=f"{config.checkpoint} ({family}) -> {config.out} (parity vs PyTorch on {sentences} {data_name} test sentences)")
    for col in ("format", "precision", "size MB", "agreement", "max |Δlogit|", "accuracy", "shipped"):
        table.add_column(col)
    fmt = lambda value, spec: "-" if value is None else format(value, spec)
    for r in rows:
        shown = r["format"] + {"onnxruntime-extensions": " (text in)", "mediapipe-tasks": " (MediaPipe)"}.get(r.get("runtime"), "")
        table.add_row(shown, r["precision"], fmt(r["size_bytes"] and r["size_bytes"] / 1e6, ".2f"), fmt(r["agreement_with_source"], ".2%"),
                      fmt(r["max_abs_logit_diff"], ".2g"), fmt(r["accuracy"], ".2%"),
                      "yes" if r["passed"] else f"[red]NO: {'; '.join(r['failures'])}[/]")
    matrix = Table(title="family x format (precisions shipped / failed)")
    matrix.add_column("family")
    formats = list(dict.fromkeys(r["format"] for r in rows))
    for f in formats:
        matrix.add_column(f)
    cell = lambda f: " ".join(f"{r['precision']} {'ok' if r['passed'] else '[red]FAILED[/]'}" for r in rows if r["format"] == f)
    matrix.add_row(family, *(cell(f) for f in formats))
    from rich.console import Group

    return Group(table, matrix)


def _class_table(name: str, classes: dict):
    """Per-class precision/recall/F1 and the confusion matrix (rows: gold, columns: predicted) of one file."""
    from rich.table import Table

    table = Table(title=f"{name}: per class (macro F1 {classes['macro_f1']:.3f}); confusion rows = gold, columns = predicted")
    for col in ("class", "precision", "recall", "F1", "support", *classes["labels"]):
        table.add_column(col)
    for label, row in zip(classes["labels"], classes["confusion"]):
        c = classes["per_class"][label]
        table.add_row(label, f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", str(c["support"]), *map(str, row))
    return table


def _label_table(name: str, detail: dict):
    """A multi-label file's per-label threshold, agreement with the teacher and precision/recall/F1 against gold."""
    from rich.table import Table

    scores = detail.get("per_label") or {}
    table = Table(title=f"{name}: per label (micro F1 {detail.get('micro_f1', float('nan')):.3f}, macro F1 "
                        f"{detail.get('macro_f1', float('nan')):.3f}, whole label set as the teacher's on "
                        f"{detail['exact_agreement_with_teacher']:.2%} of rows)")
    for col in ("label", "threshold", "agreement", "precision", "recall", "F1", "support"):
        table.add_column(col)
    for label, threshold in zip(detail["agreement_with_teacher_per_label"], detail["thresholds"]):
        c = scores.get(label, {})
        table.add_row(label, f"{threshold:.2f}", f"{detail['agreement_with_teacher_per_label'][label]:.2%}",
                      *(f"{c[k]:.3f}" if k in c else "-" for k in ("precision", "recall", "f1")), str(c.get("support", "-")))
    return table


def bundle_thresholds(bundle) -> tuple[float, ...] | None:
    """A multi-label bundle's per-label thresholds (manifest task.thresholds); None for a single-label bundle."""
    from edgecore.multilabel import MULTI_LABEL, check_thresholds

    task = bundle.manifest.get("task") or {}
    if task.get("problem_type") != MULTI_LABEL:
        return None
    return check_thresholds(task["thresholds"], len(bundle.labels))   # Bundle.open has checked them


def _windowed_logits(model, encoder, texts: list, long_text, multi_label: bool, batch_size: int = 256):
    """A checkpoint's logits for `texts` read as the bundle's windows (long_text, a LongText), aggregated as the bundle does."""
    from distill.trainer import predict
    from edgecore.longtext import aggregate_rows

    rows, owners = encoder.windows(texts, long_text)
    return aggregate_rows(predict(model, rows, encoder.pad, batch_size), owners, len(texts), long_text.aggregate, multi_label)


def bundle_parity(bundle_path: Path, teacher: Path, data: str, source: Path | None, console=None, columns=None,
                  arch: str = "x86", arm64_cpu: str = "cortex-a76", limit: int | None = None) -> dict:
    """Every model in a bundle on a test split: agreement with the teacher, accuracy, flips (and drift vs source).
    arch "arm64": each file runs on the ARM64 runtimes under qemu, and is compared with itself on x86 (edge_runtime.arm64).
    limit: the first `limit` test sentences only (the teacher's logits are still those of the whole split, sliced).
    A windows bundle (manifest task.long_text) is compared with a teacher checkpoint (and --source) reading the same
    windows, aggregated the same way; a teacher given as logits (.npy) is taken as it is."""
    from distill import align_labels, cached_teacher_logits, load_teacher
    from distill.text import as_text
    from distill.trainer import predict
    from edge_runtime import Bundle, load, parity
    from edge_runtime.arm64 import arm64_entry, arm64_line, arm64_runs
    from edgedistill._data import Columns, same_shape, supported_task

    bundle = Bundle.open(bundle_path)
    thresholds = bundle_thresholds(bundle)
    dataset = supported_task((columns or Columns()).load(data), "parity")
    same_shape(dataset, thresholds is not None, f"the bundle {bundle_path}")
    dataset = align_labels(dataset, tuple(bundle.labels), model=f"the bundle {bundle_path}")
    texts, gold = dataset.test.inputs, dataset.test.labels
    if teacher.suffix == ".npy":
        if not teacher.is_file():
            raise CheckpointError(f"teacher logits file {teacher} does not exist")
        try:
            teacher_logits = np.load(teacher, allow_pickle=False)
        except ValueError:
            raise DataError(f"{teacher} is not a plain numeric .npy array (pickled objects are never loaded); save logits with np.save(path, float_array)") from None
        if teacher_logits.shape != (len(texts), len(bundle.labels)):
            raise DataError(f"{teacher} holds logits of shape {teacher_logits.shape}; the {dataset.name} test split needs ({len(texts)}, {len(bundle.labels)})")
        if not np.isfinite(teacher_logits).all():
            raise DataError(f"{teacher} holds NaN or inf logits; recompute them from a healthy teacher")
        teacher_thresholds = thresholds   # logits alone: the teacher's decisions are taken with the bundle's thresholds
    else:
        loaded = load_teacher(teacher)
        if loaded.multi_label != (thresholds is not None):
            same_shape(dataset, loaded.multi_label, f"the teacher {teacher}")
        teacher_thresholds = loaded.thresholds
        if bundle.long_text.windows:   # the teacher reads the bundle's windows too: agreement is the files', not the policy's
            teacher_logits = _windowed_logits(loaded.model, loaded.encoder, texts[:limit] if limit is not None else texts, bundle.long_text,
                                              thresholds is not None, batch_size=32)
        else:
            teacher_logits = cached_teacher_logits(loaded, texts)[0]
    if limit is not None:
        texts, gold, teacher_logits = texts[:limit], gold[:limit], teacher_logits[:limit]
    tok = bundle.tokenizer()
    source_logits = None
    if source is not None:
        model, encoder, _, _ = load_checkpoint(source)
        if bundle.long_text.windows:   # the source read the same windows, aggregated the same way
            source_logits = _windowed_logits(model, encoder, texts, bundle.long_text, thresholds is not None)
        else:
            source_logits = predict(model, encoder.ids(texts), encoder.pad)
    reports = {}
    arm = arm64_runs(bundle, texts, tok, arm64_cpu) if arch == "arm64" else None
    for entry in bundle.manifest["models"]:
        if arm is not None:   # the ARM64 logits; a file that could not run there is reported as such (arm64_entry)
            logits = arm["models"][entry["file"]].get("arm64")
            if logits is None:
                reports[entry["file"]] = arm64_entry(arm, entry, None, console)
                continue
        elif entry.get("input") == "text":   # a string-input / MediaPipe file: the raw texts go in, its own tokenizer runs
            from edge_runtime import logits_for_texts
            from edge_runtime.text_runner import scores_to_logits, text_feeds

            logits = scores_to_logits(logits_for_texts(load(bundle.resolve(entry["file"])), text_feeds, texts), entry.get("metadata") or {})
        else:
            logits = bundle.logits(load(bundle.resolve(entry["file"])), texts, tok)   # windows aggregated for a windows bundle (manifest task.long_text)
        rep = parity(logits, source_logits, teacher_logits, gold=gold, texts=[as_text(t) for t in texts], fmt=entry["format"],
                     precision=entry["precision"], name=entry["file"], labels=list(bundle.labels),
                     thresholds=thresholds, teacher_thresholds=teacher_thresholds)
        reports[entry["file"]] = rep.to_dict() if arm is None else arm64_entry(arm, entry, rep, None)
        if console is not None and rep.multi_label is not None:
            console.print(_label_table(entry["file"], rep.multi_label))
        elif console is not None and len(bundle.labels) >= 3:
            console.print(_class_table(entry["file"], rep.classes))
        if console is not None:
            drift = f", max |Δlogit| vs source {rep.max_abs_logit_diff:.3g}, {'PASS' if rep.passed else 'FAIL'}" if source_logits is not None else ""
            what = ("per-label decisions agree with the teacher's", "exact match") if rep.multi_label else ("agreement with teacher", "accuracy")
            console.print(f"{entry['file']}: {what[0]} {rep.agreement_with_teacher:.2%}, {what[1]} {rep.accuracy:.2%}, "
                          f"{len(rep.flips)} flips{drift}{arm64_line(reports[entry['file']])}")
    return {"bundle": str(bundle.source or bundle.root), "data": dataset.name, "sentences": len(texts), "models": reports,
            "teacher_reads": "windows" if bundle.long_text.windows and teacher.suffix != ".npy" else "its own cut"}
