"""One protocol over every backend: `runner(feeds) -> logits`, plus `.info`.

`load()` picks the backend from the file (or the bundle's default model). LiteRT and Core ML runners
live in their own modules and import their heavy libraries only when such a file is loaded.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_runtime.protocol import Runner, RunnerInfo
from edgecore import UnsupportedError


class OnnxRunner:
    """onnxruntime on CPU, honouring the graph optimization level recorded in the file's metadata.

    >>> runner = OnnxRunner("student.int8.onnx", threads=1)              # doctest: +SKIP
    >>> runner(bundle.encode(["a fine film"])).shape                      # doctest: +SKIP
    (1, 2)
    """

    def __init__(self, path: str | Path, threads: int = 1, precision: str | None = None) -> None:
        import onnxruntime as ort

        t0 = time.perf_counter()
        from edge_runtime._ort import cpu_session

        self.session, options = cpu_session(path, threads, "a model onnxruntime can load", "re-export it with `edgedistill export`")
        meta = self.session.get_modelmeta().custom_metadata_map
        level = meta.get("edgedistill.session.graph_optimization_level", "all")
        if level != "all":  # rebuild: the level must be set before the session is created
            options.graph_optimization_level = {"extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                                "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC}[level]
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.info = RunnerInfo("onnx", precision or meta.get("edgedistill.precision", "fp32"), threads, "CPUExecutionProvider",
                               str(path), (time.perf_counter() - t0) * 1e3, {"graph_optimization_level": level})

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(["logits"], {n: feeds[n] for n in self.input_names})[0]


class TorchRunner:
    """A PyTorch module (student or Hugging Face classifier) behind the same call.

    >>> runner = TorchRunner(student, threads=1)                          # doctest: +SKIP
    >>> runner(encoder.encode_np(["a fine film"])).shape                  # doctest: +SKIP
    (1, 2)
    """

    def __init__(self, model, threads: int = 1, name: str = "pytorch") -> None:
        import inspect

        import torch

        self.model = model.eval()
        self.threads = threads
        accepted = inspect.signature(model.forward).parameters
        self.input_names = tuple(n for n in ("input_ids", "attention_mask", "token_type_ids", "pair_input_ids", "pair_attention_mask")
                                 if n in accepted)
        self.info = RunnerInfo("pytorch", "fp32", threads, "torch-cpu", name)
        self._torch = torch

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        torch = self._torch
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        with torch.inference_mode():
            out = self.model(**{n: torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in self.input_names if n in feeds})
        return getattr(out, "logits", out).float().numpy()


def load(path: str | Path, threads: int = 1, precision: str | None = None, fmt: str | None = None) -> Runner:
    """A runner for a model file or a bundle folder (its default model, or the one matching precision/fmt).

    >>> runner = load("runs/demo/bundle", threads=1)  # doctest: +SKIP
    >>> runner(feeds).shape                             # doctest: +SKIP
    (1, 2)
    """
    from edge_runtime.bundle import Bundle

    path = Path(path)
    if not path.exists():
        raise UnsupportedError(f"{path} does not exist; give a .onnx/.tflite/.mlpackage/.pte file or a bundle folder")
    if (path / "manifest.json").is_file() or path.suffix == ".zip":
        bundle = Bundle.open(path)
        entry = bundle.model_entry(precision, fmt)
        runner = load(bundle.resolve(entry["file"]), threads, entry["precision"])
        if bundle.temporary:
            runner.bundle = bundle   # a .zip's extracted copy (runner.info.path lies in it) lives as long as the runner
        return runner
    return _loader(path)(path, threads, precision)


def _loader(path: Path) -> Callable[..., Runner]:
    suffix = path.suffix
    if path.name.endswith((".text.onnx", ".mediapipe.tflite")):   # files that take the raw string (edge_runtime.text_runner)
        from edge_runtime.text_runner import MediaPipeTextRunner, TextOnnxRunner

        return TextOnnxRunner if suffix == ".onnx" else MediaPipeTextRunner
    if suffix == ".onnx":
        return OnnxRunner
    if suffix == ".tflite":
        from edge_runtime.litert import LiteRTRunner

        return LiteRTRunner
    if suffix == ".mlpackage":
        from edge_runtime.coreml import CoreMLRunner

        return CoreMLRunner
    if suffix == ".pte":
        from edge_runtime.executorch import ExecuTorchRunner

        return ExecuTorchRunner
    raise UnsupportedError(f"{path.name}: unknown model file type {suffix!r}; choose a .onnx, .tflite, .mlpackage or .pte file, or a bundle folder")


def logits_for_texts(runner: Runner, encode: Callable[[list[str]], dict[str, np.ndarray]], texts: list[str], batch_size: int = 32) -> np.ndarray:
    """Run `texts` through a runner in length-sorted batches (little padding), logits in input order.

    >>> logits = logits_for_texts(load("runs/demo/bundle"), bundle.encode, test_texts)  # doctest: +SKIP
    >>> logits.shape                                                                      # doctest: +SKIP
    (2000, 2)
    """
    size = lambda t: len(t) if isinstance(t, str) else sum(map(len, t))   # a sentence pair counts both texts
    order = sorted(range(len(texts)), key=lambda i: size(texts[i]))
    out: list[np.ndarray | None] = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        logits = runner(encode([texts[i] for i in chunk]))
        for i, row in zip(chunk, logits):
            out[i] = row
    return np.stack(out).astype(np.float32)
