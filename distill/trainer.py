"""One training loop for every student: AdamW, linear decay, early stopping on dev accuracy,
best checkpoint in safetensors, and resume from the last finished epoch.

The objective mixes a distillation term and a label term:
    loss = alpha * distill(student, teacher) + (1 - alpha) * cross_entropy(student, labels)
with `loss="ce"` meaning labels only (the baseline every distilled student is measured against).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from distill import losses
from edgecore import ConfigError, atomic_write
from edgecore.progress import bar

LOSSES = ("ce", "mse", "kl")


@dataclass(frozen=True)
class TrainConfig:
    loss: str = "mse"           # ce (labels only) | mse (logits, BiLSTM-SOFT) | kl (soft targets at temperature)
    temperature: float = 1.0
    alpha: float = 1.0          # weight of the distillation term; 1 - alpha goes to gold labels
    epochs: int = 12
    max_steps: int | None = None  # stop after this many optimizer steps (compute-matched controls)
    batch_size: int = 50
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.05
    patience: int = 4           # epochs without a better dev accuracy before stopping; 0 = never stop early
    grad_clip: float = 5.0
    bucket: int = 50            # batches are formed within shuffled pools of this many batches sorted by length; 0 = plain shuffle
    seed: int = 0
    bf16: bool = False          # forward pass under bfloat16 autocast (weights, optimizer and evaluation stay fp32); pays off on CPUs with native bf16 (AVX512-BF16, AMX)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"loss {self.loss!r} is not supported; choose one of {', '.join(LOSSES)}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0 (got {self.temperature}); 1-4 are usual")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1] (got {self.alpha})")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError(f"epochs, batch_size and lr must be positive (got {self.epochs}, {self.batch_size}, {self.lr})")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1 or None (got {self.max_steps})")

    @property
    def uses_teacher(self) -> bool:
        return self.loss != "ce" and self.alpha > 0


@dataclass
class TrainSet:
    """Token ids (unpadded), gold labels (-1 = unlabelled) and teacher logits (None for label-only)."""

    ids: list[list[int]]
    labels: torch.Tensor
    teacher_logits: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.labels):
            raise ConfigError(f"{len(self.ids)} texts but {len(self.labels)} labels")
        if self.teacher_logits is not None:
            if len(self.teacher_logits) != len(self.ids):
                raise ConfigError(f"{len(self.ids)} texts but {len(self.teacher_logits)} teacher logit rows")
            if not torch.isfinite(self.teacher_logits).all():
                raise ConfigError("teacher logits contain NaN or inf; rebuild the logit cache from a healthy teacher")

    @classmethod
    def with_extra(cls, ids: list[list[int]], labels, logits, extra_ids: list[list[int]] = (), extra_logits=None) -> TrainSet:
        """Labelled rows (`logits` may be None: label-only) plus `extra_ids` that only the teacher labels
        (augmented or unlabelled sentences: gold label -1, their rows of `extra_logits`)."""
        ids, labels = list(ids), list(labels)
        if len(extra_ids):
            if logits is None or extra_logits is None or len(extra_logits) != len(extra_ids):
                raise ConfigError(f"{len(extra_ids)} extra transfer sentences need teacher logits for the training rows and as many extra logit rows")
            ids += list(extra_ids)
            labels += [-1] * len(extra_ids)
            logits = np.concatenate([np.asarray(logits), np.asarray(extra_logits)])
        as_tensor = None if logits is None else torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32))
        return cls(ids, torch.tensor(labels), as_tensor)


@dataclass
class TrainResult:
    best_dev_accuracy: float
    best_epoch: int
    steps: int
    epochs_run: int
    seconds: float
    history: list[dict] = field(default_factory=list)


Pad = Callable[[list[list[int]]], dict[str, torch.Tensor]]


def train(model: torch.nn.Module, train_set: TrainSet, dev_ids: list[list[int]], dev_labels: list[int],
          pad: Pad, config: TrainConfig, checkpoint_dir: str | Path | None = None, description: str = "training") -> TrainResult:
    """Train `model` in place and leave it holding the best-on-dev weights.

    With `checkpoint_dir`, the state after every epoch is saved there (weights_only-loadable), and a
    later call with the same arguments resumes from it and ends with the same weights.
    """
    if config.uses_teacher and train_set.teacher_logits is None:
        raise ConfigError(f"loss {config.loss!r} needs teacher logits; pass them, or use loss='ce' for a label-only student")
    torch.manual_seed(config.seed)
    n = len(train_set.ids)
    steps_per_epoch = math.ceil(n / config.batch_size)
    total_steps = min(config.max_steps or 10**12, config.epochs * steps_per_epoch)
    epochs = math.ceil(total_steps / steps_per_epoch)
    params = [p for p in model.parameters() if p.requires_grad]
    # fused: one kernel over all parameters; the unfused update of a (vocab x 384) embedding table took
    # a third of a BiLSTM step on one CPU thread (0.27 s -> 0.17 s per batch of 50)
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    warmup = int(config.warmup * total_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total_steps - s) / max(1, total_steps - warmup)))
    generator = torch.Generator().manual_seed(config.seed)
    state = {"epoch": 0, "step": 0, "best_acc": -1.0, "best_epoch": 0, "history": [], "seconds": 0.0, "best_weights": None}

    ckpt = Path(checkpoint_dir) / "trainer_state.pt" if checkpoint_dir else None
    if ckpt is not None and ckpt.is_file():
        saved = torch.load(ckpt, weights_only=True)
        if saved["config"] == asdict(config) and saved["n"] == n:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            schedule.load_state_dict(saved["schedule"])
            generator.set_state(saved["generator"])
            torch.set_rng_state(saved["torch_rng"])
            state = saved["state"]

    labels = train_set.labels
    teacher = train_set.teacher_logits
    t_start = time.perf_counter() - state["seconds"]
    with bar(total_steps, description) as progress:
        progress.advance(state["step"])
        while state["epoch"] < epochs and state["step"] < total_steps:
            model.train()
            sums: dict[str, float] = {}
            batches = 0
            for batch in length_bucketed(train_set.ids, config.batch_size, config.bucket, generator):
                if state["step"] >= total_steps:
                    break
                feeds = pad([train_set.ids[i] for i in batch.tolist()])
                with autocast(config.bf16):
                    logits = model(**feeds)
                terms = _loss_terms(logits.float(), teacher[batch] if teacher is not None else None, labels[batch], config)
                loss = sum(w * v for w, v in terms.values())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip:
                    torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
                optimizer.step()
                schedule.step()
                state["step"] += 1
                batches += 1
                for name, (_, value) in terms.items():
                    sums[name] = sums.get(name, 0.0) + value.detach().item()
                progress.advance()
            acc = accuracy(model, dev_ids, dev_labels, pad)
            state["epoch"] += 1
            record = {"epoch": state["epoch"], "step": state["step"], "dev_accuracy": acc,
                      **{f"loss_{k}": v / max(1, batches) for k, v in sums.items()}}
            state["history"].append(record)
            progress.describe(f"{description} (epoch {state['epoch']}, dev {acc:.3f})")
            if acc > state["best_acc"]:
                state["best_acc"], state["best_epoch"] = acc, state["epoch"]
                state["best_weights"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            state["seconds"] = time.perf_counter() - t_start
            stop = config.patience and state["epoch"] - state["best_epoch"] >= config.patience
            if ckpt is not None:
                _save_state(ckpt, model, optimizer, schedule, generator, state, config, n)
            if stop:
                break
    if state["best_weights"] is not None:
        model.load_state_dict(state["best_weights"])
    model.eval()
    return TrainResult(state["best_acc"], state["best_epoch"], state["step"], state["epoch"], state["seconds"], state["history"])


def autocast(bf16: bool):
    """The students' mixed precision: bfloat16 autocast on the CPU when `bf16`, else a no-op context."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)


