"""The teacher: fine-tune a Hugging Face encoder for classification, cache it, and cache its logits.

Both caches are keyed by content hashes, so a second run with the same base weights, data and
settings reuses them, and any change (a new base, other data, another tokenizer) misses the cache.
Under torchrun the teacher fine-tunes data parallel (distill.parallel.train_classifier) and the logit
cache is filled in shards (`sharded_teacher_logits`): each rank computes the logits of its slice of
the texts, the slices are all-gathered, and the full array goes to the same cache entry
`cached_teacher_logits` uses.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from distill.data import TextDataset
from distill.distributed import DistContext, all_reduce_sum, barrier, current, shard_range
from distill.parallel import sharded_accuracy, train_classifier
from distill.text import Encoder
from edgecore import CheckpointError, ConfigError, atomic_dir, atomic_write, cache_dir, cache_lock, sha256_file
from edgecore.progress import bar


@dataclass(frozen=True)
class TeacherConfig:
    """Fine-tuning of the teacher. The defaults reach ~85% on the built-in movie data (measured on MiniLM-L6:
    85.2% on 2,000 held-out sentences after ~450 steps of batch 32 on 5k training sentences)."""

    base: str = "minilm-l6"
    max_len: int = 64
    batch_size: int = 32
    lr: float = 1e-4
    epochs: float = 2.0
    max_steps: int | None = None
    warmup: float = 0.06
    weight_decay: float = 0.01
    bucket: int = 50          # length-bucketed batches (see distill.trainer.length_bucketed); 0 = plain shuffle
    seed: int = 0
    peft: str = "full"        # which parameters train: full | freeze:K | bitfit | adapter:R (distill.peft)
    truncation: str | None = None   # head | tail | head_tail (edgecore.longtext); None: the tokenizer's own (head)
    head: int | None = None         # head_tail: content tokens kept from the start (None: a quarter)

    def __post_init__(self) -> None:
        if not 8 <= self.max_len <= 512:
            raise ConfigError(f"max_len must be in 8..512 (got {self.max_len}); 64 suits sentences")
        if self.batch_size < 1 or self.lr <= 0 or self.epochs <= 0:
            raise ConfigError(f"batch_size, lr and epochs must be positive (got {self.batch_size}, {self.lr}, {self.epochs})")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1 or None (got {self.max_steps})")
        from distill.peft import PeftConfig

        object.__setattr__(self, "peft", PeftConfig.parse(self.peft).spec)   # normalised; a bad spec fails here
        self.truncation_policy()   # a bad strategy or head fails here

    def truncation_policy(self):
        """The edgecore.longtext.Truncation these settings name, None for the tokenizer's own."""
        from edgecore.longtext import Truncation

        return None if self.truncation is None and self.head is None else Truncation(self.truncation or "head", self.head)

    def key_fields(self) -> dict:
        """The settings that name a cache entry. `peft` enters only when it is not full, so teachers
        cached before PEFT existed keep their keys."""
        fields = asdict(self)
        if fields["peft"] == "full":
            del fields["peft"]
        for name in ("truncation", "head"):   # likewise: keys of teachers cached before truncation strategies stay
            if fields[name] is None:
                del fields[name]
        return fields


@dataclass
class Teacher:
    """A fine-tuned classifier with its tokenizer, where it lives, and what it scored."""

    model: torch.nn.Module
    encoder: Encoder
    path: Path
    label_names: tuple[str, ...]
    metrics: dict

    def logits(self, texts: list[str], batch_size: int = 64, description: str = "teacher logits") -> np.ndarray:
        return predict_logits(self.model, self.encoder, texts, batch_size, description)

    @property
    def multi_label(self) -> bool:
        """A multi-label classifier (config.problem_type multi_label_classification): one sigmoid per label."""
        from edgecore.multilabel import MULTI_LABEL

        return getattr(self.model.config, "problem_type", None) == MULTI_LABEL

    @property
    def thresholds(self) -> tuple[float, ...] | None:
        """Per-label decision thresholds of a multi-label teacher (chosen on dev when it was fine-tuned here; else 0.5)."""
        from edgecore.multilabel import DEFAULT_THRESHOLD, check_thresholds

        if not self.multi_label:
            return None
        saved = (self.metrics.get("task") or {}).get("thresholds")
        n = len(self.label_names)
        return check_thresholds(saved, n, f"{self.path}/metrics.json task.thresholds") if saved is not None else (DEFAULT_THRESHOLD,) * n

    def weights_hash(self) -> str:
        return sha256_file(self.path / "model.safetensors")


