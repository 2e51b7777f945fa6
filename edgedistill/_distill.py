"""The distill verb's work: load the teacher and data, build the transfer set, train one student, save it.

Runs alone or under `torchrun --nproc_per_node N` (plain data parallel, see distill.distributed and distill.parallel):
every rank trains on its share of each global batch, teacher logits are computed in shards, and
rank 0 alone writes the checkpoint.
"""
from __future__ import annotations

import shutil
from dataclasses import asdict

from edgecore.tokenizer import RNN_INPUTS, SIAMESE_INPUTS


def run_distill(req, console=None) -> dict:
    """Train the student `req` (an edgedistill.DistillConfig) describes and save it; returns its metrics."""
    from distill import align_labels, load_teacher
    from distill.distributed import barrier, current
    from edgedistill._data import same_shape, supported_task

    ctx = current()
    ds = supported_task(req.columns.load(req.data), f"distill --student {req.student}")   # a bad data file fails before the teacher loads
    teacher = load_teacher(req.teacher)
    same_shape(ds, teacher.multi_label, f"the teacher {req.teacher}")
    ds = align_labels(ds, teacher.label_names, model=f"the teacher {req.teacher}")
    run, metrics, save = {"transformer": _transformer, "static": _fast, "cnn": _fast}.get(req.student, _rnn)(req, teacher, ds)
    metrics = {"kind": req.student, "test_accuracy": run.test_accuracy, "teacher_test_accuracy": teacher.metrics.get("test_accuracy"),
               "best_dev_accuracy": run.result.best_dev_accuracy, "steps": run.result.steps, "seconds": round(run.result.seconds, 1),
               "trained_on": run.trained_on, "world_size": ctx.world_size, **metrics}
    if ds.multi_label:   # per-label thresholds of this student, chosen on dev; test scored with them (exact match, F1)
        from distill.teacher import multi_label_metrics

        scored = multi_label_metrics(run.model, _encoder_of(req, teacher, ds), ds)
        metrics.update({k: v for k, v in scored.items() if k.startswith("test_") or k == "task"})
        metrics["teacher_test_micro_f1"] = teacher.metrics.get("test_micro_f1")
        run.test_accuracy = metrics["test_accuracy"]
    if ctx.is_main:
        save(metrics)
    barrier(ctx)
    if console is not None and ctx.is_main:
        score = (f"test micro F1 {metrics['test_micro_f1']:.3f} (teacher {metrics['teacher_test_micro_f1'] or float('nan'):.3f}), "
                 f"exact match {run.test_accuracy:.2%}, best dev micro F1 {run.result.best_dev_accuracy:.3f}" if ds.multi_label else
                 f"test {run.test_accuracy:.2%}, best dev {run.result.best_dev_accuracy:.2%}")
        console.print(f"{req.student} ({run.trained_on}, {metrics['transfer_sentences']} transfer sentences) {score}, "
                      f"{metrics['params_non_embedding']:,} non-embedding params -> {req.out}")
    return metrics


def _rnn(req, teacher, ds):
    from distill import RNNStudentConfig, save_student, train_rnn_student
    from distill.recipes import reduce_embeddings, teacher_word_embeddings

    train_cfg, logits, extra, extra_logits, enc, keep = _token_student_inputs(req, teacher, ds)
    table = teacher_word_embeddings(teacher.model)
    if req.embed_dim:
        table = reduce_embeddings(table, req.embed_dim, keep)
    cfg = RNNStudentConfig(vocab_size=enc.settings.vocab_size, num_labels=len(ds.label_names), cell="lstm" if req.student == "bilstm" else "gru",
                           embed_dim=table.shape[1], hidden=_or(req.hidden, 256), layers=_or(req.layers, 1), pooling=req.pooling,
                           freeze_embeddings=req.freeze_embeddings, pad_id=enc.settings.pad_id, siamese=ds.has_pairs)
    ckpt = req.out.with_name(f".{req.out.name}.trainer")
    run = train_rnn_student(req.student, ds, enc, cfg, train_cfg, logits, table, checkpoint_dir=ckpt, keep_ids=keep,
                            extra_texts=extra, extra_logits=extra_logits)
    metrics = {"transfer_sentences": len(ds.train) + len(extra), "vocab_rows": run.model.config.vocab_size,
               "params": run.model.num_parameters(), "params_non_embedding": run.model.num_parameters(False)}

    def save(all_metrics: dict) -> None:
        task = {"task": all_metrics["task"]} if "task" in all_metrics else {}
        save_student(run.model, req.out, enc, ds.label_names, {"train": asdict(train_cfg), "request": _request_dict(req),
                                                              "result": all_metrics, "history": run.result.history, **task}, force=True)
        shutil.rmtree(ckpt, ignore_errors=True)
    return run, metrics, save


