"""Distil a Transformer teacher into a Transformer student, DistilBERT- or TinyBERT-style.

distilbert  one stage:  kl_weight * KL(teacher_T || student_T) * T^2  +  ce_weight * CE(labels)
                        +  sum of layer-match terms (default: cosine between top hidden states)
tinybert    stage 1 (intermediate layers): only the layer matches (default: embeddings MSE, and per
                        block attention MSE + hidden MSE, through learned projections when the widths differ)
            stage 2 (prediction layer): kl_weight * soft-target KL (+ ce_weight * CE, 0 by default)

Teacher logits come from the logit cache (a TrainSet's `teacher_logits`); the teacher itself runs
only when there are layer matches. Every term is logged unweighted. Under torchrun the loop is plain
data parallel with global-batch semantics (see distill.parallel).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from distill import losses
from distill.distributed import DistContext, current, wrap
from distill.intermediate import Features, LayerMatchLoss, Match, check_matches, features, load_matches, use_eager_attention
from distill.parallel import global_batch_loop, linear_schedule, sharded_accuracy
from distill.trainer import TrainSet, autocast, length_bucketed
from edgecore import ConfigError

METHODS = ("distilbert", "tinybert")
LOGIT_LOSSES = ("kl", "mse")
DEFAULT_MATCHES = {"distilbert": "distilbert", "tinybert": "tinybert"}
BUCKET = 50   # batches per length-sorted pool, as the teacher's fine-tuning uses


@dataclass(frozen=True)
class TransformerDistillConfig:
    method: str = "distilbert"        # distilbert | tinybert
    matches: str | tuple[Match, ...] | None = None   # preset name, .json/.yaml file or Matches; None: the method's preset
    temperature: float = 2.0
    kl_weight: float = 1.0            # weight of the logit term: soft targets (KL * T^2), or logit MSE
    logit_loss: str = "kl"            # kl (Hinton, at `temperature`) | mse (on raw logits, BiLSTM-SOFT)
    ce_weight: float | None = None    # gold labels; None: 0.5 for distilbert, 0.0 for tinybert (TinyBERT uses soft targets only)
    epochs: int = 3                   # distilbert: the one stage; tinybert: stage 2 (prediction layer)
    intermediate_epochs: int = 3      # tinybert stage 1
    batch_size: int = 32
    lr: float = 1e-4
    intermediate_lr: float = 5e-4     # tinybert stage 1 (students trained from scratch move far)
    weight_decay: float = 0.01
    warmup: float = 0.1
    grad_clip: float = 1.0
    patience: int = 0                 # epochs without a better dev accuracy before stopping; 0 = never
    max_steps: int | None = None      # cap per stage (quick runs and tests)
    group_by_length: bool = True      # batches of similar lengths pad less (distill.trainer.length_bucketed)
    bf16: bool = False                # forward passes under bfloat16 autocast; fp32 weights, optimizer and evaluation (see distill.trainer.native_bf16)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method {self.method!r} is not supported; choose one of {', '.join(METHODS)}")
        if self.logit_loss not in LOGIT_LOSSES:
            raise ConfigError(f"logit_loss {self.logit_loss!r} is not supported; choose one of {', '.join(LOGIT_LOSSES)}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0 (got {self.temperature}); 1-4 are usual")
        if self.kl_weight < 0 or (self.ce_weight is not None and self.ce_weight < 0):
            raise ConfigError(f"kl_weight and ce_weight must be >= 0 (got {self.kl_weight}, {self.ce_weight})")
        for name, low in (("epochs", 1), ("batch_size", 1)):
            if getattr(self, name) < low:
                raise ConfigError(f"{name} must be >= {low} (got {getattr(self, name)}); leave it out for {getattr(type(self), name)}")
        for name in ("lr", "intermediate_lr"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive (got {getattr(self, name)}); leave it out for {getattr(type(self), name)}")
        if self.method == "tinybert" and self.intermediate_epochs < 1:
            raise ConfigError(f"tinybert needs intermediate_epochs >= 1 (got {self.intermediate_epochs})")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1 or None (got {self.max_steps})")
        if not isinstance(self.matches, (str, Path, type(None))):
            object.__setattr__(self, "matches", tuple(self.matches))

    @property
    def label_weight(self) -> float:
        if self.ce_weight is not None:
            return self.ce_weight
        return 0.5 if self.method == "distilbert" else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        if isinstance(self.matches, tuple):
            d["matches"] = [m.to_dict() for m in self.matches]
        elif self.matches is not None:
            d["matches"] = str(self.matches)
        return d


@dataclass
class DistillResult:
    best_dev_accuracy: float
    best_epoch: int
    steps: int
    seconds: float
    matches: list[dict]
    history: list[dict] = field(default_factory=list)       # one record per epoch and stage, every term unweighted
    step_losses: dict[str, list[float]] = field(default_factory=dict)   # stage -> global loss per optimizer step
    world_size: int = 1


class _DistillStep(nn.Module):
    """Student + the learned projections in one module, so DDP averages the gradients of both.

    forward(feeds, teacher_features, teacher_logits, labels) -> (weighted loss, {term: unweighted value}).
    """

    def __init__(self, student: nn.Module, match_loss: LayerMatchLoss, kl_weight: float, ce_weight: float, temperature: float,
                 logit_loss: str = "kl") -> None:
        super().__init__()
        self.student, self.match_loss = student, match_loss
        self.kl_weight, self.ce_weight, self.temperature, self.logit_loss = kl_weight, ce_weight, temperature, logit_loss

    def forward(self, feeds, teacher: Features | None, teacher_logits: torch.Tensor | None, labels: torch.Tensor):
        need_layers = teacher is not None and len(self.match_loss.matches) > 0
        if need_layers:
            s = features(self.student, feeds, attentions=self.match_loss.needs_attentions)
            logits = s.logits
        else:
            s, logits = None, self.student(**feeds).logits                       # (B, C)
        logits = logits.float()   # the losses in fp32, also under bf16 autocast
        terms: dict[str, tuple[float, torch.Tensor]] = {}
        if self.kl_weight > 0 and self.logit_loss == "mse":
            terms["mse"] = (self.kl_weight, losses.logit_mse(logits, teacher_logits))
        elif self.kl_weight > 0:
            terms["kl"] = (self.kl_weight, losses.soft_cross_entropy(logits, teacher_logits, temperature=self.temperature,
                                                                     multi_label=labels.ndim == 2))
        if self.ce_weight > 0 and bool((labels >= 0).any()):
            terms["ce"] = (self.ce_weight, losses.hard_cross_entropy(logits, labels=labels))
        if need_layers:
            terms.update(self.match_loss(s, teacher))
        if not terms:
            raise ConfigError("nothing to train on: every loss weight is 0; set kl_weight, ce_weight or a match weight > 0")
        loss = sum(w * v for w, v in terms.values())
        return loss, {k: v for k, (_, v) in terms.items()}


def distill_transformer(student: nn.Module, teacher_model: nn.Module | None, train_set: TrainSet, dev_ids: list[list[int]],
                        dev_labels: list[int], pad, config: TransformerDistillConfig = TransformerDistillConfig(),
                        ctx: DistContext | None = None, description: str = "distilling") -> DistillResult:
    """Train `student` (a BertForSequenceClassification) in place; it ends holding its best-on-dev weights.

    `teacher_model` runs (no grad, eval mode) only when the recipe has layer matches; pass None for
    logit-only distillation. Under torchrun every rank calls this with the same arguments.

    >>> result = distill_transformer(student, teacher.model, TrainSet(ids, labels, logits), dev_ids, dev_labels,
    ...                              encoder.pad, TransformerDistillConfig(method="tinybert"))  # doctest: +SKIP
    """
    ctx = ctx or current()
    if train_set.teacher_logits is None and config.kl_weight > 0:
        raise ConfigError("soft-target distillation needs teacher logits in the TrainSet; compute them with cached_teacher_logits")
    matches = _resolve_matches(config, teacher_model, student)
    s_width = student.config.hidden_size
    t_width = teacher_model.config.hidden_size if teacher_model is not None else s_width
    match_loss = LayerMatchLoss(matches, s_width, t_width)
    previous_attn = []
    if match_loss.needs_attentions:
        previous_attn = [(m, use_eager_attention(m)) for m in (student, teacher_model)]
    if teacher_model is not None:
        teacher_model.eval()   # no dropout in the targets; its forward runs under no_grad
    result = DistillResult(-1.0, 0, 0, 0.0, [m.to_dict() for m in matches], world_size=ctx.world_size)
    t0 = time.perf_counter()
    try:
        if config.method == "tinybert":
            head = [p for n, p in student.named_parameters() if n.startswith(("classifier.", "bert.pooler."))]
            for p in head:   # stage 1 never reaches the head; freezing it keeps DDP from waiting for its gradients
                p.requires_grad_(False)
            step = _DistillStep(student, match_loss, 0.0, 0.0, config.temperature)
            _stage("intermediate", step, teacher_model, train_set, pad, config, config.intermediate_epochs, config.intermediate_lr,
                   ctx, result, dev=None, description=f"{description} (stage 1: layers)")
            for p in head:
                p.requires_grad_(True)
            step = _DistillStep(student, LayerMatchLoss((), s_width, s_width), config.kl_weight, config.label_weight, config.temperature, config.logit_loss)
            _stage("prediction", step, None, train_set, pad, config, config.epochs, config.lr, ctx, result,
                   dev=(dev_ids, dev_labels), description=f"{description} (stage 2: prediction)")
        else:
            step = _DistillStep(student, match_loss, config.kl_weight, config.label_weight, config.temperature, config.logit_loss)
            _stage("distil", step, teacher_model, train_set, pad, config, config.epochs, config.lr, ctx, result,
                   dev=(dev_ids, dev_labels), description=description)
    finally:
        for model, impl in previous_attn:
            model.set_attn_implementation(impl)
    result.seconds = time.perf_counter() - t0
    student.eval()
    return result


def _resolve_matches(config: TransformerDistillConfig, teacher_model, student) -> tuple[Match, ...]:
    if teacher_model is None:   # logit-only run: the method's default preset does not apply, explicit matches cannot
        if config.matches is None or config.matches == () or str(config.matches) == "none":
            return ()
        raise ConfigError(f"layer matches ({config.matches if isinstance(config.matches, (str, Path)) else ', '.join(m.name for m in config.matches)}) "
                          f"need the teacher model; pass it, or set matches='none'")
    spec = config.matches if config.matches is not None else DEFAULT_MATCHES[config.method]
    s_layers, t_layers = student.config.num_hidden_layers, teacher_model.config.num_hidden_layers
    if isinstance(spec, tuple):
        check_matches(spec, t_layers, s_layers)
        return spec
    return load_matches(spec, t_layers, s_layers)


def _stage(name: str, step: _DistillStep, teacher_model, train_set: TrainSet, pad, config: TransformerDistillConfig, epochs: int,
           lr: float, ctx: DistContext, result: DistillResult, dev, description: str) -> None:
    torch.manual_seed(config.seed)
    n = len(train_set.ids)
    steps_per_epoch = -(-n // config.batch_size)
    total = min(config.max_steps or 10**12, epochs * steps_per_epoch)
    params = [p for p in step.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay, fused=True)   # fused: the unfused update of the 30522-row embedding table took ~30% of a 2-layer student step
    schedule = linear_schedule(optimizer, total, config.warmup)
    generator = torch.Generator().manual_seed(config.seed)
    wrapped = wrap(step, ctx, find_unused_parameters=True)
    student = step.student
    needs_teacher = teacher_model is not None and len(step.match_loss.matches) > 0
    attentions = step.match_loss.needs_attentions
    labels, teacher_logits = train_set.labels, train_set.teacher_logits
    best = {"acc": -1.0, "epoch": 0, "weights": None}

    def one_step(local: torch.Tensor):
        feeds = pad([train_set.ids[i] for i in local.tolist()])
        t_feats = None
        with autocast(config.bf16):
            if needs_teacher:
                with torch.no_grad():
                    t_feats = features(teacher_model, feeds, attentions=attentions)
            return wrapped(feeds, t_feats, teacher_logits[local] if teacher_logits is not None else None, labels[local])

    def on_epoch_end(state) -> bool:
        record = {"stage": name, "epoch": state.epoch, "step": state.step, **{f"loss_{k}": v for k, v in state.epoch_terms[-1].items()}}
        stop = False
        if dev is not None:
            acc = sharded_accuracy(student, dev[0], dev[1], pad, ctx)
            record["dev_accuracy"] = acc
            if acc > best["acc"]:
                best.update(acc=acc, epoch=state.epoch, weights={k: v.detach().clone() for k, v in student.state_dict().items()})
            stop = bool(config.patience) and state.epoch - best["epoch"] >= config.patience
        result.history.append(record)
        student.train()
        return stop

    student.train()
    state = global_batch_loop(one_step, params, optimizer, schedule, n, config.batch_size, total, generator, ctx,
                              grad_clip=config.grad_clip, on_epoch_end=on_epoch_end, description=description,
                              batches=lambda: length_bucketed(train_set.ids, config.batch_size, BUCKET if config.group_by_length else 0, generator))
    if best["weights"] is not None:
        student.load_state_dict(best["weights"])
        result.best_dev_accuracy, result.best_epoch = best["acc"], best["epoch"]
    result.steps += state.step
    result.step_losses[name] = state.step_losses
    student.eval()


# ---------------------------------------------------------------------------------------------
# Recipe: data set + teacher -> trained Transformer student

def train_transformer_student(name: str, dataset, teacher, student_config, distill_config: TransformerDistillConfig = TransformerDistillConfig(),
                              teacher_logits: np.ndarray | None = None, ctx: DistContext | None = None, seed: int = 0,
                              extra_texts: list[str] | None = None, extra_logits: np.ndarray | None = None):
    """Build a student from `teacher` (a distill.Teacher), distil it on `dataset.train` (+ `extra_texts`,
    augmented or unlabelled sentences that only the teacher labels), score it on the test split.

    Teacher logits come from the (sharded) logit cache unless given; `extra_logits` rows follow
    `extra_texts`. Returns a distill.recipes.StudentRun whose `result` is a DistillResult.

    >>> run = train_transformer_student("distil-3l", ds, teacher, TransformerStudentConfig(layers=3))  # doctest: +SKIP
    >>> run.test_accuracy                                                                            # doctest: +SKIP
    0.84
    """
    from distill.recipes import StudentRun
    from distill.students.transformer import build_transformer_student
    from distill.teacher import sharded_teacher_logits

    ctx = ctx or current()
    encoder = teacher.encoder
    if teacher_logits is None:
        teacher_logits, _ = sharded_teacher_logits(teacher, dataset.train.inputs, ctx, "teacher logits (transfer set)")
    student = build_transformer_student(teacher.model, student_config, seed=seed)
    n = len(dataset.label_names)
    train_set = TrainSet.with_extra(encoder.ids(dataset.train.inputs), dataset.train.targets(n), teacher_logits,
                                    encoder.ids(extra_texts) if extra_texts else [], extra_logits)   # extras: no gold label, CE skips them
    result = distill_transformer(student, teacher.model, train_set, encoder.ids(dataset.dev.inputs), dataset.dev.targets(n), encoder.pad,
                                 distill_config, ctx, description=f"training {name}")
    test_acc = sharded_accuracy(student, encoder.ids(dataset.test.inputs), dataset.test.targets(n), encoder.pad, ctx)
    return StudentRun(name, student, "teacher", result, test_acc)


# TransformerDistillConfig fields transformer_recipe passes through as they are
_PASS_THROUGH = frozenset(f.name for f in fields(TransformerDistillConfig)) - {"method", "matches"}


def transformer_recipe(teacher_model, layers: int, hidden: int | None = None, matches: str | Path | tuple[Match, ...] | None = None,
                       method: str | None = None, intermediate: int | None = None, stage1_epochs: int | None = None,
                       stage1_lr: float | None = None, **distill_options) -> tuple:
    """Turn flat options into (TransformerStudentConfig, TransformerDistillConfig) for `teacher_model`.

    The options are the ones `edgedistill distill --student transformer` takes, under the same names:
    `layers` and `hidden` (None: the teacher's width) shape the student, `intermediate` its feed-forward
    width, `matches` the layer matches (a preset name, a .json/.yaml file or Matches), `method`
    distilbert | tinybert, `stage1_epochs` / `stage1_lr` TinyBERT's first (layer) stage, and any other
    TransformerDistillConfig field (`temperature=`, `epochs=`, `lr=`, ...) passes through.

    At the teacher's width: teacher-init blocks (every other one), DistilBERT-style; a smaller
    `intermediate` keeps each block's top feed-forward neurons. Narrower: PCA-projected teacher
    embeddings, random blocks, TinyBERT's two stages. `method` overrides that choice. Every error
    names the option it is about, by the name above.

    >>> student_cfg, distill_cfg = transformer_recipe(teacher.model, layers=4, hidden=192)  # doctest: +SKIP
    >>> distill_cfg.method, student_cfg.init                                                 # doctest: +SKIP
    ('tinybert', 'embeddings')
    >>> run = train_transformer_student("tiny-4l", ds, teacher, student_cfg, distill_cfg)    # doctest: +SKIP
    """
    from distill.students.transformer import TransformerStudentConfig

    width, depth = teacher_model.config.hidden_size, teacher_model.config.num_hidden_layers
    if hidden is not None and hidden > width:
        raise ConfigError(f"hidden {hidden} is wider than the teacher's {width}; a student is at most the teacher's width "
                          f"(e.g. hidden={width // 2}, or leave hidden out for {width})")
    unknown = sorted(set(distill_options) - _PASS_THROUGH)
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}; valid: layers, hidden, matches, method, intermediate, "
                          f"stage1_epochs, stage1_lr, {', '.join(sorted(_PASS_THROUGH))}")
    if method is not None and method not in METHODS:
        raise ConfigError(f"method {method!r} is not supported; choose one of {', '.join(METHODS)} (or leave it out to choose by width)")
    narrow = hidden is not None and hidden != width
    student = TransformerStudentConfig(layers=layers, hidden=hidden if narrow else None, intermediate=intermediate,
                                       init="embeddings" if narrow else "teacher")
    chosen = method or ("tinybert" if narrow or matches in ("tinybert", "tinybert-hidden") else "distilbert")
    stage1 = {"stage1_epochs": stage1_epochs, "stage1_lr": stage1_lr}
    given = [name for name, value in stage1.items() if value is not None]
    if given and chosen != "tinybert":
        raise ConfigError(f"{' and '.join(given)} set TinyBERT's first (layer) stage; this {chosen} run has one stage "
                          f"(set method='tinybert', or drop {'them' if len(given) > 1 else 'it'})")
    if stage1_epochs is not None and stage1_epochs < 1:
        raise ConfigError(f"stage1_epochs must be >= 1 (got {stage1_epochs}); leave it out for {TransformerDistillConfig.intermediate_epochs}")
    if stage1_lr is not None and not stage1_lr > 0:
        raise ConfigError(f"stage1_lr must be > 0 (got {stage1_lr}); leave it out for {TransformerDistillConfig.intermediate_lr}")
    for ours, field_name in (("stage1_epochs", "intermediate_epochs"), ("stage1_lr", "intermediate_lr")):
        if stage1[ours] is not None:
            if field_name in distill_options:
                raise ConfigError(f"{ours} and {field_name} are the same setting; give one of them")
            distill_options[field_name] = stage1[ours]
    config = TransformerDistillConfig(method=chosen, matches=matches, **distill_options)
    _check_matches_option(config, depth, layers)
    return student, config


def _check_matches_option(config: TransformerDistillConfig, teacher_layers: int, student_layers: int) -> None:
    """Resolve the layer matches now (as distill_transformer will), so a bad `matches` fails before any
    teacher logits are computed; the error names `matches`, or `layers` when the method's preset cannot map them."""
    spec = config.matches if config.matches is not None else DEFAULT_MATCHES[config.method]
    try:
        if isinstance(spec, tuple):
            check_matches(spec, teacher_layers, student_layers)
        else:
            load_matches(spec, teacher_layers, student_layers)
    except ConfigError as e:
        if config.matches is None:
            raise ConfigError(f"layers {student_layers}: {e}") from None
        shown = ", ".join(m.name for m in spec) if isinstance(spec, tuple) else str(spec)
        raise ConfigError(f"matches {shown!r}: {e}") from None
