"""LiteRT (TFLite) runner: ai-edge-litert's Interpreter behind the one runner protocol.

A file written by export.tflite holds one signature per sequence-length bucket (`seq16`, `seq32`,
...; batch 1, int32 inputs). The runner reads the buckets from the signatures themselves, runs each
row of a (B, T) batch in the smallest bucket >= its length, right-padded with attention_mask 0, and
returns (B, C) float32 logits. Padding is masked in the models, so the bucket does not change the
answer. Files whose fused LSTM keeps state in TFLite variable tensors carry
`edgedistill.tflite.reset_variables = "true"` in their metadata; the runner then resets them before
every invoke (an app must do the same: Interpreter.resetVariableTensors() on Android).
"""
from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import numpy as np

from edge_runtime.protocol import RunnerInfo
from edgecore import CheckpointError, UnsupportedError

METADATA_NAME = "edgedistill"


def _corrupt(path: str | Path, detail: str) -> CheckpointError:
    detail = (detail.strip().splitlines() or [""])[0][:160]
    return CheckpointError(f"{path} cannot be loaded as a .tflite model ({detail}); it is damaged (truncated or corrupt) or not "
                           "an edgedistill export: re-export it with `edgedistill export --format tflite`")


def read_tflite_metadata(path: str | Path) -> dict:
    """The JSON metadata entry "edgedistill" of a .tflite file ({} when absent), read without unpacking the weights.
    A file that cannot be parsed (truncated, bit-flipped) raises CheckpointError. The Python flatbuffer reader does not
    verify offsets: open the file with the Interpreter (which verifies it) first when it may be damaged."""
    from ai_edge_litert import schema_py_generated as schema

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read {path} ({e.strerror or e}); check the path and its permissions") from None
    try:
        root = schema.Model.GetRootAsModel(data, 0)
        for i in range(root.MetadataLength()):
            entry = root.Metadata(i)
            if entry.Name().decode() == METADATA_NAME:
                meta = json.loads(root.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode())
                break
        else:
            return {}
    except (struct.error, UnicodeDecodeError, ValueError, AttributeError, TypeError, IndexError, OverflowError) as e:
        # ValueError covers json.JSONDecodeError; AttributeError/TypeError: a missing table or vector (offset 0)
        raise _corrupt(path, f"its {METADATA_NAME!r} metadata cannot be read: {type(e).__name__}: {e}") from None
    if not isinstance(meta, dict):
        raise _corrupt(path, f"its {METADATA_NAME!r} metadata is a JSON {type(meta).__name__}, not an object")
    return meta


class _DirectSignature:
    """Set inputs, invoke, read the output of one signature without SignatureRunner's per-call resize and
    AllocateTensors (~0.3-0.6 ms on a WHILE-loop model here; every shape is fixed, so they never change
    anything). Uses the pinned ai-edge-litert's SignatureRunner fields; `of()` returns None when they
    are missing, and the runner then calls the SignatureRunner itself."""

    def __init__(self, wrapper, subgraph: int, inputs: dict, outputs: dict) -> None:
        self.wrapper, self.subgraph, self.inputs, self.outputs = wrapper, subgraph, inputs, outputs

    @classmethod
    def of(cls, runner) -> _DirectSignature | None:
        try:
            return cls(runner._interpreter_wrapper, int(runner._subgraph_index), dict(runner._inputs), dict(runner._outputs))
        except (AttributeError, TypeError, ValueError):
            return None

    def __call__(self, args: dict[str, np.ndarray], output: str) -> np.ndarray:
        for name, value in args.items():
            self.wrapper.SetTensor(self.inputs[name], value, self.subgraph)
        self.wrapper.Invoke(self.subgraph)
        return self.wrapper.GetTensor(self.outputs[output], self.subgraph)


