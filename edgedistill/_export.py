"""App-layer glue for `export`, `bench` and `parity`: load what the user pointed at, call the verbs, print."""
from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from edgecore import CheckpointError, ConfigError, DataError, OutputExistsError, UnsupportedError, check_writable

@dataclass(frozen=True)
class ExportRequest:
    checkpoint: Path
    out: Path
    formats: tuple[str, ...] = ("onnx",)
    precisions: tuple[str, ...] = ("fp32", "int8")
    data: str = "movie-snippets"
    calibration: str | None = None
    zip: bool = False
    force: bool = False
    validation_sentences: int | None = None          # test sentences parity is measured on; None: the whole test split (a
                                                    # 99.5% tolerance on 500 sentences allows 2 flips: too noisy to gate on)
    buckets: tuple[int, ...] = (16, 32, 64, 128)   # TFLite sequence-length buckets
    recurrent: str = "while"                        # TFLite lowering of LSTM/GRU layers
    keep_fp32: tuple[str, ...] = ()                 # ONNX int8: node-name fragments kept fp32 ("sensitive": TEACHER_SENSITIVE)
    smooth: float | str | None = None               # ONNX int8: SmoothQuant alpha, "auto" or "off" (export/smooth.py);
                                                    # None: "auto" for Transformers, off for BiLSTM/GRU
    nbits: tuple[str, ...] | None = None            # ONNX int8: node-name fragments made 8-bit MatMulNBits ("sensitive":
                                                    # TEACHER_NBITS); None: "sensitive" for BERT-named Transformers, () otherwise

    def __post_init__(self) -> None:
        if self.validation_sentences is not None and self.validation_sentences < 1:
            raise ConfigError(f"--validate must be a positive number of test sentences (got {self.validation_sentences}); omit it to use the whole test split")


PRECISIONS = {"onnx": ("fp32", "fp16", "int8", "int8-static"), "tflite": ("fp32", "fp16", "int8", "int8-weight", "int8-full"),
              "coreml": ("fp32", "fp16", "int8", "palettize4", "palettize6")}
ORDER = {"int8": 0, "int8-weight": 1, "palettize6": 2, "palettize4": 3, "fp16": 4, "int8-static": 5, "int8-full": 6, "fp32": 7}


def load_checkpoint(path: Path):
    """(model, encoder, labels, kind) for a student folder or a Hugging Face classifier folder."""
    from distill import Encoder, is_student_checkpoint, load_student, load_teacher

    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; give a student folder from `edgedistill distill` or a Hugging Face classifier folder")
    if not path.is_dir():
        raise CheckpointError(f"{path} is a file; give the checkpoint folder (student.json or config.json + model.safetensors + tokenizer.json)")
    if is_student_checkpoint(path):
        model, meta = load_student(path)
        encoder = Encoder(path, meta.get("max_len", 64))
        model_vocab = model.config.tokenizer_vocab_size or model.config.vocab_size
        result = model, encoder, tuple(meta["labels"]), meta["kind"]
    else:
        if not any(path.iterdir()):
            raise CheckpointError(f"checkpoint folder {path} is empty; it needs student.json or config.json, model.safetensors and tokenizer.json")
        teacher = load_teacher(path)
        model_vocab = teacher.model.config.vocab_size
        result = teacher.model, teacher.encoder, teacher.label_names, "transformer"
    tokenizer_vocab = result[1].settings.vocab_size
    if tokenizer_vocab > model_vocab:
        raise CheckpointError(f"{path}/tokenizer.json has {tokenizer_vocab} tokens but the model embeds only {model_vocab}; "
                              f"put the tokenizer the model was trained with beside it")
    return result