def _fast(req, teacher, ds):
    """The fast corner: a static-embedding student (table from the teacher's encoder, PCA, SIF weights) or a Kim-style
    CNN over the teacher's word embeddings; trained like the recurrent students (distill.recipes.train_student)."""
    from distill import save_student
    from distill.recipes import reduce_embeddings, static_token_table, teacher_word_embeddings, train_student
    from distill.students.cnn import CNNStudentConfig
    from distill.students.static import StaticStudentConfig

    train_cfg, logits, extra, extra_logits, enc, keep = _token_student_inputs(req, teacher, ds)
    common = dict(vocab_size=enc.settings.vocab_size, num_labels=len(ds.label_names), freeze_embeddings=req.freeze_embeddings,
                  pad_id=enc.settings.pad_id, siamese=ds.has_pairs)
    if req.student == "static":
        width = req.embed_dim or min(128, teacher.model.config.hidden_size)
        table = static_token_table(teacher.model, teacher.encoder, ds.train.inputs + extra, width, keep)
        cfg = StaticStudentConfig(embed_dim=width, pooling="mean" if req.pooling == "mean" else "mean_max",
                                  head_hidden=_or(req.hidden, 256), head_layers=_or(req.layers, 1), **common)
    else:
        table = teacher_word_embeddings(teacher.model)
        if req.embed_dim:
            table = reduce_embeddings(table, req.embed_dim, keep)
        cfg = CNNStudentConfig(embed_dim=table.shape[1], filters=_or(req.hidden, 128), **common)
    ckpt = req.out.with_name(f".{req.out.name}.trainer")
    run = train_student(req.student, ds, enc, cfg, train_cfg, logits, table, checkpoint_dir=ckpt, keep_ids=keep,
                        extra_texts=extra, extra_logits=extra_logits)
    metrics = {"transfer_sentences": len(ds.train) + len(extra), "vocab_rows": run.model.config.vocab_size, "embed_dim": cfg.embed_dim,
               "params": run.model.num_parameters(), "params_non_embedding": run.model.num_parameters(False)}

    def save(all_metrics: dict) -> None:
        task = {"task": all_metrics["task"]} if "task" in all_metrics else {}
        save_student(run.model, req.out, enc, ds.label_names, {"train": asdict(train_cfg), "request": _request_dict(req),
                                                              "result": all_metrics, "history": run.result.history, **task}, force=True)
        shutil.rmtree(ckpt, ignore_errors=True)
    return run, metrics, save


def _transformer(req, teacher, ds):
    """DistilBERT-style (teacher width: every other teacher block copied in) or TinyBERT-style (narrower)."""
    from distill import transfer_set
    from distill.students.transformer import count_parameters, save_transformer_student, student_config
    from distill.transformer_trainer import train_transformer_student, transformer_recipe

    options = {"temperature": _or(req.temperature, 2.0), "kl_weight": req.alpha, "epochs": _or(req.epochs, 3),
               "seed": req.seed, "bf16": req.bf16}
    if req.lr is not None:
        options["lr"] = req.lr   # else the config's default
    student_cfg, distill_cfg = transformer_recipe(teacher.model, layers=_or(req.layers, 3), hidden=req.hidden, matches=req.matches,
                                                  method=req.method, intermediate=req.intermediate, stage1_epochs=req.stage1_epochs,
                                                  stage1_lr=req.stage1_lr, **options)
    student_config(teacher.model, student_cfg)   # a shape the teacher cannot lend fails now, before any logits
    extra, extra_logits = transfer_set(teacher, ds, req.augment, req.unlabelled, req.seed)
    run = train_transformer_student(req.student, ds, teacher, student_cfg, distill_cfg, seed=req.seed,
                                    extra_texts=extra, extra_logits=extra_logits)
    embedding = sum(p.numel() for n, p in run.model.named_parameters() if ".embeddings." in n)
    params = count_parameters(run.model)
    metrics = {"transfer_sentences": len(ds.train) + len(extra), "method": distill_cfg.method, "layers": student_cfg.layers,
               "hidden": getattr(run.model.config, "hidden_size", None) or run.model.config.dim,
               "intermediate": getattr(run.model.config, "intermediate_size", None) or run.model.config.hidden_dim, "params": params, "params_non_embedding": params - embedding,
               "matches": run.result.matches}

    def save(all_metrics: dict) -> None:
        save_transformer_student(run.model, req.out, teacher.encoder,
                                 {"result": all_metrics, "student": student_cfg.to_dict(), "distill": distill_cfg.to_dict(),
                                  "request": _request_dict(req), "history": run.result.history,
                                  "label_names": list(ds.label_names), **({"task": all_metrics["task"]} if "task" in all_metrics else {})},
                                 force=True)
    return run, metrics, save


