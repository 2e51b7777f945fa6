"""Shared pieces of the int8 studies (issue #24): the built-in teacher's fp32 ONNX (plain and fused), batch-1 feeds of the
dev / test sentences, their fp32 ONNX logits (computed once, cached under runs/int8/), and a cheap evaluator that runs a
candidate file over those feeds and counts the flips against fp32.

Used by benchmarks/int8_sensitivity.py and benchmarks/int8_recipes.py; nothing here is part of the package.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("EDGEDISTILL_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CACHE = ROOT / "runs" / "int8"


@dataclass
class Study:
    fp32: Path                    # teacher, fp32 ONNX as exported
    fused: Path                   # the same after onnxruntime's BERT fusions (what quantize_onnx quantizes)
    eager: Path                   # fp32 ONNX exported with eager attention (what to_onnx writes now): attention fuses
    dev: list                     # batch-1 feeds (no padding) of the dev sentences
    dev_ref: object               # fp32 ONNX logits of `dev`, (n, labels)
    test: list
    test_ref: object
    test_gold: list
    calibration: list             # batch-1 feeds of the first 200 train sentences (what `edgedistill export` calibrates on)
    bench_feed: dict              # one (1, 64) feed of real tokens
    median_feed: dict             # one (1, median test length) feed of real tokens
    encode: object


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def prepare(dev_n: int = 1000) -> Study:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from distill import TeacherConfig, finetune_teacher, load_dataset
    from edge_runtime import fixed_length_feeds
    from export import OnnxConfig, to_onnx
    from export.quantize import fuse_transformer

    CACHE.mkdir(parents=True, exist_ok=True)
    ds = load_dataset("movie-snippets")
    teacher = finetune_teacher(ds, TeacherConfig())
    enc = teacher.encoder
    encode = lambda t: {k: v.numpy() for k, v in enc.encode(t).items()}
    fp32, fused = CACHE / "teacher.fp32.onnx", CACHE / "teacher.fused.onnx"
    stamp = CACHE / "teacher.path"
    if not fused.is_file() or not stamp.is_file() or stamp.read_text() != str(teacher.path):
        log("exporting the teacher to ONNX")
        to_onnx(teacher.model, enc.encode(ds.dev.texts[:2]), fp32, OnnxConfig(), force=True)
        fuse_transformer(str(fp32), str(fused))
        for f in CACHE.glob("*.ref.npy"):
            f.unlink()
        stamp.write_text(str(teacher.path))
    eager = CACHE / "teacher.eager.fp32.onnx"
    if not eager.is_file() or (CACHE / "teacher.path").stat().st_mtime > eager.stat().st_mtime:
        teacher.model.set_attn_implementation("eager")
        to_onnx(teacher.model, enc.encode(ds.dev.texts[:2]), eager, OnnxConfig(), force=True)
    dev = [encode([t]) for t in ds.dev.texts[:dev_n]]
    test = [encode([t]) for t in ds.test.texts]
    refs = {}
    for split, feeds in (("dev", dev), ("test", test)):
        f = CACHE / f"{split}{len(feeds)}.ref.npy"
        if not f.is_file():
            log(f"fp32 logits of {len(feeds)} {split} sentences")
            np.save(f, run_logits(fp32, feeds))
        refs[split] = np.load(f)
    lens = sorted(f["input_ids"].shape[1] for f in test)
    median = lens[len(lens) // 2]
    return Study(fp32, fused, eager, dev, refs["dev"], test, refs["test"], list(ds.test.labels),
                 [encode([t]) for t in ds.train.texts[:200]], fixed_length_feeds(encode, ds.test.texts[:40], 64),
                 fixed_length_feeds(encode, ds.test.texts[:40], median), encode)


def session(path, threads: int = 1):
    from export.quantize import session as ort_session

    return ort_session(path, threads)


def run_logits(path_or_session, feeds):
    import numpy as np

    sess = session(path_or_session) if isinstance(path_or_session, (str, Path)) else path_or_session
    names = {i.name for i in sess.get_inputs()}
    return np.concatenate([sess.run(["logits"], {k: v for k, v in f.items() if k in names})[0] for f in feeds])


def score(logits, ref, gold=None) -> dict:
    """Agreement of argmaxes, flips, mean/max |logit difference| against `ref` (and accuracies when `gold` is given)."""
    import numpy as np

    diff = np.abs(logits - ref)
    out = {"agreement": float((logits.argmax(1) == ref.argmax(1)).mean()), "flips": int((logits.argmax(1) != ref.argmax(1)).sum()),
           "mean_abs_logit_diff": float(diff.mean()), "max_abs_logit_diff": float(diff.max())}
    if gold is not None:
        g = np.asarray(gold)
        out |= {"accuracy": float((logits.argmax(1) == g).mean()), "fp32_accuracy": float((ref.argmax(1) == g).mean())}
        out["accuracy_change"] = out["accuracy"] - out["fp32_accuracy"]
    return out


def op_counts(path) -> dict:
    from collections import Counter

    import onnx

    return dict(Counter(n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node))