def native_bf16() -> bool:
    """True on CPUs with bfloat16 instructions (AVX512-BF16 or AMX), where `TrainConfig(bf16=True)` pays off.
    Elsewhere bf16 autocast still runs, emulated and slower."""
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def length_bucketed(ids: list[list[int]], batch_size: int, bucket: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Shuffled batches. With bucketing, each pool of `bucket` batches is sorted by length before it is cut,
    and the batches are shuffled again: a batch pads to its own longest sentence, not to the corpus's
    (for sentences of ~25 tokens among up to 64, that halves the work per step)."""
    order = torch.randperm(len(ids), generator=generator)
    if not bucket:
        return list(order.split(batch_size))
    lengths = torch.tensor([len(x) for x in ids])
    batches = []
    for pool in order.split(batch_size * bucket):
        pool = pool[torch.argsort(lengths[pool], stable=True)]
        batches += list(pool.split(batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def _loss_terms(logits, teacher_logits, labels, config: TrainConfig) -> dict[str, tuple[float, torch.Tensor]]:
    """name -> (weight, unweighted value). Terms with weight 0 are not computed."""
    terms = {}
    label_weight = 1.0 if config.loss == "ce" else 1.0 - config.alpha
    if config.loss == "mse" and config.alpha > 0:
        terms["mse"] = (config.alpha, losses.logit_mse(logits, teacher_logits))
    elif config.loss == "kl" and config.alpha > 0:
        terms["kl"] = (config.alpha, losses.soft_cross_entropy(logits, teacher_logits, temperature=config.temperature))
    if label_weight > 0 and bool((labels >= 0).any()):
        terms["ce"] = (label_weight, losses.hard_cross_entropy(logits, labels=labels))
    return terms


def _save_state(path: Path, model, optimizer, schedule, generator, state, config: TrainConfig, n: int) -> None:
    with atomic_write(path) as f:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                    "generator": generator.get_state(), "torch_rng": torch.get_rng_state(), "state": state,
                    "config": asdict(config), "n": n}, f)


@torch.inference_mode()
def predict(model: torch.nn.Module, ids: list[list[int]], pad: Pad, batch_size: int = 256) -> np.ndarray:
    """Logits (N, C) in input order; batches are length-sorted so little padding is computed."""
    model.eval()
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = np.zeros((len(ids), 0), np.float32)
    rows = []
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        out = model(**pad([ids[i] for i in chunk]))
        rows.append((chunk, getattr(out, "logits", out).float().numpy()))   # HF classifiers return an output object
    if rows:
        out = np.zeros((len(ids), rows[0][1].shape[1]), np.float32)
        for chunk, logits in rows:
            out[chunk] = logits
    return out


def accuracy(model: torch.nn.Module, ids: list[list[int]], labels: list[int], pad: Pad) -> float:
    return float((predict(model, ids, pad).argmax(1) == np.asarray(labels)).mean())