def resolve_base(base: str) -> Path:
    """A built-in base name (distill.bases: minilm-l6, mpnet-base) or a folder with config.json + model.safetensors."""
    from distill.bases import BASES, base_path

    if base in BASES:
        return base_path(base)
    path = Path(base)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; give a Hugging Face model folder (config.json + model.safetensors) or one of: {', '.join(BASES)}")
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path} has no config.json; give a Hugging Face model folder saved with save_pretrained")
    if not (path / "model.safetensors").is_file():
        raise CheckpointError(f"{path} has no model.safetensors; only safetensors weights are loaded (never pickles): re-save with save_pretrained(safe_serialization=True)")
    return path


def load_classifier(path: str | Path, num_labels: int | None = None, label_names: tuple[str, ...] | None = None,
                    problem_type: str | None = None):
    """Load a Hugging Face sequence classifier from safetensors only. A fresh head is added when asked for
    (`problem_type` multi_label_classification: one sigmoid per label, trained with binary cross-entropy)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from distill.hf_check import check_family, check_weights, read_config
    from distill.peft import register_auto_classes

    register_auto_classes()   # adapter checkpoints (teacher finetune --peft adapter:R) load with their adapters
    path = Path(path)
    check_family(path, read_config(path), classifier=num_labels is None)
    try:
        config = AutoConfig.from_pretrained(path)
    except (ValueError, KeyError, OSError) as e:
        raise CheckpointError(f"{path}/config.json is not a usable Hugging Face config ({str(e).splitlines()[0][:120]}); give a folder saved with save_pretrained") from None
    if num_labels is not None:
        config.num_labels = num_labels
    if label_names:
        config.id2label = dict(enumerate(label_names))
        config.label2id = {n: i for i, n in enumerate(label_names)}
    if problem_type is not None:
        config.problem_type = problem_type
    from safetensors import SafetensorError

    with torch.device("meta"):   # the architecture config.json describes, without memory: its weights' names and shapes
        skeleton = AutoModelForSequenceClassification.from_config(config)
    prefix, name = skeleton.base_model_prefix, type(skeleton).__name__
    if num_labels is not None:   # a fresh head: only the encoder's weights must match
        skeleton = _EncoderWeights(skeleton, f"{prefix}.")
    check_weights(path, skeleton, prefix, name)
    try:
        # a fresh head (num_labels given) replaces whatever head the base has, of any size
        model = AutoModelForSequenceClassification.from_pretrained(path, config=config, use_safetensors=True,
                                                                   ignore_mismatched_sizes=num_labels is not None)
    except (ValueError, KeyError, OSError, RuntimeError, SafetensorError) as e:
        raise CheckpointError(f"could not load a sequence classifier from {path} ({str(e).splitlines()[0][:160]})") from None
    return model.eval()


class _EncoderWeights:
    """A model's state_dict restricted to its encoder (names under `prefix`), for check_weights."""

    def __init__(self, model, prefix: str) -> None:
        self._state = {k: v for k, v in model.state_dict().items() if k.startswith(prefix)}

    def state_dict(self) -> dict:
        return self._state


def teacher_key(base_path: Path, dataset: TextDataset, config: TeacherConfig) -> str:
    h = hashlib.sha256()
    h.update(sha256_file(base_path / "model.safetensors").encode())
    h.update(sha256_file(base_path / "tokenizer.json").encode())
    h.update(dataset.fingerprint().encode())
    h.update(json.dumps(config.key_fields(), sort_keys=True).encode())
    return h.hexdigest()[:20]


