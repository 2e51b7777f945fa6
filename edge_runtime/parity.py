"""One parity check for every format: numbers first (a report), raising is a separate call."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from edgecore import ParityError
from edgecore.tolerances import tolerance


@dataclass
class ParityReport:
    """One converted model's numbers against its PyTorch source, the teacher and gold labels, and the checks it failed.

    >>> report = parity(int8_logits, torch_logits, teacher_logits, fmt="onnx", precision="int8")  # doctest: +SKIP
    >>> report.passed, report.to_dict()["flip_count"]                                              # doctest: +SKIP
    (True, 3)
    """
    name: str
    format: str
    precision: str
    sentences: int
    agreement_with_teacher: float     # same argmax as the teacher
    agreement_with_source: float | None   # same argmax as its own PyTorch fp32 source (None: no source given)
    accuracy: float | None                # vs gold labels, when given
    source_accuracy: float | None
    max_abs_logit_diff: float | None      # vs its PyTorch source
    mean_abs_logit_diff: float | None
    kl_vs_source: float | None            # mean KL(source || candidate) of the softmax
    flips: list[dict] = field(default_factory=list)   # sentences whose label differs from the source's (else the teacher's)
    classes: dict | None = None           # vs gold: per-class precision/recall/F1/support, macro F1, confusion matrix
    multi_label: dict | None = None       # multi-label models: thresholds, per-label agreement with the teacher, F1 vs gold
    tolerance: dict = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self, max_flips: int = 50) -> dict:
        d = asdict(self)
        d["flips"] = d["flips"][:max_flips]
        d["flip_count"] = len(self.flips)
        d["passed"] = self.passed
        return d


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def class_metrics(pred: np.ndarray, gold: np.ndarray, labels: list[str] | None = None, n_classes: int | None = None) -> dict:
    """Per-class precision, recall, F1 and support, macro/weighted F1, and the confusion matrix (rows: gold, columns: predicted).

    >>> class_metrics(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2]))["macro_f1"]
    0.7777777777777777
    """
    k = int(n_classes or max(int(pred.max(initial=0)), int(gold.max(initial=0))) + 1)
    names = list(labels) if labels is not None else [str(i) for i in range(k)]
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (gold.astype(np.int64), pred.astype(np.int64)), 1)
    per_class = {}
    for i in range(k):
        tp, predicted, support = int(confusion[i, i]), int(confusion[:, i].sum()), int(confusion[i].sum())
        p = tp / predicted if predicted else 0.0
        r = tp / support if support else 0.0
        per_class[names[i]] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "support": support}
    supports = np.array([c["support"] for c in per_class.values()], dtype=np.float64)
    f1s = np.array([c["f1"] for c in per_class.values()])
    return {"labels": names, "per_class": per_class, "macro_f1": float(f1s.mean()) if k else 0.0,
            "weighted_f1": float((f1s * supports).sum() / supports.sum()) if supports.sum() else 0.0,
            "confusion": confusion.tolist()}


def parity(candidate: np.ndarray, source: np.ndarray | None, teacher: np.ndarray, *, gold=None, texts=None,
           fmt: str = "onnx", precision: str = "fp32", name: str = "", labels: list[str] | None = None,
           thresholds=None, teacher_thresholds=None) -> ParityReport:
    """Compare a converted model's logits (N, C) with its PyTorch source's and the teacher's on the same sentences.

    Without a source (a bundle checked on its own), only the teacher and gold comparisons are made and
    the tolerance table, which is about conversion drift, is not applied.

    Multi-label models (`thresholds` given: one per label; the teacher's own in `teacher_thresholds`, else the same)
    are compared by their decisions, sigmoid(logit) >= threshold: agreement is the share of (sentence, label) decisions
    that match, accuracy is exact match against gold rows of label indices, and `multi_label` holds the per-label
    agreement with the teacher and precision/recall/F1 against gold.

    >>> r = parity(int8_logits, torch_logits, teacher_logits, gold=labels, fmt="onnx", precision="int8")  # doctest: +SKIP
    >>> r.agreement_with_teacher, r.passed                                                                 # doctest: +SKIP
    (0.93, True)
    """
    has_source = source is not None
    source = teacher if source is None else source
    candidate, source, teacher = (np.asarray(a, dtype=np.float64) for a in (candidate, source, teacher))
    if not (candidate.shape == source.shape == teacher.shape) or candidate.ndim != 2:
        raise ValueError(f"logit arrays must share one (N, C) shape; got {candidate.shape}, {source.shape}, {teacher.shape}")
    if thresholds is not None:
        teacher_thresholds = teacher_thresholds if teacher_thresholds is not None else thresholds
        report = _multi_label(candidate, source, teacher, gold, texts, fmt, precision, name, labels, thresholds,
                              teacher_thresholds, thresholds if has_source else teacher_thresholds)
        return _apply_tolerance(report, has_source, fmt, precision)
    pred, src_pred, teacher_pred = candidate.argmax(1), source.argmax(1), teacher.argmax(1)
    diff = np.abs(candidate - source)
    p_src, p_cand = _softmax(source), _softmax(candidate)
    kl = float(np.mean(np.sum(p_src * (np.log(p_src + 1e-12) - np.log(p_cand + 1e-12)), axis=1))) if len(source) else 0.0
    flips = [{"index": int(i), "text": texts[i] if texts is not None else None, "source_label": int(src_pred[i]),
              "label": int(pred[i]), "source_probs": p_src[i].round(4).tolist(), "probs": p_cand[i].round(4).tolist()}
             for i in np.flatnonzero(pred != src_pred)]
    gold_arr = np.asarray(gold) if gold is not None else None
    n = len(candidate)
    report = ParityReport(
        name=name, format=fmt, precision=precision, sentences=n,
        agreement_with_teacher=float((pred == teacher_pred).mean()) if n else 1.0,
        agreement_with_source=float((pred == src_pred).mean()) if n else 1.0,
        accuracy=float((pred == gold_arr).mean()) if gold_arr is not None and n else None,
        source_accuracy=float((src_pred == gold_arr).mean()) if gold_arr is not None and n else None,
        max_abs_logit_diff=float(diff.max(initial=0.0)), mean_abs_logit_diff=float(diff.mean()) if n else 0.0,
        kl_vs_source=kl, flips=flips,
        classes=class_metrics(pred, gold_arr, labels, candidate.shape[1]) if gold_arr is not None and n else None)
    return _apply_tolerance(report, has_source, fmt, precision)


def _apply_tolerance(report: ParityReport, has_source: bool, fmt: str, precision: str) -> ParityReport:
    """The tolerance table's checks against the source; without a source, the source fields are cleared."""
    flips = report.flips
    if not has_source:
        report.agreement_with_source = report.max_abs_logit_diff = report.mean_abs_logit_diff = report.kl_vs_source = None
        report.source_accuracy = None
        return report
    tol = tolerance(fmt, precision)
    report.tolerance = asdict(tol)
    if report.max_abs_logit_diff > tol.max_abs_logit_diff:
        report.failures.append(f"max |logit diff| {report.max_abs_logit_diff:.3g} > {tol.max_abs_logit_diff:g}")
    if report.agreement_with_source < tol.min_agreement:
        report.failures.append(f"agreement with source {report.agreement_with_source:.4f} < {tol.min_agreement:g} ({len(flips)} flips)")
    return report


def _multi_label(candidate, source, teacher, gold, texts, fmt, precision, name, labels, thresholds, teacher_thresholds,
                 source_thresholds) -> ParityReport:
    from edgecore.multilabel import decide, label_metrics, multi_hot, sigmoid

    n, k = candidate.shape
    pred, src_pred, teacher_pred = decide(candidate, thresholds), decide(source, source_thresholds), decide(teacher, teacher_thresholds)
    diff = np.abs(candidate - source)
    p_src, p_cand = np.clip(sigmoid(source), 1e-12, 1 - 1e-12), np.clip(sigmoid(candidate), 1e-12, 1 - 1e-12)
    kl = p_src * np.log(p_src / p_cand) + (1 - p_src) * np.log((1 - p_src) / (1 - p_cand))   # per-label Bernoulli KL
    names = list(labels) if labels is not None else [str(i) for i in range(k)]
    flips = [{"index": int(i), "text": texts[i] if texts is not None else None,
              "source_labels": [names[j] for j in np.flatnonzero(src_pred[i])], "labels": [names[j] for j in np.flatnonzero(pred[i])],
              "source_probs": p_src[i].round(4).tolist(), "probs": p_cand[i].round(4).tolist()}
             for i in np.flatnonzero((pred != src_pred).any(1))]
    gold_hot = multi_hot(gold, k).astype(bool) if gold is not None else None
    scores = label_metrics(pred, gold_hot, names) if gold_hot is not None and n else None
    agree = (pred == teacher_pred).mean(0) if n else np.ones(k)
    detail = {"thresholds": [float(t) for t in thresholds], "teacher_thresholds": [float(t) for t in teacher_thresholds],
              "agreement_with_teacher_per_label": dict(zip(names, agree.round(6).tolist())),
              "exact_agreement_with_teacher": float((pred == teacher_pred).all(1).mean()) if n else 1.0,
              **({"micro_f1": scores["micro_f1"], "macro_f1": scores["macro_f1"], "per_label": scores["per_label"],
                  "source_micro_f1": label_metrics(src_pred, gold_hot, names)["micro_f1"]} if scores else {})}
    return ParityReport(
        name=name, format=fmt, precision=precision, sentences=n,
        agreement_with_teacher=float((pred == teacher_pred).mean()) if n else 1.0,
        agreement_with_source=float((pred == src_pred).mean()) if n else 1.0,
        accuracy=scores["exact_match"] if scores else None,
        source_accuracy=float((src_pred == gold_hot).all(1).mean()) if scores else None,
        max_abs_logit_diff=float(diff.max(initial=0.0)), mean_abs_logit_diff=float(diff.mean()) if n else 0.0,
        kl_vs_source=float(kl.mean()) if n else 0.0, flips=flips, multi_label=detail)


def assert_parity(report: ParityReport) -> None:
    """Raise ParityError listing every failed check with its numbers.

    >>> assert_parity(parity(int8_logits, torch_logits, teacher_logits, fmt="onnx", precision="int8"))  # doctest: +SKIP
    """
    if report.failures:
        raise ParityError(f"{report.name or report.format} {report.format}/{report.precision} fails parity on "
                          f"{report.sentences} sentences: {'; '.join(report.failures)} (tolerance: {report.tolerance['reason']})")
