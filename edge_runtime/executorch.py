"""ExecuTorch runner: a `.pte` program (XNNPACK delegate) behind the one runner protocol, through `executorch.runtime`.

A file written by export.executorch holds either one method `forward` with a dynamic batch and sequence
(Transformers), or one method `seq<N>` per sequence-length bucket at batch 1 (recurrent students, whose
unrolled LSTM / GRU fixes the length); and a constant method `edgedistill_metadata` returning the file's
metadata as JSON. A dynamic program runs a (B, T) batch in chunks of its planned batch; a bucketed one
runs each row in the smallest bucket that holds it, right-padded with attention_mask 0 (the models mask
padding, so the bucket does not change the answer). Inputs are int64; logits come back (B, C) float32.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from edge_runtime.protocol import RunnerInfo
from edgecore import CheckpointError, UnsupportedError

METADATA_METHOD = "edgedistill_metadata"
NAMES = ("input_ids", "attention_mask", "token_type_ids", "pair_input_ids", "pair_attention_mask")
MASKS = ("attention_mask", "pair_attention_mask")


def _corrupt(path, detail: str) -> CheckpointError:
    detail = (detail.strip().splitlines() or [""])[0][:160]
    return CheckpointError(f"{path} cannot be loaded as an ExecuTorch program ({detail}); it is damaged (truncated or corrupt) "
                           "or not an edgedistill export: re-export it with `edgedistill export --format executorch`")


class ExecuTorchRunner:
    """`runner(feeds) -> (B, C) float32 logits` for one .pte file (executorch.runtime, XNNPACK threadpool of `threads`).

    >>> runner = ExecuTorchRunner("student.int8.pte")                 # doctest: +SKIP
    >>> runner.info.extra["shapes"], runner(feeds).shape              # doctest: +SKIP
    ('dynamic', (2, 2))
    """

    def __init__(self, path: str | Path, threads: int = 1, precision: str | None = None) -> None:
        import torch
        from executorch.runtime import Runtime

        t0 = time.perf_counter()
        self.path = Path(path)
        if not self.path.is_file() or self.path.stat().st_size == 0:
            raise _corrupt(self.path, "the file is missing or empty")
        _set_threads(threads)
        try:
            self.program = Runtime.get().load_program(self.path)
            methods = set(self.program.method_names)
            self.meta = json.loads(self.program.load_method(METADATA_METHOD).execute([])[0]) if METADATA_METHOD in methods else {}
        except (RuntimeError, ValueError, TypeError) as e:
            raise _corrupt(self.path, str(e) or type(e).__name__) from None
        self.methods = {}
        if "forward" in methods:
            self.dynamic, self.buckets = True, ()
            self.max_batch = int(self.meta.get("edgedistill.executorch.max_batch", "1"))
            self.max_len = int(str(self.meta.get("edgedistill.buckets", "128")).split(",")[-1])
        else:
            self.dynamic, self.max_batch = False, 1
            self.buckets = tuple(sorted(int(m[3:]) for m in methods if m.startswith("seq") and m[3:].isdigit()))
            if not self.buckets:
                raise UnsupportedError(f"{self.path.name} has methods {sorted(methods)}; a text classifier program needs `forward` "
                                       "or `seq<N>` methods (export with export.to_executorch)")
            self.max_len = self.buckets[-1]
        inputs = [n for n in str(self.meta.get("edgedistill.inputs", "")).split(",") if n]
        self.input_names = tuple(inputs) or ("input_ids", "attention_mask")
        if any(n not in NAMES for n in self.input_names):
            raise UnsupportedError(f"{self.path.name} takes inputs {list(self.input_names)}; a text classifier takes {', '.join(NAMES)}")
        for name in ("forward",) if self.dynamic else tuple(f"seq{b}" for b in self.buckets):
            try:
                self.methods[name] = self.program.load_method(name)
            except (RuntimeError, ValueError) as e:
                raise _corrupt(self.path, f"method {name!r} fails to load: {e}") from None
        self._torch = torch
        self.info = RunnerInfo("executorch", precision or self.meta.get("edgedistill.precision", "fp32"), threads, "executorch-xnnpack",
                               str(self.path), (time.perf_counter() - t0) * 1e3,
                               {"shapes": "dynamic" if self.dynamic else "buckets", "buckets": list(self.buckets),
                                "max_batch": self.max_batch, "max_len": self.max_len})

    def bucket_for(self, length: int) -> int:
        """The smallest bucket that holds `length` tokens (a dynamic program: the length itself, at least 2)."""
        if length > self.max_len:
            raise UnsupportedError(f"a sentence of {length} tokens is longer than {self.path.name} takes ({self.max_len}); "
                                   f"truncate to {self.max_len} tokens or re-export with a larger bucket")
        if self.dynamic:
            return max(2, length)
        return next(b for b in self.buckets if b >= length)

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        ids = np.asarray(feeds["input_ids"])
        mask = np.asarray(feeds["attention_mask"])
        if ids.ndim != 2 or mask.shape != ids.shape:
            raise UnsupportedError(f"input_ids and attention_mask must share one (B, T) shape; got {ids.shape} and {mask.shape}")
        if self.dynamic:
            width = {n: self.bucket_for(int(_used(np.asarray(feeds[m])).max(initial=1))) for n, m in
                     (("", "attention_mask"), ("pair_", "pair_attention_mask")) if m in feeds}
            return np.concatenate([self._run("forward", feeds, slice(s, s + self.max_batch), width)
                                   for s in range(0, ids.shape[0], self.max_batch)])
        used = np.ones(ids.shape[0], dtype=np.int64)   # a siamese file's bucket holds the longer side of the pair
        for m in (np.asarray(feeds[n]) for n in MASKS if n in feeds and n in self.input_names):
            used = np.maximum(used, _used(m))
        rows = []
        for b in range(ids.shape[0]):
            bucket = self.bucket_for(int(used[b]))
            rows.append(self._run(f"seq{bucket}", feeds, slice(b, b + 1), {"": bucket, "pair_": bucket})[0])
        return np.stack(rows)

    def _run(self, method: str, feeds: dict[str, np.ndarray], rows: slice, width: dict[str, int]) -> np.ndarray:
        torch = self._torch
        args, count = [], np.asarray(feeds["input_ids"])[rows].shape[0]
        for name in self.input_names:
            w = width["pair_" if name.startswith("pair_") else ""]
            src = np.asarray(feeds[name][rows], dtype=np.int64) if name in feeds else None
            row = np.zeros((count, w), dtype=np.int64)
            if src is not None:
                cut = src[:, :w]
                row[:, : cut.shape[1]] = cut
            args.append(torch.from_numpy(row))
        try:
            out = self.methods[method].execute(args)[0]
        except RuntimeError as e:   # the runtime's own errors (a damaged delegate blob, a shape past the plan)
            raise _corrupt(self.path, f"it fails to run: {e}") from None
        return out.float().numpy()


def _used(mask: np.ndarray) -> np.ndarray:
    """Tokens needed per row: up to its last unmasked position (padding is trailing; anything after is dropped)."""
    return np.where(mask.any(axis=1), mask.shape[1] - np.argmax(mask[:, ::-1] != 0, axis=1), 1)


def _set_threads(threads: int) -> None:
    """The XNNPACK threadpool is process-wide in executorch's Python bindings; size it when it differs."""
    try:
        from executorch.extension.pybindings import portable_lib

        if portable_lib._threadpool_get_thread_count() != threads:
            portable_lib._unsafe_reset_threadpool(threads)
    except (ImportError, AttributeError):   # a build without the (experimental) threadpool hooks: its default
        pass