def finetune_teacher(dataset: TextDataset, config: TeacherConfig = TeacherConfig(), use_cache: bool = True) -> Teacher:
    """Fine-tune `config.base` on `dataset.train` (dynamic padding); cached by content hash.

    >>> teacher = finetune_teacher(load_dataset("movie-snippets"))  # doctest: +SKIP
    >>> teacher.metrics["test_accuracy"]                             # doctest: +SKIP
    0.86
    """
    ctx = current()   # under torchrun every rank trains its share of each batch; rank 0 writes the cache
    base = resolve_base(config.base)
    from distill.text import check_max_len

    check_max_len(base, config.max_len)   # longer than the model's positions: one line naming the limit
    key = teacher_key(base, dataset, config)
    target = cache_dir("teachers") / key
    if use_cache and not ctx.enabled and (cached := _cached_teacher(target)) is not None:
        return cached
    # Another process building the same entry holds its lock: wait for it, then look again. Under torchrun only rank 0
    # locks (the other ranks cannot take part in its collectives while waiting on a lock): they look once it holds it,
    # and the entry is used only if every rank can load it, so all of them train or none does.
    with cache_lock(target) if ctx.is_main else contextlib.nullcontext():
        barrier(ctx)
        if use_cache:
            cached = _cached_teacher(target)
            if all_reduce_sum([0.0 if cached is not None else 1.0], ctx)[0] == 0:
                return cached
        return _build_teacher(dataset, config, ctx, base, key, target)


def _cached_teacher(target: Path) -> Teacher | None:
    if not (target / "metrics.json").is_file():
        return None
    try:
        return load_teacher(target)
    except CheckpointError:
        return None   # a corrupt cache entry is rebuilt, never used


def _build_teacher(dataset: TextDataset, config: TeacherConfig, ctx: DistContext, base: Path, key: str, target: Path) -> Teacher:
    from distill.peft import apply_peft

    torch.manual_seed(config.seed)
    random.seed(config.seed)
    from edgecore.multilabel import MULTI_LABEL, SINGLE_LABEL

    model = load_classifier(base, len(dataset.label_names), dataset.label_names, MULTI_LABEL if dataset.multi_label else SINGLE_LABEL)
    trainable = apply_peft(model, config.peft)
    encoder = Encoder(base, config.max_len, model=model, truncation=config.truncation_policy())
    summary = train_classifier(model, encoder, dataset, config, ctx)
    metrics = {"train_seconds": summary["seconds"], "base": str(base), "key": key, "config": asdict(config),
               "trainable_parameters": trainable.to_dict(), "world_size": ctx.world_size}
    if dataset.multi_label:   # thresholds chosen on dev, then every split scored with them (each rank the same)
        metrics.update(multi_label_metrics(model, encoder, dataset))
    for split in ("dev", "test") if not dataset.multi_label else ():
        part = getattr(dataset, split)
        if ctx.enabled:
            metrics[f"{split}_accuracy"] = sharded_accuracy(model, encoder.ids(part.inputs), part.labels, encoder.pad, ctx, batch_size=64)
        else:
            pred = predict_logits(model, encoder, part.inputs, description=f"teacher {split} accuracy").argmax(1)
            metrics[f"{split}_accuracy"] = float((pred == np.asarray(part.labels)).mean())
    if ctx.is_main:
        with atomic_dir(target, force=True) as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            encoder.save(tmp)
            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
    barrier(ctx)
    return load_teacher(target)


