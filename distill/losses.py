"""Distillation losses as pure tensor functions with one signature.

    loss(student_logits, teacher_logits, labels, mask=None) -> scalar Tensor

`mask` (B,) selects the rows that count (e.g. rows with a gold label); arguments a loss does not use
may be None. Each returns the unweighted term, so a trainer can log every term as it is.

Multi-label classifiers (one sigmoid per label) use the binary forms: `soft_cross_entropy(..., multi_label=True)` is
the per-label Bernoulli KL to the teacher's probabilities, and `hard_cross_entropy` with (B, C) 0/1 labels is binary
cross-entropy (rows of -1 are unlabelled).
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


def soft_cross_entropy(student_logits, teacher_logits, labels=None, mask=None, temperature: float = 1.0,
                       multi_label: bool = False) -> torch.Tensor:
    """Hinton et al.: KL(teacher_T || student_T) * T^2, so gradients keep their scale as T changes. With `multi_label`,
    the KL of each label's Bernoulli (sigmoid at T), averaged over labels: binary cross-entropy on the teacher's
    per-label probabilities, less its constant entropy."""
    t = temperature
    if multi_label:
        s, te = student_logits / t, teacher_logits / t
        p = torch.sigmoid(te)
        kl = p * (F.logsigmoid(te) - F.logsigmoid(s)) + (1 - p) * (F.logsigmoid(-te) - F.logsigmoid(-s))
        return _masked_mean(kl.mean(-1), mask) * (t * t)
    log_p_student = F.log_softmax(student_logits / t, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits / t, dim=-1)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(-1)
    return _masked_mean(kl, mask) * (t * t)


def hard_cross_entropy(student_logits, teacher_logits=None, labels=None, mask=None) -> torch.Tensor:
    """Cross-entropy with gold labels; rows whose label is < 0 (unlabelled) are left out. (B, C) 0/1 labels (multi-label):
    binary cross-entropy, mean over labels."""
    if labels.ndim == 2:
        valid = labels[:, 0] >= 0
        per_row = F.binary_cross_entropy_with_logits(student_logits, labels.clamp(min=0).to(student_logits.dtype), reduction="none").mean(-1)
    else:
        valid = labels >= 0
        per_row = F.cross_entropy(student_logits, labels.clamp(min=0), reduction="none")
    if mask is not None:
        valid = valid & mask.to(torch.bool)
    return _masked_mean(per_row, valid)
