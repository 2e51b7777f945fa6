"""Latency the way the platform tools measure it (TFLite benchmark_model, onnxruntime_perf_test):
load time and the RSS it adds, the first (cold) run and the warm-up runs, then timed runs (or a time
budget, with an optional cap), at a fixed thread count, optionally pinned to cores or to a device
profile (edge_runtime.device). Each result: min/mean/p50/p90/p99/max/std, throughput, peak RSS.

What one timed call runs is a `Workload`:
- fixed: one (batch, seq_len) feed of real tokens, as `benchmark_model --input_layer_shape` does;
- sentences: real sentences at their natural lengths, cycled, so short and long inputs mix as in an app;
- end-to-end: text in, logits out: the bundle's tokenizer runs inside the timed region (the platform
  tools leave it out, an app cannot), and the tokenizer's share is reported on its own.

`bench_interleaved()` interleaves several runners run by run, in rotating order, so drift of a shared machine
(another process, thermal state) hits all of them alike and their ratios stay meaningful; every
result carries its ratio to a baseline, including the median of per-round (paired) ratios.
"""
from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from edgecore import ConfigError

# A fixed English passage: fixed-shape feeds are built from its real tokens when no data set is given.
BENCH_TEXT = ("The film is a quiet, patient study of grief that never tips into sentimentality, and its two leads "
              "carry long scenes with little more than glances. It is too long by half an hour, and the score "
              "insists on feelings the images already earn, but the final scene lands with real force.")

WORKLOAD_KINDS = ("fixed", "sentences", "end-to-end")