def load_teacher(path: str | Path, max_len: int = 64) -> Teacher:
    """Load a fine-tuned classifier folder (ours or any Hugging Face checkpoint with a tokenizer).

    >>> teacher = load_teacher("runs/teacher")  # doctest: +SKIP
    >>> teacher.label_names                     # doctest: +SKIP
    ('negative', 'positive')
    """
    from distill.hf_check import check_family, check_tokenizer_fits, read_config
    from edgecore.tokenizer import load_tokenizer

    path = Path(path)
    resolve_base(str(path))
    check_family(path, read_config(path), classifier=True)
    load_tokenizer(path)   # a missing or corrupt tokenizer fails here, before the weights load
    model = load_classifier(path)
    metrics = json.loads((path / "metrics.json").read_text()) if (path / "metrics.json").is_file() else {}
    max_len = metrics.get("config", {}).get("max_len", max_len)
    id2label = model.config.id2label or {}
    labels = tuple(id2label[i] for i in sorted(id2label)) if id2label else tuple(str(i) for i in range(model.config.num_labels))
    encoder = Encoder(path, max_len, model=model)
    check_tokenizer_fits(path, encoder.settings.vocab_size, model.config.vocab_size)
    return Teacher(model, encoder, path, labels, metrics)


def multi_label_metrics(model, encoder: Encoder, dataset: TextDataset, thresholds: tuple[float, ...] | None = None,
                        splits: tuple[str, ...] = ("dev", "test")) -> dict:
    """A multi-label classifier's per-label thresholds (chosen on dev unless given) and its scores with them on each
    split: `{split}_accuracy` is exact match (every label of the row right), beside micro/macro F1."""
    from edgecore.multilabel import choose_thresholds, decide, label_metrics

    n = len(dataset.label_names)
    logits = {s: predict_logits(model, encoder, getattr(dataset, s).inputs, description=f"{s} logits") for s in splits}
    if thresholds is None:
        dev = logits["dev"] if "dev" in logits else predict_logits(model, encoder, dataset.dev.inputs, description="dev logits")
        thresholds = choose_thresholds(dev, dataset.dev.targets(n))
    out = {"task": {"problem_type": "multi_label_classification", "thresholds": list(thresholds)}}
    for s, lg in logits.items():
        m = label_metrics(decide(lg, thresholds), getattr(dataset, s).targets(n), dataset.label_names)
        out.update({f"{s}_accuracy": m["exact_match"], f"{s}_micro_f1": m["micro_f1"], f"{s}_macro_f1": m["macro_f1"]})
    return out


@torch.inference_mode()
def predict_logits(model, encoder: Encoder, texts: list[str], batch_size: int = 64, description: str = "predicting") -> np.ndarray:
    """Logits for `texts`, (N, C) float32, in input order. Batches are length-sorted to pad little."""
    model.eval()
    ids = encoder.ids(texts)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out: list[np.ndarray | None] = [None] * len(ids)
    with bar(len(ids), description) as progress:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            logits = model(**encoder.pad([ids[i] for i in chunk]))
            logits = getattr(logits, "logits", logits).float().numpy()
            for i, row in zip(chunk, logits):
                out[i] = row
            progress.advance(len(chunk))
    return np.stack(out) if out else np.zeros((0, 0), np.float32)


# ---------------------------------------------------------------------------------------------
# Teacher-logit cache

def logits_key(teacher: Teacher, texts: list[str]) -> str:
    h = hashlib.sha256()
    h.update(teacher.weights_hash().encode())
    h.update(sha256_file(teacher.encoder.dir / "tokenizer.json").encode())
    h.update(str(teacher.encoder.max_len).encode())
    if teacher.encoder.settings.truncation["strategy"] != "head":   # head: keys as before strategies existed
        h.update(json.dumps(teacher.encoder.settings.truncation, sort_keys=True).encode())
    for t in texts:
        if isinstance(t, tuple):   # a sentence pair: its two texts, marked so ("a", "b") never hashes as "a\x00b"
            h.update(b"\x01" + t[0].encode("utf-8") + b"\x00" + t[1].encode("utf-8") + b"\x00")
        else:
            h.update(t.encode("utf-8") + b"\x00")
    return h.hexdigest()[:24]


