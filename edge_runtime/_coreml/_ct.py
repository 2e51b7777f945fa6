"""Import coremltools once, without its import-time log noise on Linux.

On Linux coremltools logs one warning per missing macOS runtime proxy ("Failed to load _MLModelProxy"),
the optional torchao it probes logs its missing CUDA kernels, and torch's pytree logs a deprecation
for torchao's enum: none of it is actionable for a user of this toolkit. The loggers are raised to
ERROR only while the import runs; warnings at conversion time (e.g. an untested torch version) stay.
"""
from __future__ import annotations

import logging
import warnings

_NOISY = ("coremltools", "torchao", "torch.utils._pytree")


def coremltools():
    import sys

    if "coremltools" in sys.modules:
        return sys.modules["coremltools"]
    loggers = [logging.getLogger(n) for n in _NOISY]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import coremltools as ct
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
    return ct


def has_predict() -> bool:
    """True where Core ML's own runtime is present (macOS with coremltools' native proxy)."""
    import platform

    if platform.system() != "Darwin":
        return False
    coremltools()
    try:
        from coremltools.libcoremlpython import _MLModelProxy  # noqa: F401
    except ImportError:
        return False
    return True
