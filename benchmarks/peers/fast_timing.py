"""End-to-end latency of text classifiers: raw string in -> label out, one sentence per call, interleaved.

Pure Python (time.perf_counter + a numpy-compatible linear percentile), so it runs unchanged in every venv the
peer benchmarks use (.venv, .venv-peers, .venv-fast, .venv-mm). Give it one callable per classifier that takes
one sentence and returns its answer (tokenization included), and the sentences to time them on:

    from fast_timing import time_text_classifier, time_text_classifiers
    one = time_text_classifier(lambda t: model.predict([t])[0], test_texts, runs=2000)
    # {'runs': 2000, 'p50_ms': ..., 'p90_ms': ..., 'p99_ms': ..., 'mean_ms': ..., 'min_ms': ...}
    many = time_text_classifiers({"ours": ours_one, "model2vec": m2v_one}, test_texts, runs=2000)

Round r times every classifier once on texts[r % len(texts)], in an order rotated by one each round, so drift of a
loaded machine falls on all of them alike; each result also carries `paired_ratio_vs_first`, the median over rounds of
(its time / the first classifier's time) in the same round. Warm-up calls (default 20, on the first sentences) are
not timed. Set the thread count of each library (OMP_NUM_THREADS=1, torch.set_num_threads(1), ORT
intra_op_num_threads=1, fastText is single-threaded at predict time) before calling: this helper does not.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence

from edgecore import ConfigError


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between ranks, as numpy.percentile's default."""
    if not values:
        raise ConfigError("percentile of no values; time at least one run")
    if not 0 <= q <= 100:
        raise ConfigError(f"percentile q must be in [0, 100] (got {q})")
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarize_ms(ms: Sequence[float]) -> dict:
    """p50 / p90 / p99 / mean / min of per-call milliseconds."""
    return {"runs": len(ms), "p50_ms": percentile(ms, 50), "p90_ms": percentile(ms, 90), "p99_ms": percentile(ms, 99),
            "mean_ms": sum(ms) / len(ms), "min_ms": min(ms)}


def time_text_classifiers(predictors: Mapping[str, Callable[[str], object]], texts: Sequence[str], runs: int = 2000,
                          warmup: int = 20, keep_raw: bool = False) -> dict[str, dict]:
    """Interleaved end-to-end timing of several `predict_one(text) -> label` callables on the same sentences."""
    if not predictors:
        raise ConfigError("time_text_classifiers needs at least one predictor (name -> predict_one(text))")
    texts = [t for t in texts if isinstance(t, str) and t]
    if not texts:
        raise ConfigError("time_text_classifiers needs at least one non-empty sentence to time")
    if runs < 1 or warmup < 0:
        raise ConfigError(f"runs must be >= 1 and warmup >= 0 (got runs={runs}, warmup={warmup})")
    names = list(predictors)
    for name in names:
        if not callable(predictors[name]):
            raise ConfigError(f"predictor {name!r} is not callable; give a function of one sentence (str) -> label")
    for i in range(warmup):
        for name in names:
            predictors[name](texts[i % len(texts)])
    ms: dict[str, list[float]] = {n: [] for n in names}
    clock = time.perf_counter
    for r in range(runs):
        text = texts[r % len(texts)]
        k = r % len(names)
        for name in names[k:] + names[:k]:
            fn = predictors[name]
            t0 = clock()
            fn(text)
            ms[name].append((clock() - t0) * 1e3)
    first = ms[names[0]]
    out = {}
    for name in names:
        ratios = [a / b for a, b in zip(ms[name], first) if b > 0]
        out[name] = {**summarize_ms(ms[name]), "paired_ratio_vs_first": percentile(ratios, 50) if ratios else None,
                     "sentences": min(runs, len(texts))}
        if keep_raw:
            out[name]["ms"] = ms[name]
    return out


def time_text_classifier(predict_one: Callable[[str], object], texts: Sequence[str], runs: int = 2000, warmup: int = 20) -> dict:
    """End-to-end timing of one `predict_one(text) -> label` callable: {runs, p50_ms, p90_ms, p99_ms, mean_ms, min_ms}."""
    res = time_text_classifiers({"model": predict_one}, texts, runs=runs, warmup=warmup)["model"]
    res.pop("paired_ratio_vs_first")
    return res