@dataclass(frozen=True)
class BenchConfig:
    """How to time: warm-up and timed runs (or a time budget), threads, input shape, and core pinning or a device profile.

    >>> BenchConfig(warmup=10, runs=200, threads=1, seq_len=64)          # doctest: +SKIP
    >>> BenchConfig(profile="little").threads                             # doctest: +SKIP
    1
    """
    warmup: int = 10
    runs: int = 100
    min_seconds: float = 0.0       # keep running past `runs` until this much time has passed (a time budget)
    threads: int = 1
    batch: int = 1
    seq_len: int = 64
    cpus: tuple[int, ...] | None = None   # pin the process to these cores while measuring
    profile: str | None = None     # device profile ("little", "big"): sets threads and cpus, see edge_runtime.device
    max_seconds: float = 0.0       # stop timed runs after this long even if `runs` is not reached (0: no cap)
    warm_calls: int = 0            # interleaved runs: untimed calls of the same runner right before each timed one, so its
                                   # weights are in cache as when it runs alone (0: each timed call follows the other runners)

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.runs < 1 or self.threads < 1 or self.batch < 1 or self.seq_len < 2:
            raise ConfigError(f"need warmup >= 0, runs >= 1, threads >= 1, batch >= 1, seq_len >= 2 (got {self.warmup}, {self.runs}, {self.threads}, {self.batch}, {self.seq_len})")
        if self.warm_calls < 0:
            raise ConfigError(f"warm_calls must be >= 0 (got {self.warm_calls}): untimed calls before each timed one")
        if self.min_seconds < 0 or self.max_seconds < 0 or (self.max_seconds and self.max_seconds < self.min_seconds):
            raise ConfigError(f"need 0 <= min_seconds <= max_seconds (0 = no cap); got min_seconds={self.min_seconds}, max_seconds={self.max_seconds}")
        if self.cpus is not None:
            object.__setattr__(self, "cpus", tuple(int(c) for c in self.cpus))   # a list from JSON becomes a tuple
        if self.profile is not None:
            from edge_runtime.device import device_profile

            threads, cpus = device_profile(self.profile).resolve()
            if self.cpus is not None and self.cpus != cpus:
                raise ConfigError(f"device profile {self.profile!r} pins to cores {list(cpus)}; give either a profile or cpus={list(self.cpus)}, not both")
            if self.threads not in (1, threads):   # 1 is the default: only an explicit other count conflicts
                raise ConfigError(f"device profile {self.profile!r} runs {threads} thread(s) here; drop threads={self.threads} or the profile")
            object.__setattr__(self, "threads", threads)
            object.__setattr__(self, "cpus", cpus)
        if self.cpus is not None and not set(self.cpus) <= set(os.sched_getaffinity(0)):
            raise ConfigError(f"cannot pin to cores {list(self.cpus)}; this machine allows {sorted(os.sched_getaffinity(0))}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cpus"] = list(self.cpus) if self.cpus is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> BenchConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown BenchConfig keys {sorted(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**d)


@dataclass
class BenchResult:
    """One runner's timing: latency statistics in ms, throughput, load time, memory, and its ratio to the baseline.

    >>> r = benchmark(load("m.int8.onnx"), feeds, BenchConfig(runs=200))   # doctest: +SKIP
    >>> r.latency_ms["p50"], r.to_dict()["throughput_per_s"]                # doctest: +SKIP
    (0.84, 1190.5)
    """
    name: str
    runs: int
    latency_ms: dict[str, float]      # min mean p50 p90 p99 max std
    throughput_per_s: float           # sentences per second at the configured batch
    peak_rss_mb: float                # the process's high-water mark after the run (all runners together)
    config: dict
    info: dict = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    workload: dict = field(default_factory=dict)          # kind, items, batch, tokens min/mean/max
    load_ms: float | None = None                          # model load + session init, when the runner measured it
    memory: dict = field(default_factory=dict)            # rss_load_delta_mb, rss_warmup_delta_mb, rss_after_mb
    vs_baseline: dict = field(default_factory=dict)       # baseline, p50_ratio, mean_ratio, paired_median_ratio
    tokenize_ms: dict | None = None                       # end-to-end only: the tokenizer's share, same statistics
    floor: dict | None = None                             # FLOP floor (edge_runtime.flops), when asked for
    first_run_ms: float | None = None                     # the first call after load (cold caches, lazy init), as benchmark_model's "First inference"
    warmup_mean_ms: float | None = None                   # mean of the warm-up calls, the first included
    sample_tokens: list[int] = field(default_factory=list, repr=False)   # sequence length of each timed call

    def to_dict(self, with_samples: bool = False) -> dict:
        d = asdict(self)
        if not with_samples:
            d.pop("latencies_ms")
            d.pop("sample_tokens")
        return d


def latency_stats(samples_ms) -> dict[str, float]:
    """min / mean / p50 / p90 / p99 / max / std of a latency array, in its unit. Percentiles interpolate linearly.

    >>> latency_stats([1.0, 2.0, 3.0])["p50"]
    2.0
    """
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        raise ConfigError("no latency samples to summarise")
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"min": float(a.min()), "mean": float(a.mean()), "p50": float(p50), "p90": float(p90), "p99": float(p99),
            "max": float(a.max()), "std": float(a.std())}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb() -> float:
    """The process's resident set size now (not its peak), in MB."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import psutil

        return psutil.Process().memory_info().rss / 2**20


# ---------------------------------------------------------------------------------------------- workloads

@dataclass(frozen=True)
class Workload:
    """What one timed call runs: feeds cycled in order (fixed, sentences), or texts tokenized in the timed region.

    Build one with `fixed_length_feeds`, `sentence_feeds` or `end_to_end`; `bench_interleaved` also takes a plain
    feed dict (fixed) or a list of feed dicts (sentences).
    """
    kind: str
    feeds: tuple[dict, ...] = ()
    texts: tuple[tuple[str, ...], ...] = ()
    encode: Callable[[list[str]], dict[str, np.ndarray]] | None = None

    def __post_init__(self) -> None:
        if self.kind not in WORKLOAD_KINDS:
            raise ConfigError(f"workload kind {self.kind!r} is unknown; choose one of {', '.join(WORKLOAD_KINDS)}")
        if self.kind == "end-to-end" and (self.encode is None or not self.texts):
            raise ConfigError("an end-to-end workload needs texts and an encode function (the bundle's tokenizer)")
        if self.kind != "end-to-end" and not self.feeds:
            raise ConfigError(f"a {self.kind} workload needs at least one feed")

    def __len__(self) -> int:
        return len(self.texts) if self.kind == "end-to-end" else len(self.feeds)

    def describe(self, seen_tokens: Sequence[int] = ()) -> dict:
        """kind, items, batch and token lengths: of the timed calls (`seen_tokens`), else of every feed."""
        batch = len(self.texts[0]) if self.kind == "end-to-end" else _batch(self.feeds[0])
        lengths = list(seen_tokens) or [_width(f) for f in self.feeds]
        d = {"kind": self.kind, "items": len(self), "batch": batch}
        if lengths:
            d["tokens"] = {"min": int(min(lengths)), "mean": float(np.mean(lengths)), "max": int(max(lengths))}
        return d


def _width(feed: dict) -> int:
    ids = feed.get("input_ids")
    return int(ids.shape[1]) if ids is not None and getattr(ids, "ndim", 0) == 2 else 0


def _batch(feed: dict) -> int:
    ids = feed.get("input_ids")
    return int(ids.shape[0]) if ids is not None and getattr(ids, "ndim", 0) >= 1 else 1


def fixed_length_feeds(encode: Callable[[list[str]], dict[str, np.ndarray]], texts: list[str], seq_len: int, batch: int = 1) -> dict[str, np.ndarray]:
    """A (batch, seq_len) feed of real tokens: real sentences joined until seq_len tokens, no padding.

    >>> feeds = fixed_length_feeds(bundle.encode, ["a fine film", "too long by half"], seq_len=64)  # doctest: +SKIP
    >>> feeds["input_ids"].shape                                                                     # doctest: +SKIP
    (1, 64)
    """
    joined, feeds = " ".join(texts), None
    while True:
        feeds = encode([joined] * batch)
        if feeds["input_ids"].shape[1] >= seq_len or len(joined) > 100_000:
            break
        joined = joined + " " + joined
    return {k: np.ascontiguousarray(v[:, :seq_len]) for k, v in feeds.items()}


def sentence_feeds(encode: Callable[[list[str]], dict[str, np.ndarray]], texts: Sequence[str], batch: int = 1) -> Workload:
    """Real sentences at their natural lengths, `batch` consecutive ones per call (padded to the longest of them), cycled.

    >>> w = sentence_feeds(lambda t: bundle.encode(t, tokenizer=tok), test_texts[:500])  # doctest: +SKIP
    >>> bench_interleaved(runners, w, BenchConfig(runs=500))                              # doctest: +SKIP
    """
    texts = [t for t in texts if t]
    if len(texts) < batch:
        raise ConfigError(f"need at least batch={batch} non-empty sentences, got {len(texts)}")
    feeds = tuple({k: np.ascontiguousarray(v) for k, v in encode(texts[i:i + batch]).items()}
                  for i in range(0, len(texts) - batch + 1, batch))
    return Workload("sentences", feeds)


def end_to_end(encode: Callable[[list[str]], dict[str, np.ndarray]], texts: Sequence[str], batch: int = 1) -> Workload:
    """Text in, logits out: each timed call tokenizes `batch` sentences with `encode`, then runs the model.

    Pass an encode that holds its tokenizer (`lambda t: bundle.encode(t, tokenizer=tok)`), or each call
    also pays for reading tokenizer.json, which an app does once.

    >>> tok = bundle.tokenizer()                                                                                # doctest: +SKIP
    >>> bench_interleaved({"int8": runner}, end_to_end(lambda t: bundle.encode(t, tokenizer=tok), texts), cfg)  # doctest: +SKIP
    """
    texts = [t for t in texts if t]
    if len(texts) < batch:
        raise ConfigError(f"need at least batch={batch} non-empty sentences, got {len(texts)}")
    return Workload("end-to-end", texts=tuple(tuple(texts[i:i + batch]) for i in range(0, len(texts) - batch + 1, batch)), encode=encode)


def _as_workload(feeds) -> Workload:
    if isinstance(feeds, Workload):
        return feeds
    if isinstance(feeds, (list, tuple)):
        return Workload("sentences", tuple(feeds))
    if isinstance(feeds, Mapping):
        return Workload("fixed", (dict(feeds),))
    raise ConfigError(f"feeds must be a feed dict, a list of feed dicts or a Workload; got {type(feeds).__name__}")


# ---------------------------------------------------------------------------------------------- timing

def benchmark(runner: Callable, feeds, config: BenchConfig = BenchConfig(), name: str = "") -> BenchResult:
    """Time one runner on fixed feeds (or any Workload).

    >>> benchmark(load("model.onnx"), feeds, BenchConfig(runs=200)).latency_ms["p50"]  # doctest: +SKIP
    0.84
    """
    return bench_interleaved({name or "model": runner}, feeds, config)[name or "model"]


class _Case:
    """One runner's workload, stepped through in order. Kept tiny: its attributes are read inside the timing loop."""

    __slots__ = ("run", "feeds", "texts", "encode", "n", "i", "samples", "tok_samples", "tokens")

    def __init__(self, run: Callable, workload: Workload) -> None:
        self.run, self.encode = run, workload.encode
        self.feeds, self.texts = workload.feeds, workload.texts
        self.n, self.i = len(workload), 0
        self.samples: list[float] = []
        self.tok_samples: list[float] = []
        self.tokens: list[int] = []

    def untimed(self) -> None:
        if self.encode is None:
            self.run(self.feeds[self.i % self.n])
        else:
            self.run(self.encode(list(self.texts[self.i % self.n])))
        self.i += 1


