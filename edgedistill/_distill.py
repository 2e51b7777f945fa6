"""`edgedistill distill`: build the transfer set, train one student, save it. Glue only.

Runs alone or under `torchrun --nproc_per_node N` (plain data parallel, see distill.distributed):
every rank trains on its share of each global batch, teacher logits are computed in shards, and
rank 0 alone writes the checkpoint.
"""
from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path


from edgecore import ConfigError, DataError, UnsupportedError


@dataclass(frozen=True)
class DistillRequest:
    teacher: Path
    student: str = "bilstm"
    data: str = "movie-snippets"
    out: Path = Path("runs/student")
    loss: str = "mse"
    temperature: float | None = None   # None: 1 for bilstm/gru, 2 for transformer
    alpha: float = 1.0
    augment: int = 0
    unlabelled: tuple[str, ...] = ()
    epochs: int | None = None          # None: 12 for bilstm/gru, 3 for transformer
    hidden: int | None = None          # None: 256 for bilstm/gru, the teacher's width for transformer
    layers: int | None = None          # None: 1 for bilstm/gru, 3 for transformer
    pooling: str = "max"
    embed_dim: int | None = None
    freeze_embeddings: bool = False
    prune_vocab: bool = True
    seed: int = 0
    force: bool = False
    min_count: int = 1                 # bilstm/gru vocabulary pruning: keep tokens seen at least this often
    matches: str | None = None         # transformer: layer-match preset or .json/.yaml file
    method: str | None = None          # transformer: distilbert | tinybert (None: by width, see cli_configs)
    intermediate: int | None = None    # transformer: feed-forward width (None: 4 x hidden)
    bf16: bool = False                 # train under bfloat16 autocast (fp32 weights and evaluation)
    lr: float | None = None            # None: 1e-3 for bilstm/gru, 1e-4 for transformer (tinybert: its prediction stage)
    stage1_epochs: int | None = None   # transformer, tinybert: intermediate-layer stage (None: 3)
    stage1_lr: float | None = None     # transformer, tinybert: intermediate-layer stage (None: 5e-4)

    def __post_init__(self) -> None:
        """Checked before the teacher loads: a bad option fails in a second, not after minutes of work."""
        for name in ("epochs", "hidden", "layers", "temperature", "embed_dim", "min_count", "intermediate", "lr", "stage1_epochs", "stage1_lr"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive (got {value}); leave it out for the {self.student} default")


def transfer_set(teacher, dataset, augment: int, unlabelled: tuple[str, ...], seed: int = 0, **augment_options):
    """(extra texts, their teacher logits): augmented training sentences and unlabelled text, teacher-labelled (cached).

    `augment_options` override distill.augment.AugmentConfig fields (p_mask, p_replace, p_ngram, ...)."""
    from distill import load_texts
    from distill.augment import AugmentConfig, Neighbours, augment as make_variants
    from distill.recipes import teacher_word_embeddings

    extra: list[str] = []
    if augment:
        vocab = teacher.encoder.tokenizer.get_vocab()
        neighbours = Neighbours(vocab, teacher_word_embeddings(teacher.model))
        extra += make_variants(dataset.train.texts, AugmentConfig(per_sentence=augment, seed=seed, **augment_options), neighbours)
    held_out = set(dataset.dev.texts) | set(dataset.test.texts)
    for name in unlabelled:
        texts = load_texts(name)[0]
        extra += [t for t in texts if t not in held_out]
    if not extra:
        return [], None
    from distill.distributed import sharded_teacher_logits

    return extra, sharded_teacher_logits(teacher, extra, description="teacher logits (extra transfer text)")[0]


def _check_labels(ds, teacher) -> None:
    if len(ds.label_names) != len(teacher.label_names):
        raise UnsupportedError(f"data {ds.name} has {len(ds.label_names)} labels but the teacher has {len(teacher.label_names)}; use data with the teacher's labels")
    if list(ds.label_names) != list(teacher.label_names):
        raise DataError(f"data labels {list(ds.label_names)} differ from the teacher's {list(teacher.label_names)}; their order must match")


def run_distill(req: DistillRequest, console=None) -> dict:
    from distill import load_dataset, load_teacher
    from distill.distributed import barrier, current

    ctx = current()
    if req.intermediate is not None and req.student != "transformer":
        raise UnsupportedError(f"--intermediate sets a transformer student's feed-forward width; a {req.student} has none (drop it)")
    stage1 = _stage1_flags(req)
    if stage1 and req.student != "transformer":
        raise UnsupportedError(f"{' and '.join(stage1)} set the first stage of a TinyBERT-style transformer student; a {req.student} trains in one (drop it)")
    teacher = load_teacher(req.teacher)
    ds = load_dataset(req.data)
    _check_labels(ds, teacher)
    run, metrics, save = (_transformer if req.student == "transformer" else _rnn)(req, teacher, ds)
    metrics = {"kind": req.student, "test_accuracy": run.test_accuracy, "teacher_test_accuracy": teacher.metrics.get("test_accuracy"),
               "best_dev_accuracy": run.result.best_dev_accuracy, "steps": run.result.steps, "seconds": round(run.result.seconds, 1),
               "trained_on": run.trained_on, "world_size": ctx.world_size, **metrics}
    if ctx.is_main:
        save(metrics)
    barrier(ctx)
    if console is not None and ctx.is_main:
        console.print(f"{req.student} ({run.trained_on}, {metrics['transfer_sentences']} transfer sentences) test {run.test_accuracy:.2%}, "
                      f"best dev {run.result.best_dev_accuracy:.2%}, {metrics['params_non_embedding']:,} non-embedding params -> {req.out}")
    return metrics


def _rnn(req: DistillRequest, teacher, ds):
    from distill import RNNStudentConfig, TrainConfig, save_student, train_rnn_student
    from distill.distributed import sharded_teacher_logits
    from distill.recipes import reduce_embeddings, select_vocabulary, teacher_word_embeddings

    train_cfg = TrainConfig(loss=req.loss, temperature=_or(req.temperature, 1.0), alpha=req.alpha, epochs=_or(req.epochs, 12), seed=req.seed,
                            bf16=req.bf16, **({"lr": req.lr} if req.lr is not None else {}))
    logits = sharded_teacher_logits(teacher, ds.train.texts)[0] if train_cfg.uses_teacher else None
    extra, extra_logits = transfer_set(teacher, ds, req.augment, req.unlabelled, req.seed) if train_cfg.uses_teacher else ([], None)
    enc = teacher.encoder
    keep = select_vocabulary(enc, ds.train.texts + extra, req.min_count) if req.prune_vocab else None
    table = teacher_word_embeddings(teacher.model)
    if req.embed_dim:
        table = reduce_embeddings(table, req.embed_dim, keep)
    cfg = RNNStudentConfig(vocab_size=enc.settings.vocab_size, num_labels=len(ds.label_names), cell="lstm" if req.student == "bilstm" else "gru",
                           embed_dim=table.shape[1], hidden=_or(req.hidden, 256), layers=_or(req.layers, 1), pooling=req.pooling,
                           freeze_embeddings=req.freeze_embeddings, pad_id=enc.settings.pad_id)
    ckpt = req.out.with_name(f".{req.out.name}.trainer")
    run = train_rnn_student(req.student, ds, enc, cfg, train_cfg, logits, table, checkpoint_dir=ckpt, keep_ids=keep,
                            extra_texts=extra, extra_logits=extra_logits)
    metrics = {"transfer_sentences": len(ds.train) + len(extra), "vocab_rows": run.model.config.vocab_size,
               "params": run.model.num_parameters(), "params_non_embedding": run.model.num_parameters(False)}

    def save(all_metrics: dict) -> None:
        save_student(run.model, req.out, enc, ds.label_names, {"train": asdict(train_cfg), "request": _request_dict(req),
                                                              "result": all_metrics, "history": run.result.history}, force=True)
        shutil.rmtree(ckpt, ignore_errors=True)
    return run, metrics, save


def _transformer(req: DistillRequest, teacher, ds):
    """DistilBERT-style (teacher width: every other teacher block copied in) or TinyBERT-style (narrower)."""
    from distill.students.transformer import count_parameters, save_transformer_student, student_bert_config
    from distill.transformer_trainer import cli_configs, train_transformer_student

    options = {"temperature": _or(req.temperature, 2.0), "kl_weight": req.alpha, "epochs": _or(req.epochs, 3),
               "seed": req.seed, "bf16": req.bf16}
    given = {"lr": req.lr, "intermediate_epochs": req.stage1_epochs, "intermediate_lr": req.stage1_lr}
    options.update({k: v for k, v in given.items() if v is not None})   # else the config's defaults
    student_cfg, distill_cfg = cli_configs(teacher.model, layers=_or(req.layers, 3), hidden=req.hidden, matches=req.matches,
                                           method=req.method, intermediate=req.intermediate, **options)
    if distill_cfg.method != "tinybert" and _stage1_flags(req):
        raise ConfigError(f"{' and '.join(_stage1_flags(req))} set TinyBERT's first (layer) stage; this {distill_cfg.method} run has one stage "
                          f"(add --method tinybert, or drop them)")
    student_bert_config(teacher.model, student_cfg)   # a shape the teacher cannot lend fails now, before any logits
    extra, extra_logits = transfer_set(teacher, ds, req.augment, req.unlabelled, req.seed)
    run = train_transformer_student(req.student, ds, teacher, student_cfg, distill_cfg, seed=req.seed,
                                    extra_texts=extra, extra_logits=extra_logits)
    embedding = sum(p.numel() for n, p in run.model.named_parameters() if ".embeddings." in n)
    params = count_parameters(run.model)
    metrics = {"transfer_sentences": len(ds.train) + len(extra), "method": distill_cfg.method, "layers": student_cfg.layers,
               "hidden": run.model.config.hidden_size, "intermediate": run.model.config.intermediate_size, "params": params, "params_non_embedding": params - embedding,
               "matches": run.result.matches}

    def save(all_metrics: dict) -> None:
        save_transformer_student(run.model, req.out, teacher.encoder,
                                 {"result": all_metrics, "student": student_cfg.to_dict(), "distill": distill_cfg.to_dict(),
                                  "request": _request_dict(req), "history": run.result.history,
                                  "label_names": list(ds.label_names)}, force=True)
    return run, metrics, save


def _stage1_flags(req: DistillRequest) -> list[str]:
    """The TinyBERT first-stage options given on the command line, as the user typed them."""
    return [f"--{n.replace('_', '-')}" for n in ("stage1_epochs", "stage1_lr") if getattr(req, n) is not None]


def _or(value, default):
    """The student kind's default where an option was not given; a given 0 stays 0 (and the config refuses it)."""
    return default if value is None else value


def _request_dict(req: DistillRequest) -> dict:
    return {**asdict(req), "teacher": str(req.teacher), "out": str(req.out)}
