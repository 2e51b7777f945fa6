"""Multi-label decisions, in one place for training, export, parity and the reports.

A multi-label classifier (Hugging Face `problem_type="multi_label_classification"`) gives one logit per label; a
label is predicted when sigmoid(logit) >= its threshold, so a row can get none, one or several labels. Thresholds
are chosen per label on dev data (`choose_thresholds`), stored with the checkpoint and in the bundle's manifest
(`task.thresholds`), and applied the same way by every runner and the Java core.

numpy is imported inside the functions: `import edgecore` stays light.
"""
from __future__ import annotations

from collections.abc import Sequence

from edgecore.errors import ConfigError

SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"
PROBLEM_TYPES = (SINGLE_LABEL, MULTI_LABEL)
DEFAULT_THRESHOLD = 0.5


def sigmoid(logits):
    """1 / (1 + exp(-x)), without overflow for large |x| (float64)."""
    import numpy as np

    x = np.asarray(logits, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def multi_hot(rows: Sequence[Sequence[int]], n_labels: int):
    """(N, n_labels) float32 0/1 matrix of rows of label indices, e.g. [(0, 2), ()] -> [[1, 0, 1], [0, 0, 0]]."""
    import numpy as np

    out = np.zeros((len(rows), n_labels), dtype=np.float32)
    for i, row in enumerate(rows):
        out[i, list(row)] = 1.0
    return out


def check_thresholds(thresholds, n_labels: int, where: str = "thresholds") -> tuple[float, ...]:
    """`thresholds` as a tuple of n_labels floats in [0, 1]; a ConfigError naming what is wrong otherwise."""
    import math

    if not isinstance(thresholds, (list, tuple)) or len(thresholds) != n_labels:
        got = len(thresholds) if isinstance(thresholds, (list, tuple)) else type(thresholds).__name__
        raise ConfigError(f"{where} must list one threshold per label ({n_labels}), got {got}")
    out = []
    for i, t in enumerate(thresholds):
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not 0.0 <= t <= 1.0:
            raise ConfigError(f"{where}[{i}] must be a number in [0, 1] (got {t!r})")
        out.append(float(t))
    return tuple(out)


def decide(logits, thresholds):
    """(N, C) bool: sigmoid(logits) >= thresholds, per label."""
    import numpy as np

    return sigmoid(logits) >= np.asarray(thresholds, dtype=np.float64)[None, :]


def choose_thresholds(logits, gold, grid: int = 99) -> tuple[float, ...]:
    """Per label, the probability threshold in {0.01, ..., 0.99} with the best F1 on (logits, gold multi-hot); ties
    go to the threshold nearest 0.5, and a label with no positive row in `gold` keeps 0.5.

    >>> choose_thresholds([[3.0, -2.0], [1.0, 0.0]], [[1, 0], [1, 1]])  # doctest: +SKIP
    (0.5, 0.5)
    """
    import numpy as np

    p = sigmoid(logits)
    y = np.asarray(gold, dtype=bool)
    steps = np.round(np.linspace(0.01, 0.99, grid), 4)
    chosen = []
    for j in range(p.shape[1]):
        pos = int(y[:, j].sum())
        if pos == 0:
            chosen.append(DEFAULT_THRESHOLD)
            continue
        predicted = p[:, j][None, :] >= steps[:, None]                     # (grid, N)
        tp = (predicted & y[:, j][None, :]).sum(1)
        f1 = 2 * tp / np.maximum(predicted.sum(1) + pos, 1)
        best = np.flatnonzero(f1 == f1.max())
        chosen.append(float(steps[best[np.argmin(np.abs(steps[best] - 0.5))]]))
    return tuple(chosen)


def label_metrics(pred, gold, labels: Sequence[str] | None = None) -> dict:
    """Multi-label scores of decisions `pred` against `gold` (both (N, C) 0/1): per-label precision/recall/F1/support,
    micro and macro F1, and exact match (the share of rows whose whole label set is right)."""
    import numpy as np

    pred, gold = np.asarray(pred, dtype=bool), np.asarray(gold, dtype=bool)
    names = list(labels) if labels is not None else [str(i) for i in range(pred.shape[1])]
    tp, fp, fn = (pred & gold).sum(0), (pred & ~gold).sum(0), (~pred & gold).sum(0)
    per_label = {}
    for j, name in enumerate(names):
        p = tp[j] / (tp[j] + fp[j]) if tp[j] + fp[j] else 0.0
        r = tp[j] / (tp[j] + fn[j]) if tp[j] + fn[j] else 0.0
        per_label[name] = {"precision": float(p), "recall": float(r), "f1": float(2 * p * r / (p + r)) if p + r else 0.0,
                           "support": int(gold[:, j].sum())}
    micro_den = 2 * tp.sum() + fp.sum() + fn.sum()
    return {"labels": names, "per_label": per_label, "micro_f1": float(2 * tp.sum() / micro_den) if micro_den else 1.0,
            "macro_f1": float(np.mean([c["f1"] for c in per_label.values()])) if names else 0.0,
            "exact_match": float((pred == gold).all(1).mean()) if len(pred) else 1.0}
