"""What every runner is: `runner(feeds) -> (B, C) float32 logits`, with `.info` and `.input_names`.

Its own module so that the backends (runners.py, litert.py, coreml.py) share it without importing each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class RunnerInfo:
    """Where a runner's numbers come from: format, precision, threads, provider (the backend), file and load time.

    >>> load("student.int8.onnx").info.provider                          # doctest: +SKIP
    'CPUExecutionProvider'
    """
    format: str
    precision: str
    threads: int
    provider: str
    path: str = ""
    load_ms: float = 0.0
    extra: dict = field(default_factory=dict)


class Runner(Protocol):
    """What `load` returns: call it with {input name: (B, T) int64 array}, get (B, C) float32 logits.

    >>> runner = load("runs/demo/bundle")                                 # doctest: +SKIP
    >>> runner.input_names, runner(bundle.encode(["a fine film"])).shape  # doctest: +SKIP
    (('input_ids', 'attention_mask'), (1, 2))
    """
    info: RunnerInfo
    input_names: tuple[str, ...]

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray: ...
