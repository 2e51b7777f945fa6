"""How far a converted model may drift from its PyTorch source, keyed by (format, precision).

One table for the whole toolkit: export validation and edge_runtime parity both read it. Each value
carries the reason for it; change a number only with a measurement that justifies the new reason.
"""
from __future__ import annotations

from dataclasses import dataclass

from edgecore.errors import UnsupportedError


@dataclass(frozen=True)
class Tolerance:
    max_abs_logit_diff: float   # vs the PyTorch fp32 source, on real sentences
    min_agreement: float        # fraction of sentences with the same argmax as the source
    reason: str


TOLERANCES: dict[tuple[str, str], Tolerance] = {
    ("pytorch", "fp32"): Tolerance(0.0, 1.0, "the source itself"),
    ("onnx", "fp32"): Tolerance(1e-3, 0.999, "same fp32 math in another kernel order: measured ~2e-6; 1e-3 flags real export bugs, not rounding"),
    ("onnx", "fp16"): Tolerance(0.05, 0.999, "fp16 keeps ~3 significant digits; logits of magnitude ~5 move by ~1e-2, rarely across the boundary"),
    ("onnx", "int8"): Tolerance(1.0, 0.995, "dynamic int8 rounds weights to 1/127 of their range; logits move, decisions must not (issue target 99.5%)"),
    ("onnx", "int8-static"): Tolerance(1.5, 0.99, "static int8 also fixes activation ranges from calibration data, so it drifts more than dynamic"),
    ("tflite", "fp32"): Tolerance(1e-3, 0.999, "same fp32 math, XNNPACK kernels"),
    ("tflite", "fp16"): Tolerance(0.05, 0.999, "fp16 weights, fp32 compute: only weight rounding"),
    ("tflite", "int8"): Tolerance(1.0, 0.995, "dynamic-range int8, as for ONNX"),
    ("tflite", "int8-weight"): Tolerance(1.0, 0.995, "weight-only int8: weights dequantised at load"),
    ("tflite", "int8-full"): Tolerance(1.5, 0.99, "static int8 also fixes activation ranges from calibration data, as ONNX int8-static; "
                                                  "export.tflite refuses a file that misses it, with the measured numbers"),
    # coreml: measured on the 2,000 movie test sentences through the numpy MIL evaluator (benchmarks/results/coreml.md):
    # the distilled BiLSTM and a 2-layer MiniLM student (undistilled: 6.9% of its sentences lie within 0.05 of a tie)
    ("coreml", "fp32"): Tolerance(1e-3, 0.999, "same fp32 math: measured max 7e-7 (BiLSTM), 5e-7 (MiniLM-2L); 1e-3 flags export "
                                               "bugs (a length branch frozen by jit.trace: 0.49), not rounding"),
    ("coreml", "fp16"): Tolerance(0.05, 0.999, "fp16 weights and activations: measured max 1.2e-3 (BiLSTM), 1.5e-3 (MiniLM-2L), "
                                               "100% agreement on both; issue target 99.9%"),
    ("coreml", "int8"): Tolerance(0.25, 0.995, "per-channel int8 weights with zero points on fp16 compute: measured max 0.029 "
                                               "(BiLSTM), 0.012 (MiniLM-2L), agreement 99.85% / 99.65%; issue target 99.5%"),
    ("coreml", "palettize4"): Tolerance(1.5, 0.95, "one 16-entry palette per tensor (iOS 17): measured max 0.63, agreement 97.5% "
                                                   "(BiLSTM); the near-tie MiniLM-2L reaches 94% and is refused"),
    ("coreml", "palettize6"): Tolerance(1.0, 0.98, "one 64-entry palette per tensor: measured max 0.22, agreement 99.9% (BiLSTM); "
                                                   "the near-tie MiniLM-2L reaches 97% and is refused"),
    # executorch: XNNPACK delegate through executorch.runtime (tests/export/test_executorch.py, tiny models)
    ("executorch", "fp32"): Tolerance(1e-3, 0.999, "same fp32 math, XNNPACK kernels: measured max ~1e-7 (tiny BERT, BiLSTM, BiGRU); "
                                                   "1e-3 flags export bugs, not rounding"),
    ("executorch", "int8"): Tolerance(1.0, 0.995, "dynamic int8 (per-channel int8 Linear weights, activations quantized at run time), "
                                                  "as ONNX int8; issue target 99.5%"),
}


def tolerance(fmt: str, precision: str) -> Tolerance:
    try:
        return TOLERANCES[(fmt, precision)]
    except KeyError:
        choices = ", ".join(sorted(f"{f}/{p}" for f, p in TOLERANCES))
        raise UnsupportedError(f"no tolerance for {fmt}/{precision}; known format/precision pairs: {choices}") from None


def drift(pairs, fmt: str, precision: str) -> dict:
    """Numbers of a converted file against its source over (reference logits, candidate logits) batches:
    max |logit diff|, argmax agreement, sentence count, and whether both are within the tolerance."""
    import numpy as np

    diffs, same, total = [0.0], 0, 0
    for ref, got in pairs:
        ref, got = np.asarray(ref, dtype=np.float32), np.asarray(got, dtype=np.float32)
        diffs.append(float(np.abs(got - ref).max(initial=0.0)))
        same += int((got.argmax(1) == ref.argmax(1)).sum())
        total += len(ref)
    tol = tolerance(fmt, precision)
    agreement = same / max(1, total)
    return {"max_abs_logit_diff": max(diffs), "agreement": agreement, "sentences": total,
            "within_tolerance": bool(max(diffs) <= tol.max_abs_logit_diff and agreement >= tol.min_agreement)}
