"""Distillation losses as pure tensor functions with one signature.

    loss(student_logits, teacher_logits, labels, mask=None) -> scalar Tensor

`mask` (B,) selects the rows that count (e.g. rows with a gold label); arguments a loss does not use
may be None. Each returns the unweighted term, so a trainer can log every term as it is.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _masked_mean(per_row: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return per_row.mean()
    mask = mask.to(per_row.dtype)
    return (per_row * mask).sum() / mask.sum().clamp(min=1.0)


def logit_mse(student_logits, teacher_logits, labels=None, mask=None) -> torch.Tensor:
    """Mean squared error between logits (BiLSTM-SOFT, Tang et al. 2019): mean over classes, then rows."""
    return _masked_mean(((student_logits - teacher_logits) ** 2).mean(-1), mask)


def soft_cross_entropy(student_logits, teacher_logits, labels=None, mask=None, temperature: float = 1.0) -> torch.Tensor:
    """Hinton et al.: KL(teacher_T || student_T) * T^2, so gradients keep their scale as T changes."""
    t = temperature
    log_p_student = F.log_softmax(student_logits / t, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits / t, dim=-1)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(-1)
    return _masked_mean(kl, mask) * (t * t)


def hard_cross_entropy(student_logits, teacher_logits=None, labels=None, mask=None) -> torch.Tensor:
    """Cross-entropy with gold labels; rows whose label is < 0 (unlabelled) are left out."""
    valid = labels >= 0
    if mask is not None:
        valid = valid & mask.to(torch.bool)
    per_row = F.cross_entropy(student_logits, labels.clamp(min=0), reduction="none")
    return _masked_mean(per_row, valid)