def bench_interleaved(runners: dict[str, Callable], feeds, config: BenchConfig = BenchConfig(), baseline: str | None = None) -> dict[str, BenchResult]:
    """Time several runners interleaved: each timed round runs every runner once, in rotating order.

    `feeds` is one feed dict for all, a list of feed dicts (cycled), a Workload, or {runner name: any of
    those}. Each result's `vs_baseline` holds its ratio to `baseline` (default: the first runner): of
    p50s, of means, and the median of per-round ratios (paired, so drift within the run cancels).
    A runner whose `.info.threads` differs from `config.threads` is refused: the figure would be mislabelled.

    >>> r = bench_interleaved({"fp32": load("m.fp32.onnx"), "int8": load("m.int8.onnx")}, feeds, BenchConfig(runs=200))  # doctest: +SKIP
    >>> r["int8"].vs_baseline["p50_ratio"]                                                                              # doctest: +SKIP
    0.31
    """
    from edge_runtime.device import pinned

    if not runners:
        raise ConfigError("bench_interleaved needs at least one runner")
    baseline = baseline or next(iter(runners))
    if baseline not in runners:
        raise ConfigError(f"baseline {baseline!r} is not one of the runners: {', '.join(runners)}")
    for name, run in runners.items():
        threads = getattr(getattr(run, "info", None), "threads", None)
        if threads is not None and threads != config.threads:
            raise ConfigError(f"runner {name!r} was loaded with {threads} thread(s) but the config says {config.threads}; "
                              f"load it with threads={config.threads} (a device profile sets the thread count)")
    per_runner = isinstance(feeds, Mapping) and any(n in feeds and isinstance(feeds[n], (Mapping, list, tuple, Workload)) for n in runners)
    if per_runner and set(runners) - set(feeds):
        raise ConfigError(f"feeds are given per runner but not for {', '.join(sorted(set(runners) - set(feeds)))}; give every runner its feeds, or one feed dict for all")
    workloads = {n: _as_workload(feeds[n] if per_runner else feeds) for n in runners}
    cases = {n: _Case(runners[n], workloads[n]) for n in runners}
    memory: dict[str, dict] = {}
    warm: dict[str, list[float]] = {n: [] for n in runners}
    names = list(runners)
    perf_ns = time.perf_counter_ns
    with pinned(config.cpus):
        for name, case in cases.items():
            before = rss_mb()
            for _ in range(config.warmup):
                t0 = perf_ns()
                case.untimed()
                warm[name].append((perf_ns() - t0) / 1e6)
            memory[name] = {"rss_warmup_delta_mb": round(rss_mb() - before, 3)}
        start, i = time.perf_counter(), 0
        while True:
            elapsed = time.perf_counter() - start
            if i >= config.runs and elapsed >= config.min_seconds:
                break
            if config.max_seconds and elapsed >= config.max_seconds and i > 0:
                break
            k = i % len(names)
            for name in names[k:] + names[:k]:
                c = cases[name]
                for _ in range(config.warm_calls):
                    c.untimed()
                if c.encode is None:
                    feed = c.feeds[c.i % c.n]
                    t0 = perf_ns()
                    c.run(feed)
                    c.samples.append((perf_ns() - t0) / 1e6)
                else:
                    texts = list(c.texts[c.i % c.n])
                    t0 = perf_ns()
                    feed = c.encode(texts)
                    t1 = perf_ns()
                    c.run(feed)
                    t2 = perf_ns()
                    c.samples.append((t2 - t0) / 1e6)
                    c.tok_samples.append((t1 - t0) / 1e6)
                c.tokens.append(_width(feed))
                c.i += 1
            i += 1
    rss_after = rss_mb()
    peak = peak_rss_mb()
    out = {}
    for name, run in runners.items():
        c = cases[name]
        stats = latency_stats(c.samples)
        info = asdict(run.info) if hasattr(run, "info") else {}
        extra = info.get("extra") or {}
        mem = {**memory[name], "rss_after_mb": round(rss_after, 3)}
        if "rss_load_delta_mb" in extra:
            mem["rss_load_delta_mb"] = extra["rss_load_delta_mb"]
        load_ms = info.get("load_ms") or None
        workload = workloads[name].describe(c.tokens)
        w = workloads[name]   # sentences per call: the feeds' own batch when they have one, else the config's
        batch = workload["batch"] if w.kind == "end-to-end" or "input_ids" in w.feeds[0] else config.batch
        out[name] = BenchResult(name, len(c.samples), stats, batch * 1e3 / stats["mean"], peak, config.to_dict(), info, c.samples,
                                workload=workload, load_ms=load_ms, memory=mem,
                                tokenize_ms=latency_stats(c.tok_samples) if c.tok_samples else None, sample_tokens=c.tokens,
                                first_run_ms=warm[name][0] if warm[name] else None,
                                warmup_mean_ms=float(np.mean(warm[name])) if warm[name] else None)
    for r in out.values():
        r.vs_baseline = ratio(r, out[baseline], baseline)
    return out


