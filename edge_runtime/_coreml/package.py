"""A saved .mlpackage behind one call: (B, T) token ids in, (B, C) float32 logits out.

Two backends compute the same thing: Core ML's own `predict()` (macOS only) and the numpy MIL
evaluator (anywhere). Our packages take batch 1 and a flexible or bucketed sequence length, so a batch
runs row by row; a row shorter than the package's smallest allowed length, or than a bucket, is
right-padded with the pad id and a zero mask (every exported model here ignores masked positions).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge_runtime._coreml._ct import coremltools, has_predict
from edge_runtime._coreml.evaluator import MILEvaluator, load_program
from edge_runtime._coreml.spec import io_specs
from edgecore import UnsupportedError

NUMPY = "mil-numpy-evaluator"
PREDICT = "coreml-predict"
BACKENDS = ("auto", NUMPY, PREDICT)


class PackageRunner:
    def __init__(self, path: str | Path, backend: str = "auto", compute_units: str = "CPU_ONLY") -> None:
        if backend not in BACKENDS:
            raise UnsupportedError(f"backend {backend!r} is not known; choose one of {', '.join(BACKENDS)}")
        self.path = Path(path)
        program, spec = load_program(self.path)
        self.inputs, self.outputs = io_specs(spec)
        self.input_names = tuple(i["name"] for i in self.inputs)
        names = [o["name"] for o in self.outputs]
        self.output_name = "logits" if "logits" in names else names[0]
        self.metadata = dict(spec.description.metadata.userDefined)
        tokenizer = json.loads(self.metadata.get("edgedistill.tokenizer", "{}") or "{}")
        self.pad_id = int(tokenizer.get("pad_id", 0))
        self.batch_one = _batch_is_one(self.inputs[0])
        self.lengths = _allowed_lengths(self.inputs[0])
        self.backend = (PREDICT if has_predict() else NUMPY) if backend == "auto" else backend
        self.evaluator = MILEvaluator(program) if self.backend == NUMPY else None
        self.model = None
        if self.backend == PREDICT:
            if not has_predict():
                raise UnsupportedError("Core ML predict() needs macOS with coremltools' native runtime; use backend "
                                       f"{NUMPY!r} on this machine")
            ct = coremltools()
            self.model = ct.models.MLModel(str(self.path), compute_units=getattr(ct.ComputeUnit, compute_units))

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        missing = [n for n in self.input_names if n not in feeds]
        if missing:
            raise UnsupportedError(f"{self.path.name} needs inputs {', '.join(self.input_names)}; missing {', '.join(missing)}")
        arrays = {n: np.asarray(feeds[n]) for n in self.input_names}
        batch = next(iter(arrays.values())).shape[0]
        if not self.batch_one:
            return self.run(self._fit(arrays))
        return np.concatenate([self.run(self._fit({n: a[b:b + 1] for n, a in arrays.items()})) for b in range(batch)], axis=0)

    def run(self, feeds: dict[str, np.ndarray], backend: str | None = None) -> np.ndarray:
        """One already-fitted input set through `backend` (default: this runner's)."""
        backend = backend or self.backend
        if backend == PREDICT:
            out = self.model.predict(feeds)[self.output_name]
        else:
            if self.evaluator is None:
                self.evaluator = MILEvaluator(load_program(self.path)[0])
            out = self.evaluator(feeds)[self.output_name]
        return np.asarray(out, dtype=np.float32)

    def _fit(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """int32, and padded up to an allowed length (the next bucket, or the range's lower bound)."""
        width = next(iter(feeds.values())).shape[1]
        kind, allowed = self.lengths
        if kind == "range":
            lower, upper = allowed
            if upper != -1 and width > upper:
                raise UnsupportedError(f"{width} tokens exceed this package's maximum sequence length {upper}; "
                                       f"truncate to {upper} (the bundle's tokenizer max_len does)")
            target = max(width, lower)
        else:
            fits = [b for b in allowed if b >= width]
            if not fits:
                raise UnsupportedError(f"{width} tokens exceed this package's largest bucket {max(allowed)}; truncate to it")
            target = fits[0]
        out = {}
        for name, arr in feeds.items():
            arr = arr.astype(np.int32, copy=False)
            if target > width:
                fill = self.pad_id if name.endswith("input_ids") else 0
                arr = np.pad(arr, ((0, 0), (0, target - width)), constant_values=fill)
            out[name] = np.ascontiguousarray(arr)
        return out


def _batch_is_one(spec: dict) -> bool:
    if "enumerated" in spec:
        return all(s[0] == 1 for s in spec["enumerated"])
    if "ranges" in spec:
        return spec["ranges"][0] == [1, 1]
    return spec["shape"][0] == 1


def _allowed_lengths(spec: dict) -> tuple[str, list[int]]:
    if "enumerated" in spec:
        return "buckets", sorted({s[1] for s in spec["enumerated"]})
    if "ranges" in spec:
        return "range", list(spec["ranges"][1])
    return "range", [spec["shape"][1], spec["shape"][1]]
