"""Process-group helpers for plain data parallel on torch.distributed (gloo on CPU, nccl where there
are GPUs), started by torchrun.

The same command runs alone or under `torchrun --nproc_per_node N`: `init_distributed()` reads the
environment torchrun sets (RANK, WORLD_SIZE, MASTER_ADDR/PORT) and is a no-op without it, so a single
process needs no setup, and every helper here is a no-op (or the identity) in one process.

This module knows nothing about models or training: the global-batch training loop that uses these
helpers is distill.parallel, and the sharded teacher-logit cache is distill.teacher.sharded_teacher_logits.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from edgecore import ConfigError


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(backend: str | None = None) -> DistContext:
    """Join the process group torchrun describes in the environment; a single process gets DistContext()."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed; run without torchrun")
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if torch.cuda.is_available() else "gloo"))
    return current()


def current() -> DistContext:
    """The context of the process group already joined (DistContext() when there is none)."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return DistContext()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def all_reduce_sum(values: list[float], ctx: DistContext) -> list[float]:
    if not ctx.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def shard_range(n: int, ctx: DistContext) -> tuple[int, int]:
    """This rank's contiguous [start, stop) of n items; sizes differ by at most one."""
    base, extra = divmod(n, ctx.world_size)
    start = ctx.rank * base + min(ctx.rank, extra)
    return start, start + base + (1 if ctx.rank < extra else 0)


def local_rows(global_batch: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """This rank's contiguous slice of a global batch of row indices (possibly empty)."""
    start, stop = shard_range(len(global_batch), ctx)
    return global_batch[start:stop]


def wrap(model: torch.nn.Module, ctx: DistContext, find_unused_parameters: bool = False) -> torch.nn.Module:
    """DistributedDataParallel around `model` under torchrun, the model itself otherwise."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    # broadcast_buffers=False: BERT's buffers are constants, and evaluation forwards stay free of collectives
    return DistributedDataParallel(model, broadcast_buffers=False, find_unused_parameters=find_unused_parameters)
