"""One training loop for every student: AdamW, linear decay, early stopping on dev accuracy,
best checkpoint in safetensors, and resume from the last finished epoch.

The objective mixes a distillation term and a label term:
    loss = alpha * distill(student, teacher) + (1 - alpha) * cross_entropy(student, labels)
with `loss="ce"` meaning labels only (the baseline every distilled student is measured against).
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from distill import losses
from edgecore import ConfigError, atomic_write
from edgecore.progress import bar

LOSSES = ("ce", "mse", "kl")


@dataclass(frozen=True)
class TrainConfig:
    loss: str = "mse"           # ce (labels only) | mse (logits, BiLSTM-SOFT) | kl (soft targets at temperature)
    temperature: float = 1.0
    alpha: float = 1.0          # weight of the distillation term; 1 - alpha goes to gold labels
    epochs: int = 12
    max_steps: int | None = None  # stop after this many optimizer steps (compute-matched controls)
    batch_size: int = 50
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.05
    patience: int = 4           # epochs without a better dev accuracy before stopping; 0 = never stop early
    grad_clip: float = 5.0
    bucket: int = 50            # batches are formed within shuffled pools of this many batches sorted by length; 0 = plain shuffle
    seed: int = 0
    bf16: bool = False          # forward pass under bfloat16 autocast (weights, optimizer and evaluation stay fp32); pays off on CPUs with native bf16 (AVX512-BF16, AMX)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"loss {self.loss!r} is not supported; choose one of {', '.join(LOSSES)}")
        numbers = {k: getattr(self, k) for k in ("temperature", "alpha", "lr", "weight_decay", "warmup", "grad_clip")}
        bad = [k for k, v in numbers.items() if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)]
        if bad:
            raise ConfigError(f"{bad[0]} must be a finite number (got {numbers[bad[0]]!r})")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0 (got {self.temperature}); 1-4 are usual")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1] (got {self.alpha})")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError(f"epochs, batch_size and lr must be positive (got {self.epochs}, {self.batch_size}, {self.lr})")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1 or None (got {self.max_steps})")

    @property
    def uses_teacher(self) -> bool:
        return self.loss != "ce" and self.alpha > 0


@dataclass
class TrainSet:
    """Token ids (unpadded), gold labels (-1 = unlabelled) and teacher logits (None for label-only). Multi-label data:
    `labels` is (N, C) 0/1 float (a row of -1 = unlabelled), and the losses are the binary ones (distill.losses)."""

    ids: list[list[int]]
    labels: torch.Tensor
    teacher_logits: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.labels):
            raise ConfigError(f"{len(self.ids)} texts but {len(self.labels)} labels")
        if self.teacher_logits is not None:
            if len(self.teacher_logits) != len(self.ids):
                raise ConfigError(f"{len(self.ids)} texts but {len(self.teacher_logits)} teacher logit rows")
            if not torch.isfinite(self.teacher_logits).all():
                raise ConfigError("teacher logits contain NaN or inf; rebuild the logit cache from a healthy teacher")

    @classmethod
    def with_extra(cls, ids: list[list[int]], labels, logits, extra_ids: list[list[int]] = (), extra_logits=None) -> TrainSet:
        """Labelled rows (`logits` may be None: label-only) plus `extra_ids` that only the teacher labels
        (augmented or unlabelled sentences: gold label -1, their rows of `extra_logits`)."""
        ids = list(ids)
        labels = np.asarray(labels, dtype=np.float32 if np.ndim(labels) == 2 else np.int64)
        if len(extra_ids):
            if logits is None or extra_logits is None or len(extra_logits) != len(extra_ids):
                raise ConfigError(f"{len(extra_ids)} extra transfer sentences need teacher logits for the training rows and as many extra logit rows")
            ids += list(extra_ids)
            labels = np.concatenate([labels, np.full((len(extra_ids), *labels.shape[1:]), -1, dtype=labels.dtype)])
            logits = np.concatenate([np.asarray(logits), np.asarray(extra_logits)])
        as_tensor = None if logits is None else torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32))
        return cls(ids, torch.from_numpy(labels), as_tensor)


@dataclass
class TrainResult:
    best_dev_accuracy: float
    best_epoch: int
    steps: int
    epochs_run: int
    seconds: float
    history: list[dict] = field(default_factory=list)


Pad = Callable[[list[list[int]]], dict[str, torch.Tensor]]


def train(model: torch.nn.Module, train_set: TrainSet, dev_ids: list[list[int]], dev_labels: list[int],
          pad: Pad, config: TrainConfig, checkpoint_dir: str | Path | None = None, description: str = "training") -> TrainResult:
    """Train `model` in place and leave it holding the best-on-dev weights.

    With `checkpoint_dir`, the state after every epoch is saved there (`trainer_state.safetensors`: tensors plus JSON,
    never a pickle) with a fingerprint of everything that decides the result (config, data, teacher logits, initial
    model, versions); a later call with the same arguments resumes from it and ends with the same weights. A state
    from a different run is not resumed (one-line note); an unreadable one is set aside (one-line note), never fatal.
    """
    if config.uses_teacher and train_set.teacher_logits is None:
        raise ConfigError(f"loss {config.loss!r} needs teacher logits; pass them, or use loss='ce' for a label-only student")
    torch.manual_seed(config.seed)
    n = len(train_set.ids)
    steps_per_epoch = math.ceil(n / config.batch_size)
    total_steps = min(config.max_steps or 10**12, config.epochs * steps_per_epoch)
    epochs = math.ceil(total_steps / steps_per_epoch)
    params = [p for p in model.parameters() if p.requires_grad]
    # fused: one kernel over all parameters; the unfused update of a (vocab x 384) embedding table took
    # a third of a BiLSTM step on one CPU thread (0.27 s -> 0.17 s per batch of 50)
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    warmup = int(config.warmup * total_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total_steps - s) / max(1, total_steps - warmup)))
    generator = torch.Generator().manual_seed(config.seed)
    state = {"epoch": 0, "step": 0, "best_acc": -1.0, "best_epoch": 0, "history": [], "seconds": 0.0, "best_weights": None}

    ckpt = Path(checkpoint_dir) / STATE_FILE if checkpoint_dir else None
    fingerprint = None
    if ckpt is not None:
        fingerprint = run_fingerprint(model, train_set, dev_ids, dev_labels, pad, config)
        saved = load_state(Path(checkpoint_dir), fingerprint)
        if saved is not None:
            state = _resume(saved, model, optimizer, schedule, generator, state, Path(checkpoint_dir))

    labels = train_set.labels
    teacher = train_set.teacher_logits
    t_start = time.perf_counter() - state["seconds"]
    with bar(total_steps, description) as progress:
        progress.advance(state["step"])
        while state["epoch"] < epochs and state["step"] < total_steps:
            model.train()
            sums: dict[str, float] = {}
            batches = 0
            for batch in length_bucketed(train_set.ids, config.batch_size, config.bucket, generator):
                if state["step"] >= total_steps:
                    break
                feeds = pad([train_set.ids[i] for i in batch.tolist()])
                with autocast(config.bf16):
                    logits = model(**feeds)
                terms = _loss_terms(logits.float(), teacher[batch] if teacher is not None else None, labels[batch], config)
                loss = sum(w * v for w, v in terms.values())
                if not bool(torch.isfinite(loss.detach())):
                    raise ConfigError(f"training diverged at step {state['step'] + 1}: the loss is {loss.item()}; lower the learning "
                                      f"rate (lr {config.lr:g}) or check the teacher logits and labels")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip:
                    torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
                optimizer.step()
                schedule.step()
                state["step"] += 1
                batches += 1
                for name, (_, value) in terms.items():
                    sums[name] = sums.get(name, 0.0) + value.detach().item()
                progress.advance()
            acc = accuracy(model, dev_ids, dev_labels, pad)
            state["epoch"] += 1
            record = {"epoch": state["epoch"], "step": state["step"], "dev_accuracy": acc,
                      **{f"loss_{k}": v / max(1, batches) for k, v in sums.items()}}
            state["history"].append(record)
            progress.describe(f"{description} (epoch {state['epoch']}, dev {acc:.3f})")
            if acc > state["best_acc"]:
                state["best_acc"], state["best_epoch"] = acc, state["epoch"]
                state["best_weights"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            state["seconds"] = time.perf_counter() - t_start
            stop = config.patience and state["epoch"] - state["best_epoch"] >= config.patience
            if ckpt is not None:
                save_state(ckpt, model, optimizer, schedule, generator, state, fingerprint)
            if stop:
                break
    if state["best_weights"] is not None:
        model.load_state_dict(state["best_weights"])
    model.eval()
    return TrainResult(state["best_acc"], state["best_epoch"], state["step"], state["epoch"], state["seconds"], state["history"])


def autocast(bf16: bool):
    """The students' mixed precision: bfloat16 autocast on the CPU when `bf16`, else a no-op context."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)


