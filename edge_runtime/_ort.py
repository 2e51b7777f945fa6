"""The onnxruntime CPU session every ONNX runner opens (edge_runtime.runners, edge_runtime.text_runner)."""
from __future__ import annotations

from pathlib import Path

from edgecore import UnsupportedError


def cpu_session(path: str | Path, threads: int, what: str, fix: str, custom_ops: str | None = None):
    """(onnxruntime CPU session of `path`, its options): `threads` intra-op threads, sequential; `custom_ops` a library
    to register first (onnxruntime-extensions). A file it cannot load is an UnsupportedError saying it is not `what`."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if custom_ops:
        options.register_custom_ops_library(custom_ops)
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]), options
    except Exception as e:  # onnxruntime raises its own exception types for unreadable models
        first = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise UnsupportedError(f"{path} is not {what} ({first}); {fix}") from None
