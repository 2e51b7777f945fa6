"""The Python API: one verb per job, each taking one frozen config and returning a result object.

    finetune_teacher(FinetuneConfig) -> TeacherResult
    distill(DistillConfig)           -> DistillResult
    export_checkpoint(ExportConfig)  -> ExportResult
    bench(BenchConfig)               -> BenchReport
    parity(ParityConfig)             -> ParityResult

A config is checked when it is built, before any model loads, and its errors name the config field
(the CLI's flags carry the same names: `--stage1-lr` is `stage1_lr`). Paths may be given as str or Path.
The CLI only parses flags into these configs and prints the results.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from edgecore import ConfigError, OutputExistsError, ParityError, UnsupportedError
from edgecore.formats import ALL_PRECISIONS, EXPORT_FORMATS, check_precisions
from edgedistill._data import Columns, supported_task

STUDENTS = ("bilstm", "gru", "transformer", "static", "cnn")
LOSSES = ("mse", "kl", "ce")
POOLINGS = ("max", "mean", "last", "attention")
METHODS = ("distilbert", "tinybert")
RECURRENT_ROUTES = ("while", "stock", "fused", "loop")
BENCH_MODES = ("fixed", "sentences", "end-to-end")
DEVICE_PROFILES = ("little", "big")
ARCHES = ("x86", "arm64")                        # edge_runtime.arm64.ARCHES
ARM64_CPUS = ("cortex-a53", "cortex-a76", "max-nosme", "max")   # edge_runtime.arm64.CPUS (tests/edge_runtime/test_arm64.py keeps them equal)


def _paths(config, *names: str) -> None:
    """Coerce the named fields of a frozen config to Path (callers may pass str)."""
    for name in names:
        value = getattr(config, name)
        if value is not None and not isinstance(value, Path):
            object.__setattr__(config, name, Path(value))


def _positive(config, names, allow_zero=()) -> None:
    """Range-check the named numeric fields that are set: NaN, inf, bool, a fraction where a whole number is meant, and
    values outside edgecore.limits.LIMITS (or <= 0, or < 0 for `allow_zero`, for a field without a limit) are refused,
    naming the field and the range that would work."""
    from edgecore.limits import LIMITS, Limit, check_number

    types = {f.name: str(f.type) for f in fields(config)}
    for name in names:
        value = getattr(config, name)
        if value is None:
            continue
        integer = types.get(name, "").split("|")[0].strip() == "int"
        limit = LIMITS.get(name) or Limit(0, math.inf, low_open=name not in allow_zero)
        if name in allow_zero and limit.low_open:
            limit = Limit(limit.low, limit.high)
        check_number(name, value, integer, limit)


def _choice(name: str, value, choices) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{name} {value!r} is not one of {', '.join(map(str, choices))}")


def _refuse_overlap(out: Path, inputs: dict[str, Path | None]) -> None:
    """An output folder must not equal, contain or sit inside any input: a --force run would destroy the input."""
    target = out.resolve()
    for name, path in inputs.items():
        if path is None or not Path(path).exists():
            continue
        src = Path(path).resolve()
        if target == src or src.is_relative_to(target) or target.is_relative_to(src):
            raise ConfigError(f"out {out} overlaps the {name} {path}; write to a folder outside it (and not containing it)")


def _data_path(data: str) -> Path | None:
    """The file or folder behind a data argument, None for a built-in name."""
    p = Path(data)
    return p if p.exists() else None


def _to_dict(obj) -> dict:
    return {f.name: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else asdict(v) if isinstance(v, Columns) else v)
            for f in fields(obj) for v in [getattr(obj, f.name)]}


# --------------------------------------------------------------------------------------------- teacher

@dataclass(frozen=True, kw_only=True)
class FinetuneConfig:
    """Fine-tune a teacher classifier on a data set (cached by a hash of base weights, data and settings)."""
    out: Path
    data: str = "movie-snippets"      # built-in name, or a CSV/TSV/JSON Lines/JSON/Parquet file or datasets folder
    columns: Columns = Columns()      # which columns hold text / pair / label (None: recognised by name)
    base: str = "minilm-l6"           # built-in base name or a Hugging Face model folder
    epochs: float = 2.0
    lr: float = 1e-4
    batch_size: int = 32
    max_len: int | str = 64           # tokens per text, or "auto": the 95th percentile of the training texts' (docs/long-documents.md)
    peft: str = "full"                # full | freeze:K | bitfit | adapter:R
    truncation: str | None = None     # head | tail | head_tail; None: the tokenizer's own (head)
    head: int | None = None           # head_tail: content tokens kept from the start (None: a quarter)
    force: bool = False

    def __post_init__(self) -> None:
        _paths(self, "out")
        if self.max_len != "auto":
            _positive(self, ("max_len",))
        _positive(self, ("epochs", "lr", "batch_size"))
        from edgecore.longtext import Truncation

        if self.truncation is not None or self.head is not None:
            Truncation(self.truncation or "head", self.head)
        if not isinstance(self.force, bool):
            raise ConfigError(f"force must be True or False (got {self.force!r})")

    def to_dict(self) -> dict:
        return _to_dict(self)


@dataclass(frozen=True)
class TeacherResult:
    path: Path          # where the fine-tuned teacher was written
    metrics: dict       # dev/test accuracy, steps, seconds, trainable parameters

    def to_dict(self) -> dict:
        return {"path": str(self.path), **self.metrics}


def finetune_teacher(config: FinetuneConfig, console=None) -> TeacherResult:
    """Fine-tune (or take from the cache) a teacher and copy it to `config.out`; runs under torchrun too.

    >>> r = finetune_teacher(FinetuneConfig(data="my.csv", out="runs/teacher"))  # doctest: +SKIP
    >>> r.metrics["test_accuracy"]                                                # doctest: +SKIP
    """
    import shutil

    from distill import TeacherConfig
    from distill import finetune_teacher as _finetune
    from distill.distributed import init_distributed
    from edgecore import atomic_dir, check_writable, prepare_output_dir

    _refuse_overlap(config.out, {"data": _data_path(config.data), "base": _data_path(config.base)})
    if config.out.exists() and not config.force:
        prepare_output_dir(config.out, config.force)
    check_writable(config.out)
    dataset = supported_task(config.columns.load(config.data), "teacher finetune")
    max_len = config.max_len
    if max_len == "auto":   # from the training texts, with the base's tokenizer (distill.text.auto_max_len)
        from distill.teacher import resolve_base
        from distill.text import auto_max_len

        chosen = auto_max_len(resolve_base(config.base), dataset.train.inputs)
        max_len = chosen["max_len"]
        if console is not None:
            console.print(f"max_len auto: {max_len} (95th percentile of {chosen['texts']} training texts: {chosen['percentile_tokens']} "
                          f"tokens, median {chosen['median_tokens']}; position limit {chosen['limit']})")
    teacher_cfg = TeacherConfig(base=config.base, epochs=config.epochs, lr=config.lr, batch_size=config.batch_size,
                                max_len=max_len, peft=config.peft, truncation=config.truncation, head=config.head)
    ctx = init_distributed()
    teacher = _finetune(dataset, teacher_cfg)
    if ctx.is_main:
        with atomic_dir(config.out, force=True) as tmp:
            shutil.copytree(teacher.path, tmp, dirs_exist_ok=True)
    return TeacherResult(config.out, dict(teacher.metrics))


# --------------------------------------------------------------------------------------------- distill

@dataclass(frozen=True, kw_only=True)
class DistillConfig:
    """Distil one student from a fine-tuned teacher. `None` means the student kind's default."""
    teacher: Path
    out: Path
    student: str = "bilstm"                 # bilstm | gru | transformer | static (model2vec-style) | cnn (Kim 2014)
    data: str = "movie-snippets"
    columns: Columns = Columns()            # which columns of `data` hold text / pair / label
    # what the student learns from
    loss: str = "mse"                       # bilstm/gru: mse (logits) | kl (soft targets) | ce (labels only)
    temperature: float | None = None        # None: 1 for bilstm/gru, 2 for transformer
    alpha: float = 1.0                      # weight of the distillation term
    augment: int = 0                        # teacher-labelled augmented variants per training sentence
    unlabelled: tuple[str, ...] = ()        # extra text (built-in names or CSV paths) labelled by the teacher
    assistant: Path | None = None           # bilstm/gru/static/cnn: a teacher assistant (e.g. a distilled Transformer student folder)
    assistant_weight: float = 1.0           # whose logits the student learns: weight x assistant's + (1 - weight) x teacher's
    # shape
    hidden: int | None = None               # None: 256 for bilstm/gru and static's head, 128 filters per width for cnn; the teacher's width for transformer
    layers: int | None = None               # None: 1 for bilstm/gru and static (its head's ReLU layers, 1..2), 3 for transformer
    pooling: str = "max"                    # bilstm/gru; static: max = [mean; max], mean = mean only; cnn: max only
    embed_dim: int | None = None            # bilstm/gru/cnn: PCA of the teacher's embeddings to this width (None: the teacher's);
                                            # static: PCA width of its teacher-derived table (None: 128, or the teacher's if narrower)
    freeze_embeddings: bool = False         # bilstm/gru/static/cnn
    prune_vocab: bool = True                # keep only tokens seen in the transfer text
    min_count: int = 1                      # bilstm/gru: tokens seen fewer times read as the unknown token
    matches: str | None = None              # transformer: preset (distilbert, tinybert, tinybert-hidden, none) or .json/.yaml
    method: str | None = None               # transformer: distilbert | tinybert (None: by width)
    intermediate: int | None = None         # transformer: feed-forward width (None: 4 x hidden)
    # training
    epochs: int | None = None               # None: 12 for bilstm/gru, 3 for transformer
    lr: float | None = None                 # None: 1e-3 for bilstm/gru, 1e-4 for transformer (tinybert: its last stage)
    stage1_epochs: int | None = None        # transformer, tinybert: the layer-match stage (None: 3)
    stage1_lr: float | None = None          # transformer, tinybert: the layer-match stage (None: 5e-4)
    bf16: bool = False                      # bfloat16 autocast for training; weights and evaluation stay fp32
    seed: int = 0
    force: bool = False

    def __post_init__(self) -> None:
        """Checked before the teacher loads: a bad option fails in a second, not after minutes of work."""
        _paths(self, "teacher", "out", "assistant")
        if isinstance(self.unlabelled, str):
            object.__setattr__(self, "unlabelled", tuple(u for u in self.unlabelled.split(",") if u))
        _choice("student", self.student, STUDENTS)
        _choice("loss", self.loss, LOSSES)
        _choice("pooling", self.pooling, POOLINGS)
        if self.method is not None:
            _choice("method", self.method, METHODS)
        _positive(self, ("epochs", "hidden", "layers", "temperature", "embed_dim", "min_count", "intermediate", "lr",
                         "stage1_epochs", "stage1_lr"))
        _positive(self, ("alpha", "augment", "seed", "assistant_weight"), allow_zero=("alpha", "augment", "seed", "assistant_weight"))
        self._check_assistant()
        for name in ("freeze_embeddings", "prune_vocab", "bf16", "force"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False (got {getattr(self, name)!r})")
        if self.intermediate is not None and self.student != "transformer":
            raise UnsupportedError(f"intermediate sets a transformer student's feed-forward width; a {self.student} has none (drop it)")
        for name in ("matches", "method"):
            if getattr(self, name) is not None and self.student != "transformer":
                raise UnsupportedError(f"{name} configures a transformer student; a {self.student} has no layers to match (drop it)")
        if self.student == "static" and (self.pooling not in ("max", "mean") or (self.layers is not None and self.layers > 2)):
            raise UnsupportedError(f"a static student pools with max ([mean; max]) or mean and has 1 or 2 head layers "
                                   f"(got pooling {self.pooling}, layers {self.layers})")
        if self.student == "cnn" and (self.pooling != "max" or self.layers is not None):
            raise UnsupportedError(f"a cnn student has one convolution layer and max-over-time pooling; drop "
                                   f"{'--layers' if self.layers is not None else f'--pooling {self.pooling}'}")
        stage1 = self.stage1_options()
        if stage1 and self.student != "transformer":
            raise UnsupportedError(f"{' and '.join(stage1)} set the first stage of a TinyBERT-style transformer student; "
                                   f"a {self.student} trains in one (drop it)")

    def _check_assistant(self) -> None:
        if self.assistant is None:
            if self.assistant_weight != 1.0:
                raise ConfigError("assistant_weight mixes a teacher assistant's logits with the teacher's; give assistant too (or drop it)")
            return
        if self.student == "transformer":
            raise UnsupportedError("a teacher assistant serves the token-id students (bilstm, gru, static, cnn); a transformer student "
                                   "learns from the teacher itself (drop assistant)")
        if self.loss == "ce":
            raise UnsupportedError("loss ce is the label-only control and reads no logits, so a teacher assistant has nothing to give it; "
                                   "use loss mse or kl with assistant")

    def stage1_options(self) -> list[str]:
        """The TinyBERT first-stage options that were given."""
        return [n for n in ("stage1_epochs", "stage1_lr") if getattr(self, n) is not None]

    def to_dict(self) -> dict:
        return _to_dict(self)


@dataclass(frozen=True)
class DistillResult:
    path: Path          # the student checkpoint folder
    metrics: dict       # test/dev accuracy, parameters, transfer-set size, seconds

    def to_dict(self) -> dict:
        return {"path": str(self.path), **self.metrics}


def distill(config: DistillConfig, console=None) -> DistillResult:
    """Distil a student (BiLSTM/GRU, static or CNN on the teacher's cached logits, or a Transformer) and save it to `config.out`.

    Runs alone or under `torchrun --nproc_per_node N` (rank 0 writes).

    >>> r = distill(DistillConfig(teacher="runs/teacher", data="my.csv", out="runs/student", student="gru"))  # doctest: +SKIP
    >>> r.metrics["test_accuracy"], r.path                                                                   # doctest: +SKIP
    """
    from edgecore import check_writable, prepare_output_dir
    from edgedistill._distill import run_distill

    _refuse_overlap(config.out, {"teacher": config.teacher, "assistant": config.assistant, "data": _data_path(config.data),
                                 **{f"unlabelled {u}": _data_path(u) for u in config.unlabelled}})
    if config.out.exists() and not config.force:
        prepare_output_dir(config.out, config.force)
    check_writable(config.out)
    from distill.distributed import init_distributed

    init_distributed()
    return DistillResult(config.out, run_distill(config, console))


# --------------------------------------------------------------------------------------------- export

@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    """Convert a checkpoint into a validated phone bundle."""
    checkpoint: Path                              # a student folder from distill, or a Hugging Face classifier folder
    out: Path                                     # the bundle folder
    formats: tuple[str, ...] = ("onnx",)
    precisions: tuple[str, ...] = ("fp32", "int8")
    data: str = "movie-snippets"                  # sentences parity is measured on (its test split)
    calibration: str | None = None                # int8-static / SmoothQuant calibration data (None: data)
    columns: Columns = Columns()                  # which columns of `data` (and `calibration`) hold text / pair / label
    validate: int | None = None                   # parity on the first N test sentences (None: the whole test split)
    zip: bool = False                             # also write BUNDLE.zip
    force: bool = False
    buckets: tuple[int, ...] | None = None        # TFLite signatures / ExecuTorch methods of a recurrent student, one per
                                                  # length; None: 16, 32, 64, ... up to the checkpoint's max_len
    recurrent: str = "while"                      # TFLite lowering of LSTM/GRU: while | stock | fused | loop
    keep_fp32: tuple[str, ...] = ()               # ONNX int8: node-name fragments kept fp32 ("sensitive": a BERT's FFN blocks 1-3)
    smooth: float | str | None = None             # ONNX int8 SmoothQuant: "auto", "off" or an alpha in (0, 1);
                                                  # None: auto for Transformers, off for BiLSTM/GRU
    nbits: tuple[str, ...] | None = None          # ONNX int8: node-name fragments made 8-bit MatMulNBits ("sensitive", "off");
                                                  # None: "sensitive" for BERT-named Transformers, none otherwise
    long_text: str = "truncate"                   # documents longer than the model: truncate | windows (manifest task.long_text)
    stride: int | None = None                     # windows: content tokens between window starts (None: half a window)
    aggregate: str = "mean"                       # windows: mean (of logits) | max (the most confident window)
    max_windows: int = 16                         # windows: at most this many per document (evenly spaced, first and last kept)
    text_input: bool = False                      # also a string-input ONNX per shipped ONNX file (onnxruntime-extensions tokenizer op)
    mediapipe: bool = False                       # also an fp32 .tflite with MediaPipe Tasks TextClassifier metadata

    def __post_init__(self) -> None:
        _paths(self, "checkpoint", "out")
        from edgecore.longtext import LongText

        LongText(self.long_text, self.stride, self.aggregate, self.max_windows)   # a bad policy fails here
        for name in ("formats", "precisions", "keep_fp32", "buckets", "nbits"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = tuple(v.strip() for v in value.split(",") if v.strip())
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        if not self.formats:
            raise ConfigError(f"formats is empty; choose from {', '.join(EXPORT_FORMATS)}")
        if not self.precisions:
            raise ConfigError(f"precisions is empty; choose from {', '.join(ALL_PRECISIONS)}")
        for fmt in self.formats:
            check_precisions(fmt, self.precisions)
        _choice("recurrent", self.recurrent, RECURRENT_ROUTES)
        if self.buckets is None or self.buckets == ("auto",):
            object.__setattr__(self, "buckets", None)
        else:
            self._check_buckets()
        _check_validate(self.validate)
        if self.text_input and "onnx" not in self.formats:
            raise ConfigError("text_input (--text-input) wraps the ONNX files; add onnx to formats")
        for name in ("zip", "force", "text_input", "mediapipe"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False (got {getattr(self, name)!r})")
        smooth = self.smooth
        if isinstance(smooth, str) and smooth not in ("auto", "off"):
            try:
                smooth = float(smooth)
            except ValueError:
                smooth = -1.0
        if not (smooth is None or smooth in ("auto", "off") or (isinstance(smooth, float) and 0.0 < smooth < 1.0)):
            raise ConfigError(f"smooth {self.smooth!r} must be auto, off or an alpha in (0, 1), e.g. 0.8")
        object.__setattr__(self, "smooth", smooth)

    def _check_buckets(self) -> None:
        from edgecore.limits import LIMITS

        try:
            buckets = tuple(int(b) for b in self.buckets)
        except (TypeError, ValueError):
            raise ConfigError(f"buckets {self.buckets!r} must be token counts, e.g. 16,32,64,128, or auto") from None
        high = int(LIMITS["buckets"].high)
        if not buckets or any(isinstance(b, bool) or b < 2 or b > high for b in buckets) or buckets != self.buckets:
            raise ConfigError(f"buckets {self.buckets!r} must be whole token counts from 2 to {high}, e.g. 16,32,64,128, or auto")

    def to_dict(self) -> dict:
        return _to_dict(self)


@dataclass(frozen=True)
class ExportResult:
    path: Path | None          # the bundle folder (None: no file passed parity, nothing was written)
    rows: list[dict]           # one per (format, precision): size, agreement, max |logit diff|, accuracy, passed, failures
    sentences: int             # test sentences parity was measured on

    @property
    def passed(self) -> bool:
        return all(r["passed"] for r in self.rows)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if not r["passed"]]

    def check(self) -> ExportResult:
        """Raise ParityError naming every file that could not be converted or broke its tolerance (left out of the bundle)."""
        if self.failed:
            names = ", ".join(f"{r['format']}/{r['precision']}" for r in self.failed)
            why = "; ".join(f"{r['format']}/{r['precision']}: {r['failures'][0]}" for r in self.failed)
            what = "could not be converted or failed parity" if any(r["size_bytes"] is None for r in self.failed) else "failed parity"
            raise ParityError(f"{names} {what} and {'were' if len(self.failed) > 1 else 'was'} left out of the bundle ({why})")
        return self

    def to_dict(self) -> dict:
        return {"bundle": str(self.path) if self.path else None, "sentences": self.sentences, "passed": self.passed, "rows": self.rows}


def export_checkpoint(config: ExportConfig, console=None) -> ExportResult:
    """Checkpoint -> every requested (format, precision) -> parity against PyTorch on real sentences -> bundle.

    Files that break their tolerance are left out of the bundle and reported in `rows`; `check()` raises for them.

    >>> r = export_checkpoint(ExportConfig(checkpoint="runs/student", out="runs/bundle", data="my.csv"))  # doctest: +SKIP
    >>> r.check().path                                                                                    # doctest: +SKIP
    """
    from edgedistill._export import export

    inputs = {"checkpoint": config.checkpoint, "data": _data_path(config.data)}
    if config.calibration:
        inputs["calibration data"] = _data_path(config.calibration)
    _refuse_overlap(config.out, inputs)
    if config.out.exists() and not config.force:
        raise OutputExistsError(f"{config.out} already exists; set force (--force) to replace it, or choose another out")
    return ExportResult(*export(config, console))


# --------------------------------------------------------------------------------------------- bench

@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    """Time model files or bundles (interleaved when several) the way the platform benchmark tools do."""
    models: tuple[Path, ...]
    runs: int = 100
    warmup: int = 10
    threads: int = 1
    batch: int = 1
    seq_len: int = 64
    mode: str = "fixed"                    # fixed | sentences | end-to-end
    data: str | None = None                # test sentences for the sentences / end-to-end modes
    columns: Columns = Columns()           # which columns of `data` hold text / pair / label
    profile: str | None = None             # little | big: an approximation of a phone's cores
    cpus: tuple[int, ...] | None = None    # pin to these cores
    min_seconds: float = 0.0               # keep timing until this long has passed
    max_seconds: float = 0.0               # stop timing after this long (0: no cap)
    floors: bool = False                   # each latency as a multiple of its FLOP floor on this machine
    device: str | None = None              # adb or adb:SERIAL: time it on an Android phone
    lengths: tuple[str, ...] = ()          # fixed mode at each: token counts, "median", "pNN" of `data`'s token lengths

    def __post_init__(self) -> None:
        if isinstance(self.lengths, (str, int)):
            object.__setattr__(self, "lengths", tuple(x.strip() for x in str(self.lengths).split(",") if x.strip()))
        object.__setattr__(self, "lengths", tuple(str(x).strip().lower() for x in self.lengths))
        if self.lengths:
            from edgecore.limits import LIMITS

            for x in self.lengths:
                if not (x.isdigit() and LIMITS["seq_len"].low <= int(x) <= LIMITS["seq_len"].high or x == "median"
                        or (x[:1] == "p" and x[1:].isdigit() and 1 <= int(x[1:]) <= 99)):
                    raise ConfigError(f"lengths entry {x!r} must be a token count from {LIMITS['seq_len'].low:.0f} to "
                                      f"{LIMITS['seq_len'].high:.0f}, median or pNN (e.g. 64,median,p90)")
            if self.mode != "fixed":
                raise ConfigError(f"lengths time the fixed mode at several lengths; leave mode at fixed (got {self.mode!r})")
            if self.device is not None:
                raise UnsupportedError("lengths are timed on this machine; drop device, or time one length with seq_len")
            if self.data is None and any(not x.isdigit() for x in self.lengths):
                raise ConfigError("lengths median / pNN are measured on data: add data (--data), e.g. imdb")
        if isinstance(self.models, (str, Path)):
            object.__setattr__(self, "models", (self.models,))
        object.__setattr__(self, "models", tuple(Path(m) for m in self.models))
        if not self.models:
            raise ConfigError("models is empty; give at least one model file or bundle")
        _positive(self, ("runs", "threads", "batch", "seq_len"))
        _positive(self, ("warmup", "min_seconds", "max_seconds"), allow_zero=("warmup", "min_seconds", "max_seconds"))
        if self.max_seconds and self.max_seconds < self.min_seconds:
            raise ConfigError(f"max_seconds {self.max_seconds} is below min_seconds {self.min_seconds}; "
                              f"raise max_seconds, or set it to 0 (no cap)")
        _choice("mode", self.mode, BENCH_MODES)
        if self.profile is not None:
            _choice("profile", self.profile, DEVICE_PROFILES)
        if self.device is not None and (len(self.models) != 1 or self.batch != 1):
            raise UnsupportedError("device times one bundle at batch 1; give one bundle folder and leave batch at 1")

    def timing(self):
        """The edge_runtime timing settings these fields describe."""
        from edge_runtime import BenchConfig as Timing

        return Timing(warmup=self.warmup, runs=self.runs, threads=self.threads, batch=self.batch, seq_len=self.seq_len,
                      cpus=self.cpus, profile=self.profile, min_seconds=self.min_seconds, max_seconds=self.max_seconds)

    def to_dict(self) -> dict:
        return _to_dict(self)


@dataclass(frozen=True)
class BenchReport:
    payload: dict                          # the JSON document `--json` writes (config, machine, results, ratios)

    @property
    def results(self) -> dict[str, dict]:
        """Per model: latency_ms {p50, p90, p99, ...}, throughput, load time, ratio to the first model."""
        return self.payload["results"]

    def p50(self, model: str | Path | None = None) -> float:
        """The p50 latency in ms of `model` (default: the first)."""
        key = str(model) if model is not None else next(iter(self.results))
        return self.results[key]["latency_ms"]["p50"]

    def to_dict(self) -> dict:
        return self.payload


def bench(config: BenchConfig, console=None) -> BenchReport:
    """Latency at batch 1 (or `batch`): warm-up, timed runs, percentiles, ratios to the first model.

    >>> r = bench(BenchConfig(models=("runs/bundle",), runs=200))  # doctest: +SKIP
    >>> r.p50()                                                   # doctest: +SKIP
    """
    if config.device is not None:
        from edge_runtime.adb import bench_on_device, parse_device

        result = bench_on_device(config.models[0], serial=parse_device(config.device), runs=config.runs, warmup=config.warmup,
                                 threads=config.threads, seq_len=config.seq_len)
        if console is not None:
            lat = result.latency_ms
            console.print(f"{result.name}: p50 {lat['p50']:.3f} ms, p90 {lat['p90']:.3f} ms, p99 {lat['p99']:.3f} ms, "
                          f"{result.throughput_per_s:.0f}/s ({result.runs} runs, {config.threads} thread(s), seq {config.seq_len}, "
                          f"load {result.info.get('load_ms') or 0:.0f} ms)")
        return BenchReport({"config": result.config, "results": {str(config.models[0]): result.to_dict(with_samples=True)}})
    from edge_runtime.benchmark import bench_files
    from edge_runtime.report import bench_rich_table

    texts = None
    if config.data is not None:
        texts = config.columns.load(config.data).test.inputs   # sentence pairs as (text, text_pair)
    if config.lengths:
        return _bench_lengths(config, texts, console)
    run = bench_files(list(config.models), config.timing(), config.mode, texts, config.floors).to_dict()
    if console is not None:
        console.print(bench_rich_table(run))
    return BenchReport(run)


def _bench_lengths(config: BenchConfig, texts, console) -> BenchReport:
    """One interleaved fixed-mode run per length; the report is the first length's run plus `by_length` (each run's
    results) and `lengths` (label -> tokens)."""
    from dataclasses import replace

    from edge_runtime.benchmark import bench_files, resolve_lengths
    from edge_runtime.report import bench_lengths_table, bench_rich_table

    lengths = resolve_lengths(config.lengths, config.models, [t for t in texts if isinstance(t, str)] if texts else None)
    runs = {}
    for label, tokens in lengths:
        run = bench_files(list(config.models), replace(config.timing(), seq_len=tokens), "fixed", texts, config.floors).to_dict()
        runs[label] = run
        if console is not None:
            console.print(bench_rich_table(run))
    payload = {**runs[lengths[0][0]], "lengths": dict(lengths),
               "by_length": {label: {"seq_len": tokens, "results": runs[label]["results"], "ratios_p50_vs_baseline": runs[label]["ratios_p50_vs_baseline"]}
                             for label, tokens in lengths}}
    if console is not None:
        console.print(bench_lengths_table(payload))
    return BenchReport(payload)


# --------------------------------------------------------------------------------------------- parity

def _check_validate(validate) -> None:
    """`validate` (ExportConfig, ParityConfig): None, or a whole number of test sentences in edgecore.limits' range."""
    from edgecore.limits import LIMITS

    if validate is not None and (isinstance(validate, bool) or not isinstance(validate, int) or validate < 1
                                 or validate > LIMITS["validate"].high):
        raise ConfigError(f"validate must be a positive number of test sentences, at most {LIMITS['validate'].high:,.0f} "
                          f"(got {validate!r}); leave it out to use the whole test split")


@dataclass(frozen=True, kw_only=True)
class ParityConfig:
    """Check every model of a bundle on a test split against the teacher (and against its source checkpoint)."""
    bundle: Path                 # bundle folder or zip
    teacher: Path                # teacher folder, or a .npy of teacher logits for the test split
    data: str = "movie-snippets"
    columns: Columns = Columns()  # which columns of `data` hold text / pair / label
    source: Path | None = None   # the checkpoint the bundle came from: adds logit drift and the tolerance check
    arch: str = "x86"            # x86 (this machine) | arm64: the ARM64 runtimes under qemu, each file also compared with x86
    arm64_cpu: str = "cortex-a76"   # the emulated core (cortex-a53 | cortex-a76 | max-nosme | max) whose kernels the ARM64 run picks
    validate: int | None = None  # check the first N test sentences only (None: the whole test split)

    def __post_init__(self) -> None:
        _paths(self, "bundle", "teacher", "source")
        _choice("arch", self.arch, ARCHES)
        _choice("arm64_cpu", self.arm64_cpu, ARM64_CPUS)
        _check_validate(self.validate)

    def to_dict(self) -> dict:
        return _to_dict(self)


@dataclass(frozen=True)
class ParityResult:
    bundle: Path
    data: str
    sentences: int
    models: dict[str, dict]      # per bundle file: agreement_with_teacher, accuracy, flips, drift vs source, passed, failures
    teacher_reads: str = "its own cut"   # "windows": a windows bundle's teacher (and source) read the same windows

    @property
    def passed(self) -> bool:
        """Every file within its tolerance (checked only when a source was given; otherwise True)."""
        return all(m["passed"] for m in self.models.values())

    def check(self) -> ParityResult:
        """Raise ParityError naming every file that broke its tolerance."""
        bad = {name: m for name, m in self.models.items() if not m["passed"]}
        if bad:
            raise ParityError("; ".join(f"{name} fails parity: {', '.join(m['failures'])}" for name, m in bad.items()))
        return self

    def to_dict(self) -> dict:
        return {"bundle": str(self.bundle), "data": self.data, "sentences": self.sentences, "passed": self.passed,
                "teacher_reads": self.teacher_reads, "models": self.models}


def parity(config: ParityConfig, console=None) -> ParityResult:
    """Agreement with the teacher, accuracy and flips of every model in a bundle on the data's test split.

    >>> r = parity(ParityConfig(bundle="runs/bundle", teacher="runs/teacher", source="runs/student"))  # doctest: +SKIP
    >>> r.passed                                                                                      # doctest: +SKIP
    """
    from edgedistill._export import bundle_parity

    if config.arch == "arm64":   # before the teacher loads: a missing environment is one line naming `make arm64-env`
        from edge_runtime.arm64 import Arm64Env

        Arm64Env.default().check()
    out = bundle_parity(config.bundle, config.teacher, config.data, config.source, console, config.columns,
                        arch=config.arch, arm64_cpu=config.arm64_cpu, limit=config.validate)
    return ParityResult(Path(out["bundle"]), out["data"], out["sentences"], out["models"], out["teacher_reads"])


__all__ = ["BenchConfig", "BenchReport", "Columns", "DistillConfig", "DistillResult", "ExportConfig", "ExportResult", "FinetuneConfig",
           "ParityConfig", "ParityResult", "TeacherResult", "bench", "distill", "export_checkpoint", "finetune_teacher", "parity"]
