"""What the orchestrator (main venv) and the distillation workers (main venv and .venv-peers) share.

The student data travels as one .npz of plain arrays (no pickles: `np.load(..., allow_pickle=False)`)
plus a JSON sidecar: token ids (ragged: flat + offsets), labels, the teacher's train logits, the
pruned vocabulary, the teacher's word-embedding table and the student config. Both workers build the
student with `distill.recipes.build_rnn_student` from exactly these arrays and batch it with
`distill.trainer.length_bucketed`, so the only difference between them is who does the training.

The workers import only the `distill` submodules they need (`import_distill`): in .venv-peers,
transformers is 4.57 and `distill/__init__.py` would import more of the toolkit than a worker needs.
"""
from __future__ import annotations

import importlib
import json
import math
import sys
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def import_distill(*names: str) -> list[types.ModuleType]:
    """Import `distill.<name>` modules without running `distill/__init__.py` (when it is not loaded yet)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if "distill" not in sys.modules:
        pkg = types.ModuleType("distill")
        pkg.__path__ = [str(ROOT / "distill")]
        sys.modules["distill"] = pkg
    return [importlib.import_module(f"distill.{n}") for n in names]


def flatten(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    flat = np.fromiter((t for r in rows for t in r), dtype=np.int64, count=int(offsets[-1]))
    return flat, offsets


def unflatten(flat: np.ndarray, offsets: np.ndarray) -> list[list[int]]:
    return [flat[offsets[i]:offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]


def write_student_data(path: Path, *, train_ids, train_labels, train_logits, dev_ids, dev_labels, keep, embeddings,
                       student: dict, unk_id: int, pad_id: int) -> None:
    """The .npz + .json pair every distillation worker reads."""
    arrays = {"train_labels": np.asarray(train_labels, np.int64), "train_logits": np.asarray(train_logits, np.float32),
              "dev_labels": np.asarray(dev_labels, np.int64), "keep": np.asarray(keep, np.int64),
              "embeddings": np.asarray(embeddings, np.float32)}
    for name, rows in (("train", train_ids), ("dev", dev_ids)):
        arrays[f"{name}_flat"], arrays[f"{name}_offsets"] = flatten(rows)
    np.savez(path.with_suffix(".npz"), **arrays)
    path.with_suffix(".json").write_text(json.dumps({"student": student, "unk_id": unk_id, "pad_id": pad_id}))


def read_student_data(path: Path) -> dict:
    """The arrays back as Python lists / numpy, plus the JSON fields."""
    meta = json.loads(path.with_suffix(".json").read_text())
    with np.load(path.with_suffix(".npz"), allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    return {**meta, "train_ids": unflatten(d.pop("train_flat"), d.pop("train_offsets")),
            "dev_ids": unflatten(d.pop("dev_flat"), d.pop("dev_offsets")), **d}


def pad_batch(ids: list[list[int]], pad_id: int) -> dict:
    """Right-pad to the longest row: int64 input_ids + attention_mask, as distill.text.Encoder.pad does."""
    import torch

    width = max(len(x) for x in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for i, row in enumerate(ids):
        input_ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
    return {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}


def build_student(data: dict, seed: int):
    """The RNN student as benchmarks/distill_table.py builds it: seeded, teacher embeddings, pruned vocabulary."""
    import torch

    recipes, rnn = import_distill("recipes", "students.rnn")
    torch.manual_seed(seed)
    cfg = rnn.RNNStudentConfig(**data["student"])
    return recipes.build_rnn_student(cfg, torch.from_numpy(data["embeddings"]), data["keep"].tolist(), data["unk_id"])


def empty_student(student: dict, keep: int):
    """An unseeded student of the pruned shape, to load a worker's saved weights into."""
    rnn, = import_distill("students.rnn")
    return rnn.RNNStudent(rnn.RNNStudentConfig(**{**student, "vocab_size": keep, "tokenizer_vocab_size": student["vocab_size"]}))


def steps_per_epoch(n: int, batch_size: int, bucket: int) -> int:
    """Batches that distill.trainer.length_bucketed yields for n rows (pools of batch_size * bucket)."""
    if not bucket:
        return math.ceil(n / batch_size)
    pool = batch_size * bucket
    return sum(math.ceil(min(pool, n - s) / batch_size) for s in range(0, n, pool))


def linear_warmup_decay(total_steps: int, warmup_fraction: float):
    """distill.trainer.train's schedule: linear warm-up over warmup_fraction of the steps, then linear decay to 0."""
    warmup = int(warmup_fraction * total_steps)
    return lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total_steps - s) / max(1, total_steps - warmup))
