"""Core ML runner: a .mlpackage behind the one runner protocol, on macOS and on Linux.

On macOS with coremltools' native runtime it calls Core ML's own `predict()` (provider
"coreml-predict", CPU_ONLY compute units so results do not depend on the Neural Engine's scheduling).
Everywhere else it evaluates the package's MIL program op by op with numpy (provider
"mil-numpy-evaluator"): the same program and weights, float32 arithmetic inside each op and the
program's own dtypes between ops (fp16 packages round every activation to fp16). That makes Linux
parity checks of Core ML files possible; its latency says nothing about a phone's.

Packages take int32 (1, T); a (B, T) int64 batch is cast and run row by row, each row padded with
attention_mask 0 to the package's smallest allowed length or bucket when needed.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from edge_runtime.protocol import RunnerInfo


class CoreMLRunner:
    """`runner(feeds) -> (B, C) float32 logits` for one .mlpackage.

    >>> runner = CoreMLRunner("student.int8.mlpackage")              # doctest: +SKIP
    >>> runner.info.provider, runner(feeds).shape                     # doctest: +SKIP
    ('mil-numpy-evaluator', (2, 2))
    """

    def __init__(self, path: str | Path, threads: int = 1, precision: str | None = None, backend: str = "auto") -> None:
        from edge_runtime._coreml.package import PackageRunner

        t0 = time.perf_counter()
        self.package = PackageRunner(path, backend=backend)
        self.input_names = self.package.input_names
        meta = self.package.metadata
        extra = {"sequence": json.loads(meta.get("edgedistill.sequence", "{}") or "{}"),
                 "compute_precision": meta.get("edgedistill.compute_precision", ""),
                 "labels": json.loads(meta.get("edgedistill.labels", "[]") or "[]")}
        if self.package.evaluator is not None:
            extra["evaluator_ops"] = dict(self.package.evaluator.how_counts)
            extra["threads_note"] = "the numpy evaluator ignores `threads`; numpy's BLAS uses its own setting"
        self.info = RunnerInfo("coreml", precision or meta.get("edgedistill.precision", "fp32"), threads, self.package.backend,
                               str(path), (time.perf_counter() - t0) * 1e3, extra)

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.package(feeds)