def _token_student_inputs(req, teacher, ds):
    """What a bilstm/gru/static/cnn student trains on: its TrainConfig, the teacher's logits of the training rows, the
    teacher-labelled extra transfer rows (augmented, unlabelled) with their logits, its encoder (siamese on pairs) and
    the vocabulary it keeps (None: all). A label-only run (--loss ce) gets no logits and no extra rows."""
    from distill import TrainConfig, transfer_set
    from distill.recipes import select_vocabulary
    from distill.teacher import sharded_teacher_logits

    train_cfg = TrainConfig(loss=req.loss, temperature=_or(req.temperature, 1.0), alpha=req.alpha, epochs=_or(req.epochs, 12), seed=req.seed,
                            bf16=req.bf16, **({"lr": req.lr} if req.lr is not None else {}))
    logits = sharded_teacher_logits(teacher, ds.train.inputs)[0] if train_cfg.uses_teacher else None
    extra, extra_logits = transfer_set(teacher, ds, req.augment, req.unlabelled, req.seed) if train_cfg.uses_teacher else ([], None)
    if req.assistant is not None:
        logits, extra_logits = _assistant_targets(req, teacher, ds.train.inputs + extra, logits, extra_logits)
    enc = _encoder_of(req, teacher, ds)
    keep = select_vocabulary(enc, ds.train.inputs + extra, req.min_count) if req.prune_vocab else None
    return train_cfg, logits, extra, extra_logits, enc, keep


def _assistant_targets(req, teacher, inputs, logits, extra_logits):
    """Teacher-assistant targets (Mirzadeh et al. 2020): the assistant's logits of every transfer row, mixed with the
    teacher's as `assistant_weight` x assistant + (1 - weight) x teacher. The augmented rows are still the teacher's
    (made from its vocabulary); only who labels them changes. Its labels must be the teacher's, in the same order."""
    import numpy as np

    from distill import load_teacher
    from distill.teacher import sharded_teacher_logits
    from edgecore import ConfigError

    assistant = load_teacher(req.assistant)
    if tuple(assistant.label_names) != tuple(teacher.label_names):
        raise ConfigError(f"the assistant {req.assistant} predicts labels {list(assistant.label_names)} but the teacher "
                          f"{list(teacher.label_names)}; give an assistant distilled from this teacher (same labels, same order)")
    if assistant.multi_label != teacher.multi_label:
        raise ConfigError(f"the assistant {req.assistant} and the teacher differ in task shape (multi-label or not); "
                          "give an assistant distilled from this teacher")
    mine = sharded_teacher_logits(assistant, inputs, description="assistant logits")[0]
    theirs = logits if extra_logits is None else np.concatenate([logits, extra_logits])
    w = req.assistant_weight
    mixed = (w * mine + (1.0 - w) * theirs).astype(np.float32)
    n = len(logits)
    return mixed[:n], (mixed[n:] if extra_logits is not None else None)


def _encoder_of(req, teacher, ds):
    """The encoder the trained student reads with: the teacher's; for a recurrent student without token types, and
    each side of a pair alone (siamese)."""
    if req.student == "transformer":
        return teacher.encoder
    return teacher.encoder.with_inputs(SIAMESE_INPUTS if ds.has_pairs else RNN_INPUTS)


def _or(value, default):
    """The student kind's default where an option was not given; a given 0 stays 0 (and the config refuses it)."""
    return default if value is None else value


def _request_dict(req) -> dict:
    return req.to_dict()