def _keep_patterns(spec: tuple[str, ...], sensitive: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Node-name fragments with "sensitive" expanded to `sensitive` (default TEACHER_SENSITIVE)."""
    if sensitive is None:
        from export.quantize import TEACHER_SENSITIVE as sensitive

    return tuple(p for item in spec for p in (sensitive if item == "sensitive" else (item,)))


def _nbits_patterns(req: ExportRequest, kind: str, fp32_path: str) -> tuple[str, ...]:
    """The MatMuls to make MatMulNBits. By default a Transformer's blocks 1-3 feed-forward MatMuls (TEACHER_NBITS:
    the built-in teacher's int8 agreement 99.15% -> 99.6% at 1.64x instead of 1.92x the fp32 speed, onnx_table.md), when its node names
    have BERT's layout; an explicit --nbits that matches nothing is an error (export.mixed.nbits_targets)."""
    from export.quantize import TEACHER_NBITS

    if req.nbits is not None:
        return _keep_patterns(tuple(item for item in req.nbits if item != "off"), TEACHER_NBITS)
    if kind != "transformer":
        return ()
    import onnx

    from export.mixed import nbits_targets

    try:
        nbits_targets(onnx.load(fp32_path, load_external_data=False), TEACHER_NBITS)
    except ConfigError:
        return ()   # not BERT's node names (e.g. DistilBERT): SmoothQuant-only int8
    return TEACHER_NBITS


def export_checkpoint(req: ExportRequest, console=None) -> dict:
    """Checkpoint -> ONNX fp32 (+ fp16 / int8 / int8-static) -> parity on real sentences -> bundle."""
    from distill import load_dataset
    from distill.trainer import predict
    from edge_runtime import load, logits_for_texts, parity
    from export import BundleConfig, OnnxConfig, QuantConfig, quantize_onnx, to_onnx, write_bundle

    if req.out.exists() and not req.force:
        raise OutputExistsError(f"{req.out} already exists; pass --force to replace it, or choose another --out")
    check_writable(req.out)
    model, encoder, labels, kind = load_checkpoint(req.checkpoint)
    dataset = load_dataset(req.data)
    if len(dataset.label_names) != len(labels):
        raise DataError(f"--data {req.data} has {len(dataset.label_names)} labels, the checkpoint {len(labels)}; validate on data with the checkpoint's labels")
    texts, gold = dataset.test.texts[: req.validation_sentences], dataset.test.labels[: req.validation_sentences]
    encode_np = encoder.encode_np
    source_logits = predict(model, encoder.ids(texts), encoder.pad)
    validate = [encoder.encode(texts[i:i + 32]) for i in range(0, min(len(texts), 128), 32)]
    validate_np = [{k: v.numpy() for k, v in f.items()} for f in validate]
    calibration = None
    smooth = ("auto" if kind == "transformer" else None) if req.smooth is None else (None if req.smooth == "off" else req.smooth)
    if "int8-static" in req.precisions or (smooth is not None and "int8" in req.precisions):
        cal = load_dataset(req.calibration or req.data)
        calibration = [encode_np([t]) for t in cal.train.texts[:200]]
    meta = {"edgedistill.labels": ",".join(labels), "edgedistill.max_len": str(encoder.max_len), "edgedistill.kind": kind}
    for fmt in req.formats:
        bad = [p for p in req.precisions if p not in PRECISIONS[fmt]]
        if bad:
            raise UnsupportedError(f"precision {bad[0]!r} does not exist for {fmt}; choose from {', '.join(PRECISIONS[fmt])}")
    rows, shipped = [], []
    with tempfile.TemporaryDirectory(prefix=".export-", dir=req.out.parent if req.out.parent.exists() else None) as tmp:
        arts = {}
        if "onnx" in req.formats:
            fp32 = to_onnx(model, encoder.encode(texts[:2]), Path(tmp) / "model.fp32.onnx", OnnxConfig(), meta, validate)
            arts[("onnx", "fp32")] = fp32
            nbits = _nbits_patterns(req, kind, fp32.path) if "int8" in req.precisions else ()
            for p in req.precisions:
                if p != "fp32":
                    keep = () if p == "fp16" else _keep_patterns(req.keep_fp32)
                    q_cfg = QuantConfig(p, transformer=kind == "transformer", keep_fp32=keep, smooth=smooth if p == "int8" else None,
                                        nbits=nbits if p == "int8" else ())
                    arts[("onnx", p)] = quantize_onnx(fp32, Path(tmp) / f"model.{p}.onnx", q_cfg,
                                                      calibration=calibration, validate_with=validate_np)
        if "tflite" in req.formats:
            from export.tflite import TFLiteConfig, quantize_tflite, to_tflite

            t_cfg = TFLiteConfig(buckets=req.buckets, recurrent=req.recurrent)
            t_meta = {**meta, "edgedistill.tokenizer": json.dumps(asdict(encoder.settings))}
            tfp32 = to_tflite(model, encoder.encode(texts[:2]), Path(tmp) / "model.fp32.tflite", t_cfg, metadata=t_meta, validate_with=validate)
            arts[("tflite", "fp32")] = tfp32
            t_cal = calibration or [encode_np([t]) for t in dataset.train.texts[:100]]
            for p in req.precisions:
                if p != "fp32":
                    arts[("tflite", p)] = quantize_tflite(tfp32, Path(tmp) / f"model.{p}.tflite", replace(t_cfg, precision=p),
                                                          calibration=t_cal, validate_with=validate_np)
        if "coreml" in req.formats:
            from export.coreml import CoreMLConfig, to_coreml

            for p in req.precisions:
                # non-strict below fp32: a package past its tolerance is kept here, then measured and left out like any other
                arts[("coreml", p)] = to_coreml(model, encoder.encode(texts[:2]), Path(tmp) / f"model.{p}.mlpackage",
                                                CoreMLConfig(p, labels=tuple(labels), tokenizer=asdict(encoder.settings), max_seq_len=encoder.max_len,
                                                             description=f"{kind} exported by edgedistill"),
                                                metadata=meta, validate_with=validate, strict=(p == "fp32"))
        for (fmt, p), art in arts.items():
            if p not in req.precisions:
                continue
            rep = parity(logits_for_texts(load(art.path), encode_np, texts), source_logits, source_logits, gold=gold, texts=texts,
                         fmt=fmt, precision=p, name=f"{req.checkpoint.name}/{fmt}/{p}")
            art = replace(art, validation={**art.validation, "parity": rep.to_dict(max_flips=10)})
            rows.append({"format": fmt, "precision": p, "size_bytes": art.size_bytes, "passed": rep.passed,
                         "agreement_with_source": rep.agreement_with_source, "max_abs_logit_diff": rep.max_abs_logit_diff,
                         "accuracy": rep.accuracy, "source_accuracy": rep.source_accuracy, "failures": rep.failures})
            if rep.passed:
                shipped.append(art)
        shipped.sort(key=lambda a: (req.formats.index(a.format), ORDER[a.precision]))
        bundle = None
        if shipped:
            bundle = write_bundle(req.out, shipped, encoder.dir,
                                  BundleConfig(req.checkpoint.name, labels, asdict(encoder.settings), f"{kind} exported by edgedistill", req.zip),
                                  parity={"data": dataset.name, "split": "test", "sentences": len(texts), "rows": rows}, force=req.force)
    if console is not None:
        from rich.table import Table

        table = Table(title=f"{req.checkpoint} -> {req.out} (parity vs PyTorch on {len(texts)} {dataset.name} test sentences)")
        for col in ("format", "precision", "size MB", "agreement", "max |Δlogit|", "accuracy", "shipped"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["format"], r["precision"], f"{r['size_bytes'] / 1e6:.2f}", f"{r['agreement_with_source']:.2%}",
                          f"{r['max_abs_logit_diff']:.2g}", f"{r['accuracy']:.2%}",
                          "yes" if r["passed"] else f"[red]NO: {'; '.join(r['failures'])}[/]")
        console.print(table)
        console.print(f"bundle: {bundle}" if bundle else "[red]no model passed parity: nothing was written[/]")
    failed = [r for r in rows if not r["passed"]]
    if failed:
        from edgecore import ParityError

        raise ParityError(f"{', '.join(r['precision'] for r in failed)} failed parity and {'were' if len(failed) > 1 else 'was'} left out of the bundle "
                          f"({'; '.join(f['failures'][0] for f in failed)})")
    return {"bundle": str(bundle), "rows": rows}


def bench_models(paths: list[Path], config, mode: str = "fixed", data: str | None = None, floors: bool = False, console=None) -> dict:
    """Time one or more files/bundles interleaved; ratios are vs the first."""
    from edge_runtime.benchmark import bench_files
    from edge_runtime.report import bench_rich_table

    texts = None
    if data is not None:
        from distill import load_dataset

        texts = load_dataset(data).test.texts
    run = bench_files(paths, config, mode, texts, floors).to_dict()
    if console is not None:
        console.print(bench_rich_table(run))
    return run


def bundle_parity(bundle_path: Path, teacher: Path, data: str, source: Path | None, console=None) -> dict:
    """Every model in a bundle on a test split: agreement with the teacher, accuracy, flips (and drift vs source)."""
    from distill import cached_teacher_logits, load_dataset, load_teacher
    from distill.trainer import predict
    from edge_runtime import Bundle, load, logits_for_texts, parity

    bundle = Bundle.open(bundle_path)
    dataset = load_dataset(data)
    texts, gold = dataset.test.texts, dataset.test.labels
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
    else:
        teacher_logits = cached_teacher_logits(load_teacher(teacher), texts)[0]
    tok = bundle.tokenizer()
    encode = lambda t: bundle.encode(t, tokenizer=tok)  # noqa: E731
    source_logits = None
    if source is not None:
        model, encoder, _, _ = load_checkpoint(source)
        source_logits = predict(model, encoder.ids(texts), encoder.pad)
    reports = {}
    for entry in bundle.manifest["models"]:
        runner = load(bundle.root / entry["file"])
        logits = logits_for_texts(runner, encode, texts)
        rep = parity(logits, source_logits, teacher_logits, gold=gold, texts=texts, fmt=entry["format"], precision=entry["precision"], name=entry["file"])
        reports[entry["file"]] = rep.to_dict()
        if console is not None:
            drift = f", max |Δlogit| vs source {rep.max_abs_logit_diff:.3g}, {'PASS' if rep.passed else 'FAIL'}" if source_logits is not None else ""
            console.print(f"{entry['file']}: agreement with teacher {rep.agreement_with_teacher:.2%}, accuracy {rep.accuracy:.2%}, "
                          f"{len(rep.flips)} flips{drift}")
    return {"bundle": str(bundle.root), "data": dataset.name, "sentences": len(texts), "models": reports}
