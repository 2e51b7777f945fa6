"""Data-parallel training loops: the global-batch loop every trainer here uses, the teacher's
fine-tuning loop, and RNN-student training under torchrun (process-group helpers: distill.distributed).

Global-batch semantics: every rank draws the same fixed-seed permutation, cuts the same global batch
of `batch_size` rows, and takes its contiguous slice of it. Each rank's loss is scaled by its share
of the rows times the world size, so DDP's gradient average is exactly the gradient of the global
batch's mean loss: N processes take the same optimizer steps as one process with the same
`batch_size` (up to float summation order and dropout draws). Terms averaged over tokens rather than
rows (hidden-state matches) are weighted by rows, which is the same only approximately.

In one process every function here is plain single-process training.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from distill.distributed import DistContext, all_reduce_sum, current, local_rows, shard_range, wrap
from distill.trainer import TrainSet, length_bucketed, predict, score, train
from edgecore import ConfigError
from edgecore.progress import bar

# ---------------------------------------------------------------------------------------------
# The global-batch loop every data-parallel trainer here uses

StepFn = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]


@dataclass
class LoopState:
    step: int = 0
    epoch: int = 0
    step_losses: list[float] = field(default_factory=list)   # global mean loss of every optimizer step
    epoch_terms: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def global_batch_loop(step_fn: StepFn, params: list[torch.nn.Parameter], optimizer, schedule, n: int, batch_size: int,
                      total_steps: int, generator: torch.Generator, ctx: DistContext, grad_clip: float = 0.0,
                      on_epoch_end: Callable[[LoopState], bool] | None = None, description: str = "training",
                      batches: Callable[[], list[torch.Tensor]] | None = None) -> LoopState:
    """Run `total_steps` optimizer steps over epochs of a fixed-seed permutation of n rows.

    `step_fn(local_row_indices)` returns (loss averaged over those rows, {term: unweighted value}).
    `on_epoch_end(state)` may return True to stop early (it must decide alike on every rank).
    `batches()`, when given, cuts each epoch's global batches instead of a plain shuffle, e.g.
    distill.trainer.length_bucketed (it must cut the same ones on every rank: seed its generator alike).
    """
    state = LoopState()
    t0 = time.perf_counter()
    scale_world = ctx.world_size
    with bar(total_steps, description) as progress:
        while state.step < total_steps:
            sums: dict[str, float] = {}
            rows_seen = 0
            for batch in (batches() if batches is not None else torch.randperm(n, generator=generator).split(batch_size)):
                if state.step >= total_steps:
                    break
                local = local_rows(batch, ctx)
                share = len(local) / len(batch)
                if len(local) == 0:   # a batch with fewer rows than ranks: run one row at zero weight so this rank joins the all-reduce
                    local = batch[:1]
                loss, terms = step_fn(local)
                (loss * (share * scale_world)).backward()
                if grad_clip:
                    torch.nn.utils.clip_grad_norm_(params, grad_clip)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                names = sorted(terms)
                reduced = all_reduce_sum([loss.detach().item() * share] + [terms[k].detach().item() * share * len(batch) for k in names], ctx)
                state.step_losses.append(reduced[0])
                for k, v in zip(names, reduced[1:]):
                    sums[k] = sums.get(k, 0.0) + v
                rows_seen += len(batch)
                state.step += 1
                progress.advance()
            state.epoch += 1
            state.epoch_terms.append({k: v / max(1, rows_seen) for k, v in sums.items()})
            state.seconds = time.perf_counter() - t0
            if on_epoch_end is not None and on_epoch_end(state):
                break
            progress.describe(f"{description} (epoch {state.epoch})")
    state.seconds = time.perf_counter() - t0
    return state


def linear_schedule(optimizer, total_steps: int, warmup_fraction: float):
    """Linear warm-up then linear decay to zero (the schedule distill.trainer and the teacher use)."""
    warmup = int(warmup_fraction * total_steps)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total_steps - s) / max(1, total_steps - warmup)))


@torch.inference_mode()
def sharded_accuracy(model: torch.nn.Module, ids: list[list[int]], labels: list[int], pad, ctx: DistContext,
                     batch_size: int = 128) -> float:
    """Dev/test accuracy with each rank scoring its slice; every rank gets the same number."""
    if np.ndim(labels) == 2:   # multi-label: micro-F1 needs every row's counts; scored whole on each rank
        return score(predict(_LogitsOf(model), ids, pad, batch_size), labels)
    start, stop = shard_range(len(ids), ctx)
    logits_model = _LogitsOf(model)
    correct = 0.0
    if stop > start:
        pred = predict(logits_model, ids[start:stop], pad, batch_size).argmax(1)
        correct = float((pred == np.asarray(labels[start:stop])).sum())
    return all_reduce_sum([correct], ctx)[0] / max(1, len(ids))


class _LogitsOf(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, **feeds):
        out = self.model(**feeds)
        return getattr(out, "logits", out)


# ---------------------------------------------------------------------------------------------
# Teacher fine-tuning and RNN students under torchrun

def train_classifier(model, encoder, dataset, config, ctx: DistContext | None = None) -> dict:
    """Fine-tune a classifier (the teacher, by `finetune_teacher`); under torchrun, plain data parallel.

    Same AdamW groups, warm-up/decay, clipping at 1.0 and seeded (length-bucketed) batches; returns a summary
    (steps, seconds, per-step global losses). Only parameters with requires_grad train (PEFT).
    """
    ctx = ctx or current()
    ids = encoder.ids(dataset.train.inputs)
    labels = torch.as_tensor(dataset.train.targets(len(dataset.label_names)))   # (N,) classes, or (N, C) 0/1 for multi-label
    loss_fn = torch.nn.functional.binary_cross_entropy_with_logits if labels.ndim == 2 else torch.nn.functional.cross_entropy
    steps_per_epoch = math.ceil(len(ids) / config.batch_size)
    total = config.max_steps or max(1, round(config.epochs * steps_per_epoch))
    no_decay = ("bias", "LayerNorm.weight", "layer_norm", "norm")
    groups = [
        {"params": [p for n, p in model.named_parameters() if p.requires_grad and not any(k in n for k in no_decay)], "weight_decay": config.weight_decay},
        {"params": [p for n, p in model.named_parameters() if p.requires_grad and any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.lr, fused=True)   # fused: see distill.transformer_trainer._stage
    schedule = linear_schedule(optimizer, total, config.warmup)
    generator = torch.Generator().manual_seed(config.seed)
    wrapped = wrap(model, ctx)
    model.train()

    def step(local: torch.Tensor):
        feeds = encoder.pad([ids[i] for i in local.tolist()])
        loss = loss_fn(wrapped(**feeds).logits, labels[local])
        return loss, {"ce": loss}

    params = list(model.parameters())
    state = global_batch_loop(step, params, optimizer, schedule, len(ids), config.batch_size, total, generator, ctx,
                              grad_clip=1.0, description="fine-tuning teacher",
                              batches=lambda: length_bucketed(ids, config.batch_size, getattr(config, "bucket", 0), generator))
    model.eval()
    return {"steps": state.step, "seconds": round(state.seconds, 1), "step_losses": state.step_losses, "world_size": ctx.world_size}


def shard_train_set(train_set, ctx: DistContext):
    """This rank's equal-sized share of a TrainSet (wrapping round to the start, as DistributedSampler does)."""
    if not ctx.enabled:
        return train_set
    n = len(train_set.ids)
    per_rank = math.ceil(n / ctx.world_size)
    idx = [(ctx.rank * per_rank + i) % n for i in range(per_rank)]
    teacher = train_set.teacher_logits[idx] if train_set.teacher_logits is not None else None
    return TrainSet([train_set.ids[i] for i in idx], train_set.labels[idx], teacher)


def train_data_parallel(model, train_set, dev_ids, dev_labels, pad, config, checkpoint_dir: str | Path | None = None,
                        ctx: DistContext | None = None, description: str = "training"):
    """`distill.trainer.train` under torchrun: DDP-wrapped model, each rank on its shard, per-rank batch =
    batch_size / world (so the global batch is the configured one), per-rank resume folders.

    In one process this is `distill.trainer.train` itself.
    """
    ctx = ctx or current()
    if not ctx.enabled:
        return train(model, train_set, dev_ids, dev_labels, pad, config, checkpoint_dir, description)
    if config.batch_size % ctx.world_size:
        raise ConfigError(f"batch_size {config.batch_size} does not split over {ctx.world_size} processes; "
                          f"use a multiple of {ctx.world_size} (it is the global batch)")
    local_config = replace(config, batch_size=config.batch_size // ctx.world_size)
    local_dir = Path(checkpoint_dir) / f"rank{ctx.rank}" if checkpoint_dir else None
    result = train(wrap(model, ctx), shard_train_set(train_set, ctx), dev_ids, dev_labels, pad, local_config, local_dir,
                   description=f"{description} (rank {ctx.rank})")
    return result