def ratio(result: BenchResult, base: BenchResult, base_name: str = "") -> dict:
    """This result's latency over the baseline's (> 1: slower). The paired ratio needs samples from one interleaved run."""
    d = {"baseline": base_name or base.name, "p50_ratio": result.latency_ms["p50"] / base.latency_ms["p50"],
         "mean_ratio": result.latency_ms["mean"] / base.latency_ms["mean"], "paired_median_ratio": None}
    n = min(len(result.latencies_ms), len(base.latencies_ms))
    if n:
        d["paired_median_ratio"] = float(np.median(np.asarray(result.latencies_ms[:n]) / np.asarray(base.latencies_ms[:n])))
    return d


# ---------------------------------------------------------------------------------------------- files and bundles

def load_measured(path: str | Path, threads: int = 1, precision: str | None = None, fmt: str | None = None):
    """`runners.load` plus what benchmark_model reports at load: wall time to a ready session and the RSS it added.

    The backend library is imported before the clock starts, so the first model does not pay for it.
    The RSS delta is this process's growth: memory an earlier model freed is reused without growing
    it, so a model loaded after another (or a second time) can show ~0. For a clean figure per model,
    load it first in a fresh process (one `edgedistill bench FILE` per file).
    """
    import importlib

    from edge_runtime.runners import load

    path = Path(path)
    model_file = path
    if path.is_dir() and (path / "manifest.json").is_file():
        from edge_runtime.bundle import Bundle

        model_file = Bundle.open(path, verify=False).model_path(precision, fmt)
    backend = {".onnx": "onnxruntime", ".tflite": "ai_edge_litert.interpreter", ".mlpackage": "coremltools",
               ".pte": "executorch.runtime"}.get(model_file.suffix)
    if backend:
        try:
            importlib.import_module(backend)
        except ImportError:
            pass   # load() below raises the error that names what to install
    before, t0 = rss_mb(), time.perf_counter()
    runner = load(path, threads, precision, fmt)
    load_ms, delta = (time.perf_counter() - t0) * 1e3, rss_mb() - before
    runner.info = replace(runner.info, load_ms=load_ms, extra={**runner.info.extra, "rss_load_delta_mb": round(delta, 3)})
    return runner