def native_bf16() -> bool:
    """True on CPUs with bfloat16 instructions (AVX512-BF16 or AMX), where `TrainConfig(bf16=True)` pays off.
    Elsewhere bf16 autocast still runs, emulated and slower."""
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def length_bucketed(ids: list[list[int]], batch_size: int, bucket: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Shuffled batches. With bucketing, each pool of `bucket` batches is sorted by length before it is cut,
    and the batches are shuffled again: a batch pads to its own longest sentence, not to the corpus's
    (for sentences of ~25 tokens among up to 64, that halves the work per step)."""
    order = torch.randperm(len(ids), generator=generator)
    if not bucket:
        return list(order.split(batch_size))
    lengths = torch.tensor([len(x) for x in ids])
    batches = []
    for pool in order.split(batch_size * bucket):
        pool = pool[torch.argsort(lengths[pool], stable=True)]
        batches += list(pool.split(batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def _loss_terms(logits, teacher_logits, labels, config: TrainConfig) -> dict[str, tuple[float, torch.Tensor]]:
    """name -> (weight, unweighted value). Terms with weight 0 are not computed."""
    terms = {}
    label_weight = 1.0 if config.loss == "ce" else 1.0 - config.alpha
    multi_label = labels.ndim == 2
    if config.loss == "mse" and config.alpha > 0:
        terms["mse"] = (config.alpha, losses.logit_mse(logits, teacher_logits))
    elif config.loss == "kl" and config.alpha > 0:
        terms["kl"] = (config.alpha, losses.soft_cross_entropy(logits, teacher_logits, temperature=config.temperature, multi_label=multi_label))
    if label_weight > 0 and bool((labels >= 0).any()):
        terms["ce"] = (label_weight, losses.hard_cross_entropy(logits, labels=labels))
    return terms


# ---------------------------------------------------------------------------------------------
# Resume state: safetensors (tensors) + JSON (everything else, in the file's metadata). Never a pickle.

STATE_FILE = "trainer_state.safetensors"
STATE_FORMAT = "edgedistill-trainer-state"
STATE_VERSION = "1"


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


def _hash_tensor(h, t: torch.Tensor) -> None:
    t = t.detach().cpu().contiguous()
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def run_fingerprint(model: torch.nn.Module, train_set: TrainSet, dev_ids, dev_labels, pad: Pad, config: TrainConfig) -> dict[str, str]:
    """Hashes of everything that decides a run's result, by part: a resume state made with any part different is not
    resumed. `model` is the initial model (its architecture and initial weights, which carry the teacher's embeddings),
    `data` the transfer set's token ids, gold labels and the dev split, `teacher` its logits, `padding` what `pad` makes."""
    import importlib.metadata
    import platform

    def digest(*parts) -> str:
        h = hashlib.sha256()
        for part in parts:
            if isinstance(part, torch.Tensor):
                _hash_tensor(h, part)
            else:
                h.update(json.dumps(part, sort_keys=True, default=str).encode())
            h.update(b"\x00")
        return h.hexdigest()[:32]

    weights = hashlib.sha256(type(getattr(model, "module", model)).__name__.encode())
    for name, value in model.state_dict().items():
        weights.update(name.encode())
        _hash_tensor(weights, value)
    probe = pad([[5, 6, 7], [8]])

    def version(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "config": digest(asdict(config)),
        "model": weights.hexdigest()[:32],
        "data": digest(train_set.ids, train_set.labels, dev_ids, np.asarray(dev_labels).tolist()),
        "teacher": digest(train_set.teacher_logits if train_set.teacher_logits is not None else None),
        "padding": digest(*(probe[k] for k in sorted(probe))),
        "versions": digest(platform.python_version(), torch.__version__, np.__version__, version("edgedistill"), version("safetensors")),
    }


def _encode(obj, tensors: dict[str, torch.Tensor], storages: set):
    """JSON-able form of a state object; its tensors go to `tensors` (copied where they share memory: safetensors
    refuses shared storage)."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        ptr = t.untyped_storage().data_ptr()
        if ptr and ptr in storages:
            t = t.clone()
        storages.add(t.untyped_storage().data_ptr())
        key = f"t{len(tensors)}"
        tensors[key] = t
        return {"__tensor__": key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, tensors, storages) for k, v in obj.items()}
        return {"__items__": [[_encode(k, tensors, storages), _encode(v, tensors, storages)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors, storages) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, tensors, storages) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    raise TypeError(f"cannot store a {type(obj).__name__} in the resume state")


def _decode(obj, tensors: dict[str, torch.Tensor]):
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            return tensors[obj["__tensor__"]]
        if set(obj) == {"__items__"}:
            return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__items__"]}
        if set(obj) == {"__tuple__"}:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        return {k: _decode(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    return obj


def _tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(tensors):
        h.update(key.encode())
        _hash_tensor(h, tensors[key])
    return h.hexdigest()


def _state_digest(metadata: dict[str, str], tensors: dict[str, torch.Tensor]) -> str:
    """One checksum over the tensors and every metadata field: a flipped bit anywhere in the file is caught."""
    h = hashlib.sha256(_tensors_digest(tensors).encode())
    for key in sorted(k for k in metadata if k != "sha256"):
        h.update(f"\x00{key}\x00{metadata[key]}".encode())
    return h.hexdigest()


def save_state(path: Path, model, optimizer, schedule, generator, state: dict, fingerprint: dict[str, str]) -> None:
    """Write the resume state after an epoch, whole or not at all (atomic_write): safetensors + JSON metadata."""
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    storages: set = set()
    payload = _encode({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                       "generator": generator.get_state(), "torch_rng": torch.get_rng_state(), "state": state}, tensors, storages)
    metadata = {"format": STATE_FORMAT, "version": STATE_VERSION, "fingerprint": json.dumps(fingerprint, sort_keys=True),
                "state": json.dumps(payload)}
    metadata["sha256"] = _state_digest(metadata, tensors)
    data = save(tensors, metadata=metadata)
    with atomic_write(path) as f:
        f.write(data)


class _Corrupt(Exception):
    pass


def _read_state(path: Path) -> tuple[dict, dict]:
    """(fingerprint, state objects) of a resume-state file; _Corrupt for anything that is not one, whole."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:   # safetensors raises its own error types (SafetensorError, ValueError, OSError, ...)
        raise _Corrupt(f"not a readable safetensors file ({type(e).__name__})") from None
    if metadata.get("format") != STATE_FORMAT or metadata.get("version") != STATE_VERSION:
        raise _Corrupt("not an edgedistill resume state of this version")
    if metadata.get("sha256") != _state_digest(metadata, tensors):
        raise _Corrupt("its content does not match its recorded checksum")
    try:
        fingerprint = json.loads(metadata["fingerprint"])
        payload = _decode(json.loads(metadata["state"]), tensors)
        state = payload["state"]
        if not isinstance(fingerprint, dict) or not isinstance(state, dict) or not {"epoch", "step", "history"} <= set(state):
            raise ValueError
    except (KeyError, ValueError, TypeError):
        raise _Corrupt("its metadata is malformed") from None
    return fingerprint, payload


def _set_aside(folder: Path, files: list[Path], why: str) -> None:
    aside = folder.with_name(f"{folder.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    aside.mkdir(parents=True, exist_ok=True)
    for file in files:
        with contextlib.suppress(OSError):
            os.replace(file, aside / file.name)
    _note(f"the resume state in {folder} is unusable ({why}); moved it to {aside} and starting afresh")


def load_state(folder: Path, fingerprint: dict[str, str]) -> dict | None:
    """The saved state to resume from, or None: none saved, made by a run that differs (a one-line note says in what),
    or unusable (set aside beside `folder`, with a note). Never raises for a bad state; never unpickles."""
    legacy = [p for p in (folder / "trainer_state.pt",) if p.exists()]
    if legacy:
        _set_aside(folder, legacy, "an old pickle-format state, which is never loaded")
    path = folder / STATE_FILE
    if not path.exists():
        return None
    if not path.is_file():
        _set_aside(folder, [path], "not a file")
        return None
    try:
        saved_fingerprint, payload = _read_state(path)
    except _Corrupt as e:
        _set_aside(folder, [path], str(e))
        return None
    changed = sorted(k for k in set(fingerprint) | set(saved_fingerprint) if fingerprint.get(k) != saved_fingerprint.get(k))
    if changed:
        _note(f"the resume state in {folder} was made by a run with a different {', '.join(changed)}; starting afresh")
        return None
    return payload


def _resume(saved: dict, model, optimizer, schedule, generator, state: dict, folder: Path) -> dict:
    """Load a saved state into the run; a state that does not fit is set aside and the run starts afresh."""
    before = {"model": {k: v.detach().clone() for k, v in model.state_dict().items()}, "optimizer": copy.deepcopy(optimizer.state_dict()),
              "schedule": schedule.state_dict(), "generator": generator.get_state(), "torch_rng": torch.get_rng_state()}
    try:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        generator.set_state(saved["generator"])
        torch.set_rng_state(saved["torch_rng"])
        resumed = dict(saved["state"])
        for key in ("epoch", "step", "best_epoch"):
            resumed[key] = int(resumed[key])
        resumed["best_acc"], resumed["seconds"] = float(resumed["best_acc"]), float(resumed["seconds"])
        best = resumed.get("best_weights")
        if best is not None:   # loaded at the end of training: check now that it fits
            shapes = {k: (v.shape, v.dtype) for k, v in before["model"].items()}
            if not isinstance(best, dict) or {k: (getattr(v, "shape", None), getattr(v, "dtype", None)) for k, v in best.items()} != shapes:
                raise ValueError("best_weights")
        if not isinstance(resumed["history"], list):
            raise ValueError("history")
        return resumed
    except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as e:
        model.load_state_dict(before["model"])
        optimizer.load_state_dict(before["optimizer"])
        schedule.load_state_dict(before["schedule"])
        generator.set_state(before["generator"])
        torch.set_rng_state(before["torch_rng"])
        _set_aside(folder, [folder / STATE_FILE], f"it does not fit this model: {type(e).__name__}")
        return state


@torch.inference_mode()
def predict(model: torch.nn.Module, ids: list[list[int]], pad: Pad, batch_size: int = 256) -> np.ndarray:
    """Logits (N, C) in input order; batches are length-sorted so little padding is computed."""
    model.eval()
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = np.zeros((len(ids), 0), np.float32)
    rows = []
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        out = model(**pad([ids[i] for i in chunk]))
        rows.append((chunk, getattr(out, "logits", out).float().numpy()))   # HF classifiers return an output object
    if rows:
        out = np.zeros((len(ids), rows[0][1].shape[1]), np.float32)
        for chunk, logits in rows:
            out[chunk] = logits
    return out


def accuracy(model: torch.nn.Module, ids: list[list[int]], labels, pad: Pad) -> float:
    """The dev/test score early stopping and the reports use: accuracy, or for multi-label (N, C) labels micro-F1 at
    probability 0.5 (per-label thresholds are chosen on dev after training)."""
    return score(predict(model, ids, pad), labels)


def score(logits: np.ndarray, labels) -> float:
    """Accuracy of argmax(logits) against class indices; micro-F1 of logits >= 0 (sigmoid >= 0.5) against (N, C) 0/1 labels."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        from edgecore.multilabel import label_metrics

        return label_metrics(logits >= 0, labels > 0.5)["micro_f1"]
    return float((logits.argmax(1) == labels).mean()) if len(labels) else 0.0