class LiteRTRunner:
    """`runner(feeds) -> logits` over every bucket signature of one .tflite file (Interpreter, CPU, XNNPACK by default)."""

    def __init__(self, path: str | Path, threads: int = 1, precision: str | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        t0 = time.perf_counter()
        self.path = Path(path)
        if self.path.is_file() and self.path.stat().st_size == 0:
            raise _corrupt(self.path, "the file is empty")
        try:   # first: the Interpreter verifies the flatbuffer, read_tflite_metadata's Python reader does not
            self.interpreter = Interpreter(model_path=str(self.path), num_threads=threads)
        except (ValueError, RuntimeError) as e:
            raise _corrupt(self.path, str(e) or type(e).__name__) from None
        self.meta = read_tflite_metadata(self.path)
        self.signatures: dict[int, tuple[str, object, dict]] = {}   # bucket -> (key, SignatureRunner, input dtypes)
        names: tuple[str, ...] | None = None
        try:
            signature_runners = [(key, self.interpreter.get_signature_runner(key)) for key in self.interpreter.get_signature_list()]
        except (ValueError, RuntimeError, KeyError) as e:
            raise _corrupt(self.path, f"its signatures cannot be read: {e}") from None
        for key, runner in signature_runners:
            details = runner.get_input_details()
            if "input_ids" not in details or "attention_mask" not in details:
                raise UnsupportedError(f"{self.path.name}: signature {key!r} has inputs {sorted(details)}; "
                                       "a text classifier needs input_ids and attention_mask (export with export.to_tflite)")
            shape = tuple(int(d) for d in details["input_ids"]["shape"])
            if len(shape) != 2 or shape[0] != 1:
                raise UnsupportedError(f"{self.path.name}: signature {key!r} takes input_ids of shape {shape}; expected (1, length)")
            self.signatures[shape[1]] = (key, runner, {n: d["dtype"] for n, d in details.items()})
            names = names or tuple(n for n in ("input_ids", "attention_mask", "token_type_ids", "pair_input_ids", "pair_attention_mask")
                                   if n in details)
        if not self.signatures:
            raise UnsupportedError(f"{self.path.name} has no signatures; export it with export.to_tflite")
        self.buckets = tuple(sorted(self.signatures))
        self.input_names = names
        self.reset_variables = self.meta.get("edgedistill.tflite.reset_variables") == "true"
        self.output_name = "logits"
        for bucket, (key, runner, dtypes) in self.signatures.items():
            # a signature's subgraph is allocated on its first run; resetting variables needs all of them allocated
            try:
                runner(**{n: np.zeros((1, bucket), dtype=dtypes[n]) for n in self.input_names})
            except (ValueError, RuntimeError) as e:
                raise _corrupt(self.path, f"signature {key!r} fails to run: {e}") from None
        self._direct = {bucket: _DirectSignature.of(runner) for bucket, (_, runner, _) in self.signatures.items()}
        self.info = RunnerInfo("tflite", precision or self.meta.get("edgedistill.precision", "fp32"), threads, "litert-interpreter",
                               str(self.path), (time.perf_counter() - t0) * 1e3,
                               {"buckets": list(self.buckets), "reset_variables": self.reset_variables,
                                "recurrent": self.meta.get("edgedistill.tflite.recurrent", "")})

    def bucket_for(self, length: int) -> int:
        """The smallest bucket that holds `length` tokens."""
        for bucket in self.buckets:
            if bucket >= length:
                return bucket
        raise UnsupportedError(f"a sentence of {length} tokens does not fit the largest bucket ({self.buckets[-1]}) of "
                               f"{self.path.name}; truncate to {self.buckets[-1]} tokens or re-export with a larger bucket")

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        ids = np.asarray(feeds["input_ids"])
        mask = np.asarray(feeds["attention_mask"])
        if ids.ndim != 2 or mask.shape != ids.shape:
            raise UnsupportedError(f"input_ids and attention_mask must share one (B, T) shape; got {ids.shape} and {mask.shape}")
        # tokens needed per row: up to its last unmasked position (padding is trailing; anything after is dropped);
        # a siamese file's bucket holds the longer side of the pair
        used = np.ones(ids.shape[0], dtype=np.int64)
        for m in (np.asarray(feeds[n]) for n in ("attention_mask", "pair_attention_mask") if n in feeds and n in self.input_names):
            used = np.maximum(used, np.where(m.any(axis=1), m.shape[1] - np.argmax(m[:, ::-1] != 0, axis=1), 1))
        rows = []
        for b in range(ids.shape[0]):
            bucket = self.bucket_for(int(used[b]))
            _, runner, dtypes = self.signatures[bucket]
            args = {}
            for name in self.input_names:
                src = feeds.get(name)
                if src is not None and np.shape(src)[1] == bucket:
                    args[name] = np.asarray(src[b: b + 1], dtype=dtypes[name])      # the common case: one cast, no padding
                else:
                    row = np.zeros((1, bucket), dtype=dtypes[name])
                    if src is not None:
                        cut = np.asarray(src[b, :bucket])
                        row[0, : len(cut)] = cut
                    args[name] = row
            if self.reset_variables:
                self.interpreter.reset_all_variables()
            direct = self._direct[bucket]
            try:
                out = direct(args, self.output_name) if direct else runner(**args)[self.output_name]
            except RuntimeError as e:   # the TFLite kernels' own errors (e.g. a damaged constant tensor)
                raise _corrupt(self.path, f"it fails to run: {e}") from None
            rows.append(self._dequantize(runner, out)[0])
        return np.stack(rows)

    def _dequantize(self, runner, value: np.ndarray) -> np.ndarray:
        """Static int8 files may emit quantized logits: map them back with the output's scale and zero point."""
        if np.issubdtype(value.dtype, np.floating):
            return value.astype(np.float32)
        q = runner.get_output_details()[self.output_name]["quantization_parameters"]
        scale, zero = np.asarray(q["scales"], np.float32), np.asarray(q["zero_points"], np.float32)
        if not scale.size:
            return value.astype(np.float32)
        return ((value.astype(np.float32) - zero) * scale).astype(np.float32)