@dataclass
class BenchRun:
    """One `bench_files` run: the config, the machine, the workload and one result per file, as one JSON document."""
    config: BenchConfig
    mode: str
    results: dict[str, BenchResult]
    machine: dict
    baseline: str
    gemm: dict | None = None

    def to_dict(self, with_samples: bool = False) -> dict:
        return {"format": "edgedistill-bench", "version": 1, "config": self.config.to_dict(), "mode": self.mode,
                "device_profile": _profile(self.config.profile), "machine": self.machine, "baseline": self.baseline,
                "gemm": self.gemm, "results": {n: r.to_dict(with_samples) for n, r in self.results.items()},
                "ratios_p50_vs_baseline": {n: r.vs_baseline["p50_ratio"] for n, r in self.results.items()}}


def _profile(name: str | None) -> dict | None:
    from edge_runtime.device import profile_dict

    return profile_dict(name)


def bench_data_lengths(runners: Mapping, bench: Mapping, config: BenchConfig, encode: Callable, texts: Sequence[str]) -> dict:
    """{"fixed" | "median" | "p90": {"tokens", "p50_ms": {runner: p50}}}: the fixed length's p50s (`bench`, timed
    with `config`) beside the p50s at the median and 90th-percentile token counts of `texts` (specials included, as
    `encode` gives them: capped at max_len), each length one more interleaved run of the same runners."""
    from edgecore.longtext import nearest_rank

    counts = np.sort(np.concatenate([encode(texts[i:i + 256])["attention_mask"].sum(1) for i in range(0, len(texts), 256)]))
    out = {"fixed": {"tokens": config.seq_len, "p50_ms": {k: round(r.latency_ms["p50"], 4) for k, r in bench.items()}}}
    for label, tokens in (("median", nearest_rank(counts, 50)), ("p90", nearest_rank(counts, 90))):
        if tokens == config.seq_len:
            out[label] = {**out["fixed"]}
            continue
        run = bench_interleaved(runners, fixed_length_feeds(encode, texts[:40], tokens), replace(config, seq_len=tokens))
        out[label] = {"tokens": tokens, "p50_ms": {k: round(r.latency_ms["p50"], 4) for k, r in run.items()}}
    return out


