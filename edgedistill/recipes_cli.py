"""`edgedistill distill`: build the transfer set, train one student, save it. Glue only."""
from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path


from edgecore import DataError, UnsupportedError


@dataclass(frozen=True)
class DistillRequest:
    teacher: Path
    student: str = "bilstm"
    data: str = "movie-snippets"
    out: Path = Path("runs/student")
    loss: str = "mse"
    temperature: float = 1.0
    alpha: float = 1.0
    augment: int = 0
    unlabelled: tuple[str, ...] = ()
    epochs: int = 12
    hidden: int = 256
    layers: int = 1
    pooling: str = "max"
    embed_dim: int | None = None
    freeze_embeddings: bool = False
    prune_vocab: bool = True
    seed: int = 0
    force: bool = False


def transfer_set(teacher, dataset, augment: int, unlabelled: tuple[str, ...], seed: int = 0):
    """(extra texts, their teacher logits): augmented training sentences and unlabelled text, teacher-labelled (cached)."""
    from distill import cached_teacher_logits, load_texts
    from distill.augment import AugmentConfig, Neighbours, augment as make_variants
    from distill.recipes import teacher_word_embeddings

    extra: list[str] = []
    if augment:
        vocab = teacher.encoder.tokenizer.get_vocab()
        neighbours = Neighbours(vocab, teacher_word_embeddings(teacher.model))
        extra += make_variants(dataset.train.texts, AugmentConfig(per_sentence=augment, seed=seed), neighbours)
    held_out = set(dataset.dev.texts) | set(dataset.test.texts)
    for name in unlabelled:
        texts = load_texts(name)[0]
        extra += [t for t in texts if t not in held_out]
    if not extra:
        return [], None
    return extra, cached_teacher_logits(teacher, extra, "teacher logits (extra transfer text)")[0]


def run_distill(req: DistillRequest, console=None) -> dict:
    from distill import RNNStudentConfig, TrainConfig, cached_teacher_logits, load_dataset, load_teacher, save_student, train_rnn_student
    from distill.recipes import reduce_embeddings, select_vocabulary, teacher_word_embeddings

    train_cfg = TrainConfig(loss=req.loss, temperature=req.temperature, alpha=req.alpha, epochs=req.epochs, seed=req.seed)
    teacher = load_teacher(req.teacher)
    ds = load_dataset(req.data)
    if len(ds.label_names) != len(teacher.label_names):
        raise UnsupportedError(f"data {ds.name} has {len(ds.label_names)} labels but the teacher has {len(teacher.label_names)}; use data with the teacher's labels")
    if list(ds.label_names) != list(teacher.label_names):
        raise DataError(f"data labels {list(ds.label_names)} differ from the teacher's {list(teacher.label_names)}; their order must match")
    logits = cached_teacher_logits(teacher, ds.train.texts)[0] if train_cfg.uses_teacher else None
    extra, extra_logits = transfer_set(teacher, ds, req.augment, req.unlabelled, req.seed) if train_cfg.uses_teacher else ([], None)
    enc = teacher.encoder
    keep = select_vocabulary(enc, ds.train.texts + extra) if req.prune_vocab else None
    table = teacher_word_embeddings(teacher.model)
    if req.embed_dim:
        table = reduce_embeddings(table, req.embed_dim, keep)
    cfg = RNNStudentConfig(vocab_size=enc.settings.vocab_size, num_labels=len(ds.label_names), cell="lstm" if req.student == "bilstm" else "gru",
                           embed_dim=table.shape[1], hidden=req.hidden, layers=req.layers, pooling=req.pooling,
                           freeze_embeddings=req.freeze_embeddings, pad_id=enc.settings.pad_id)
    ckpt = req.out.with_name(f".{req.out.name}.trainer")
    run = train_rnn_student(req.student, ds, enc, cfg, train_cfg, logits, table, checkpoint_dir=ckpt, keep_ids=keep,
                            extra_texts=extra, extra_logits=extra_logits)
    metrics = {"test_accuracy": run.test_accuracy, "teacher_test_accuracy": teacher.metrics.get("test_accuracy"),
               "best_dev_accuracy": run.result.best_dev_accuracy, "steps": run.result.steps, "seconds": round(run.result.seconds, 1),
               "trained_on": run.trained_on, "transfer_sentences": len(ds.train) + len(extra), "vocab_rows": run.model.config.vocab_size,
               "params": run.model.num_parameters(), "params_non_embedding": run.model.num_parameters(False)}
    save_student(run.model, req.out, enc, ds.label_names, {"train": asdict(train_cfg), "request": {**asdict(req), "teacher": str(req.teacher), "out": str(req.out)},
                                                          "result": metrics, "history": run.result.history}, force=True)
    shutil.rmtree(ckpt, ignore_errors=True)
    if console is not None:
        console.print(f"{req.student} ({run.trained_on}, {metrics['transfer_sentences']} transfer sentences) test {run.test_accuracy:.2%}, "
                      f"best dev {run.result.best_dev_accuracy:.2%}, {metrics['params_non_embedding']:,} non-embedding params -> {req.out}")
    return metrics