def cached_teacher_logits(teacher: Teacher, texts: list[str], description: str = "teacher logits") -> tuple[np.ndarray, bool]:
    """Teacher logits for `texts`, from the cache when the (weights, tokenizer, texts) hash matches.

    Returns (logits, hit). A cache entry that fails to load, has the wrong shape or holds NaN/inf is
    rebuilt, never used.

    >>> logits, hit = cached_teacher_logits(teacher, ds.train.texts)  # doctest: +SKIP
    >>> logits.shape                                                   # doctest: +SKIP
    (7041, 2)
    """
    from safetensors.numpy import save

    path = cache_dir("logits") / f"{logits_key(teacher, texts)}.safetensors"
    shape = (len(texts), len(teacher.label_names))
    if (logits := _cached_logits(path, shape)) is not None:
        return logits, True
    with cache_lock(path):   # a second process computing the same logits waits here, then reads them
        if (logits := _cached_logits(path, shape)) is not None:
            return logits, True
        logits = teacher.logits(texts, description=description).astype(np.float32)
        if not np.isfinite(logits).all():
            raise CheckpointError(f"teacher at {teacher.path} produced NaN/inf logits; the checkpoint is broken, re-train or re-export it")
        with atomic_write(path) as f:
            f.write(save({"logits": logits}))
    return logits, False


def _cached_logits(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
    """The cached logits at `path` if they load, have `shape` and are finite; None otherwise (rebuilt, never used)."""
    from safetensors.numpy import load_file

    if not path.is_file():
        return None
    try:
        logits = load_file(str(path))["logits"]
    except Exception:
        return None
    return logits if logits.shape == shape and np.isfinite(logits).all() else None


def sharded_teacher_logits(teacher: Teacher, texts: list[str], ctx: DistContext | None = None,
                           description: str = "teacher logits") -> tuple[np.ndarray, bool]:
    """`cached_teacher_logits` where each rank computes 1/world of the rows; every rank gets all of them.

    Returns (logits, hit). The cache entry is the one `cached_teacher_logits` reads and writes, so a
    later single-process run hits it. Works with a shared or a per-node cache folder. In one process
    this is `cached_teacher_logits`.

    >>> logits, hit = sharded_teacher_logits(teacher, dataset.train.texts)  # doctest: +SKIP
    """
    ctx = ctx or current()
    if not ctx.enabled:
        return cached_teacher_logits(teacher, texts, description)
    path = cache_dir("logits") / f"{logits_key(teacher, texts)}.safetensors"
    logits = _cached_logits(path, (len(texts), len(teacher.label_names)))
    if all_reduce_sum([0.0 if logits is not None else 1.0], ctx)[0] == 0:
        return logits, True
    # as in finetune_teacher: rank 0 holds the entry's lock (another process computing it finishes first), the other
    # ranks look again once it does, and all of them compute unless every one of them can read the entry
    with cache_lock(path) if ctx.is_main else contextlib.nullcontext():
        barrier(ctx)
        logits = _cached_logits(path, (len(texts), len(teacher.label_names)))
        if all_reduce_sum([0.0 if logits is not None else 1.0], ctx)[0] == 0:
            return logits, True
        return _sharded_logits(teacher, texts, ctx, path, description), False


def _sharded_logits(teacher: Teacher, texts: list[str], ctx: DistContext, path: Path, description: str) -> np.ndarray:
    from safetensors.numpy import save

    n_labels = len(teacher.label_names)
    start, stop = shard_range(len(texts), ctx)
    part = teacher.logits(texts[start:stop], description=f"{description} (rank {ctx.rank})").astype(np.float32)
    part = part.reshape(stop - start, n_labels)
    width = math.ceil(len(texts) / ctx.world_size)
    padded = torch.zeros(width, n_labels)
    padded[: len(part)] = torch.from_numpy(part)
    gathered = [torch.zeros_like(padded) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, padded)
    rows = []
    for r, chunk in enumerate(gathered):
        s, e = shard_range(len(texts), DistContext(r, ctx.world_size))
        rows.append(chunk[: e - s])
    logits = torch.cat(rows).numpy()
    if not np.isfinite(logits).all():
        raise ConfigError(f"teacher at {teacher.path} produced NaN/inf logits; the checkpoint is broken")
    if ctx.local_rank == 0:
        with atomic_write(path) as f:
            f.write(save({"logits": logits}))
    barrier(ctx)
    return logits