LENGTH_NAMES = "a token count, median, or pNN (a percentile of the data's token lengths, e.g. p90)"


def resolve_lengths(specs: Sequence[str | int], paths: Sequence[str | Path], texts: Sequence[str] | None = None) -> list[tuple[str, int]]:
    """(label, tokens) per entry of `specs`: a token count stays itself ("64"); "median" or "pNN" is that percentile
    (nearest rank) of the token lengths of `texts` through the first bundle's tokenizer, special tokens included,
    untruncated, then capped at the smallest max_len of the bundles among `paths` (a bundle reads no more), e.g.
    ("median", 172). Lengths as the models read them, so the fixed mode times what the data costs."""
    from edge_runtime.bundle import Bundle
    from edgecore.longtext import nearest_rank

    out, lengths, cap = [], None, None
    for spec in specs:
        text = str(spec).strip().lower()
        if text.isdigit():
            out.append((text, int(text)))
            continue
        pct = 50 if text == "median" else int(text[1:]) if text[:1] == "p" and text[1:].isdigit() and 1 <= int(text[1:]) <= 99 else None
        if pct is None:
            raise ConfigError(f"length {spec!r} is not {LENGTH_NAMES}")
        if lengths is None:
            bundles = [Path(p) for p in paths if (Path(p) / "manifest.json").is_file() or Path(p).suffix == ".zip"]
            if not bundles or not texts:
                raise ConfigError(f"length {spec!r} is measured on data: give --data and at least one bundle (its tokenizer counts the tokens)")
            with Bundle.open(bundles[0], verify=False) as first:
                tok = first.tokenizer()
                tok.no_truncation()
                lengths = np.sort([len(first.template.wrap(e.ids)[0]) for e in tok.encode_batch(list(texts), add_special_tokens=False)])
            caps = []
            for b in bundles:
                with Bundle.open(b, verify=False) as opened:
                    caps.append(opened.max_len)
            cap = min(caps)
        out.append((text, min(cap, nearest_rank(lengths, pct))))
    return out


