"""Runners for files that take the raw text: `runner({"text": array of str}) -> (B, C)` float32, one string per call.

- `TextOnnxRunner`: a string-input ONNX file (`*.text.onnx`, export.text_input) in onnxruntime with the
  onnxruntime-extensions library registered, which holds the tokenizer op; returns the file's `logits`.
- `MediaPipeTextRunner`: a .tflite with MediaPipe Tasks metadata (`*.mediapipe.tflite`, export.mediapipe) in
  `mediapipe.tasks.python.text.TextClassifier`; returns its scores (the file's softmax, or sigmoid for multi-label),
  one column per label in the metadata's label order.

Input rules, the same for both and for the ids-input files: a row is a `str` or UTF-8 `bytes`; bytes that are not
valid UTF-8, or a str holding a lone surrogate (which has no UTF-8 form), raise DataError naming the row; a text
longer than max_len tokens is truncated to its first max_len - 2 word pieces plus [CLS]/[SEP], as the bundle's
tokenizer does for the ids-input files. The libraries load only when such a file is loaded.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edge_runtime.protocol import RunnerInfo
from edgecore import DataError, UnsupportedError

TEXT_INPUT = "text"


def as_text(row, index: int) -> str:
    """One row as a str that has a UTF-8 form, else DataError naming the row."""
    if isinstance(row, bytes | bytearray | np.bytes_):
        try:
            return bytes(row).decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"text row {index} is not valid UTF-8 ({e.reason} at byte {e.start}); decode it to str first") from None
    if not isinstance(row, str):
        raise DataError(f"text row {index} is a {type(row).__name__}, not a str or UTF-8 bytes")
    try:
        row.encode("utf-8")
    except UnicodeEncodeError as e:
        raise DataError(f"text row {index} holds an unpaired surrogate at character {e.start}, which has no UTF-8 form; clean the text") from None
    return row


def text_feeds(texts: list) -> dict[str, np.ndarray]:
    """The feeds of a text runner: {"text": object array of the texts} (the `encode` of logits_for_texts).

    >>> logits_for_texts(load("model.fp32.text.onnx"), text_feeds, texts)   # doctest: +SKIP
    """
    if any(isinstance(t, tuple) for t in texts):
        raise UnsupportedError("a string-input file classifies single texts; sentence pairs need the ids-input files")
    out = np.empty(len(texts), dtype=object)
    out[:] = list(texts)
    return {TEXT_INPUT: out}


def _rows(feeds: dict) -> list[str]:
    if TEXT_INPUT not in feeds:
        raise UnsupportedError(f"a string-input file takes {{'text': [...]}}; got feeds {sorted(feeds)} (use text_runner.text_feeds)")
    return [as_text(row, i) for i, row in enumerate(np.asarray(feeds[TEXT_INPUT], dtype=object).reshape(-1))]


def scores_to_logits(scores: np.ndarray, metadata: dict) -> np.ndarray:
    """A MediaPipe file's scores back on the logit scale parity compares: log p for softmax (the logits up to a per-row
    constant, so decisions and softmax are exact), log(p / (1 - p)) for sigmoid; other files' outputs pass through."""
    kind = metadata.get("edgedistill.outputs")
    if kind not in ("softmax", "sigmoid"):
        return scores
    p = np.clip(scores.astype(np.float64), 1e-12, 1 - 1e-12)
    return (np.log(p) if kind == "softmax" else np.log(p) - np.log1p(-p)).astype(np.float32)


class TextOnnxRunner:
    """onnxruntime on CPU with onnxruntime-extensions' custom ops, one string per run.

    >>> runner = TextOnnxRunner("model.fp32.text.onnx")                  # doctest: +SKIP
    >>> runner(text_feeds(["a fine film"])).shape                          # doctest: +SKIP
    (1, 2)
    """

    input_names = (TEXT_INPUT,)

    def __init__(self, path: str | Path, threads: int = 1, precision: str | None = None) -> None:
        from onnxruntime_extensions import get_library_path

        from edge_runtime._ort import cpu_session

        t0 = time.perf_counter()
        self.session, _ = cpu_session(path, threads, "a string-input model onnxruntime-extensions can load", "re-export it",
                                      custom_ops=get_library_path())
        inputs = self.session.get_inputs()
        if [i.name for i in inputs] != [TEXT_INPUT] or inputs[0].type != "tensor(string)":
            raise UnsupportedError(f"{path} takes {[(i.name, i.type) for i in inputs]}, not one string `text`; load it with runners.load")
        meta = self.session.get_modelmeta().custom_metadata_map
        self.info = RunnerInfo("onnx", precision or meta.get("edgedistill.precision", "fp32"), threads, "CPUExecutionProvider+ortextensions",
                               str(path), (time.perf_counter() - t0) * 1e3, {"input": TEXT_INPUT, "tokenizer_op": meta.get("edgedistill.tokenizer_op", "")})

    def __call__(self, feeds: dict) -> np.ndarray:
        rows = [self.session.run(["logits"], {TEXT_INPUT: np.array([text], dtype=object)})[0][0] for text in _rows(feeds)]
        return np.stack(rows).astype(np.float32)


class MediaPipeTextRunner:
    """MediaPipe Tasks' TextClassifier (CPU) on a .tflite with its metadata; scores in label order.

    >>> runner = MediaPipeTextRunner("model.fp32.mediapipe.tflite")      # doctest: +SKIP
    >>> runner(text_feeds(["a fine film"])).sum()                         # doctest: +SKIP
    1.0
    """

    input_names = (TEXT_INPUT,)

    def __init__(self, path: str | Path, threads: int = 1, precision: str | None = None, labels: list[str] | None = None) -> None:
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.text import text_classifier

        t0 = time.perf_counter()
        self.path = Path(path)
        options = text_classifier.TextClassifierOptions(base_options=BaseOptions(model_asset_path=str(self.path)), max_results=-1)
        try:
            self.classifier = text_classifier.TextClassifier.create_from_options(options)
        except Exception as e:   # MediaPipe raises RuntimeError / ValueError with its graph's status text
            first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise UnsupportedError(f"{self.path} is not a model MediaPipe's TextClassifier can load ({first}); re-export it") from None
        import weakref

        # closed with the runner, and at the latest at exit while MediaPipe's modules still exist (its __del__ then fails)
        self._close = weakref.finalize(self, self.classifier.close)
        self.labels = list(labels) if labels else None
        self.info = RunnerInfo("tflite", precision or "fp32", threads, "mediapipe-tasks-text-classifier", str(self.path),
                               (time.perf_counter() - t0) * 1e3, {"input": TEXT_INPUT})

    def __call__(self, feeds: dict) -> np.ndarray:
        rows = []
        for text in _rows(feeds):
            head = self.classifier.classify(text).classifications[0]
            scores = {c.index: c.score for c in head.categories}
            if self.labels is None:   # the first call fixes the label order from the metadata's label file
                names = {c.index: c.category_name for c in head.categories}
                self.labels = [names[i] for i in range(len(names))]
            rows.append([scores[i] for i in range(len(self.labels))])
        return np.asarray(rows, dtype=np.float32)

    def close(self) -> None:
        self._close()