def bench_files(paths: Sequence[str | Path], config: BenchConfig = BenchConfig(), mode: str = "fixed",
                texts: Sequence[str] | None = None, floors: bool = False, baseline: str | None = None) -> BenchRun:
    """Load each model file or bundle (timing the load), build its feeds, time them all interleaved.

    mode "fixed": (batch, seq_len) real tokens from `texts` (default: a built-in passage) through the
    bundle's tokenizer, or random ids for a bare model file (it carries no tokenizer). "sentences" and
    "end-to-end" need bundles and `texts`. With `floors`, each ONNX model also gets its FLOP floor at
    (batch, seq_len) from this machine's measured GEMM rates (fixed mode only: the floor needs one shape).

    >>> run = bench_files(["runs/demo/bundle", "runs/demo/artifacts/teacher.int8.onnx"], BenchConfig(profile="little"))  # doctest: +SKIP
    >>> run.to_dict()["ratios_p50_vs_baseline"]                                                                         # doctest: +SKIP
    """
    from edge_runtime.bundle import Bundle
    from edge_runtime.device import machine_info

    if mode not in WORKLOAD_KINDS:
        raise ConfigError(f"mode {mode!r} is unknown; choose one of {', '.join(WORKLOAD_KINDS)}")
    if not paths:
        raise ConfigError("give at least one model file or bundle to benchmark")
    if mode != "fixed" and not texts:
        raise ConfigError(f"mode {mode!r} times real sentences: pass texts (on the command line, a data set)")
    runners, workloads, model_files = {}, {}, {}
    for path in map(Path, paths):
        name = str(path)
        if name in runners:
            raise ConfigError(f"{name} is listed twice; give each file once")
        runner = load_measured(path, config.threads)
        runners[name] = runner
        model_files[name] = Path(runner.info.path) if runner.info.path else path
        is_bundle = (path / "manifest.json").is_file() if path.is_dir() else path.suffix == ".zip"
        if is_bundle:
            bundle = getattr(runner, "bundle", None) or Bundle.open(path, verify=False)   # a .zip: the runner's extracted copy
            tok = bundle.tokenizer()
            encode = lambda t, b=bundle, tok=tok: b.encode(t, tokenizer=tok)
            if mode == "fixed":
                workloads[name] = fixed_length_feeds(encode, list(texts or [BENCH_TEXT]), config.seq_len, config.batch)
            elif mode == "sentences":
                workloads[name] = sentence_feeds(encode, texts, config.batch)
            elif bundle.long_text.windows:   # a windows bundle: each call tokenizes and runs every window of its texts, as one batch
                workloads[name] = end_to_end(lambda t, b=bundle, tok=tok: b.windows(t, tokenizer=tok)[0], texts, config.batch)
            else:
                workloads[name] = end_to_end(encode, texts, config.batch)
        elif mode != "fixed":
            raise ConfigError(f"{path} is a bare model file: mode {mode!r} needs its tokenizer, so give the bundle folder instead")
        else:
            rng = np.random.default_rng(0)
            ids = rng.integers(1000, 2000, (config.batch, config.seq_len), dtype=np.int64)
            workloads[name] = {"input_ids": ids, "attention_mask": np.ones((config.batch, config.seq_len), np.int64),
                               "token_type_ids": np.zeros((config.batch, config.seq_len), np.int64),
                               # a siamese file's second text (each runner feeds only the inputs its file takes)
                               "pair_input_ids": ids.copy(), "pair_attention_mask": np.ones((config.batch, config.seq_len), np.int64)}
    results = bench_interleaved(runners, workloads, config, baseline)
    gemm = None
    if floors:
        if mode != "fixed":
            raise ConfigError("floors need one input shape: use mode 'fixed' (batch, seq_len)")
        from edge_runtime.flops import count_macs, floor, measure_gemm_rates

        rates = measure_gemm_rates()
        gemm = rates.to_dict()
        for name, r in results.items():
            try:
                macs = count_macs(model_files[name], config.seq_len, config.batch)
            except ConfigError as e:
                r.floor = {"error": str(e)}
                continue
            r.floor = floor(macs, rates, r.latency_ms["p50"], config.threads)
    return BenchRun(config, mode, results, machine_info(), baseline or next(iter(runners)), gemm)
