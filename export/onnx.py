"""PyTorch -> ONNX, validated against the source before the file is put in place.

Any module whose forward takes int64 token tensors (input_ids, attention_mask[, token_type_ids])
and returns logits, or a Hugging Face sequence classifier (its `.logits` is taken), exports with
dynamic batch and sequence axes and the IO names input_ids / attention_mask / logits. A siamese
student of sentence pairs also takes pair_input_ids / pair_attention_mask, on their own
`pair_sequence` axis (each side may be padded to its own width).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgecore import ConfigError, OutputExistsError, ParityError
from edgecore.tolerances import tolerance
from export.artifact import Artifact, TensorSpec, tool_versions

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids", "pair_input_ids", "pair_attention_mask")


@dataclass(frozen=True)
class OnnxConfig:
    """How to_onnx exports: the ONNX opset and which torch exporter (the legacy TorchScript one by default).

    >>> to_onnx(student, encoder.encode(["a fine film"]), "student.onnx", OnnxConfig(opset=17))  # doctest: +SKIP
    """
    opset: int = 17
    dynamo: bool = False   # the legacy TorchScript exporter: <1 s, fp32 diff ~1e-6 on our models
    eager_attention: bool = True   # export a Hugging Face model's attention as the eager kernel: onnxruntime fuses it (int8 Attention)

    def __post_init__(self) -> None:
        if not 13 <= self.opset <= 21:
            raise ConfigError(f"opset must be in 13..21 (got {self.opset}); 17 is the tested default")


class LogitsOnly(torch.nn.Module):
    """Positional token tensors in, logits out: the one signature every exported model has."""

    def __init__(self, model: torch.nn.Module, names: tuple[str, ...]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        out = self.model(**dict(zip(self.names, tensors)))
        return getattr(out, "logits", out)


@contextlib.contextmanager
def _eager_attention(model, on: bool = True):
    """A Hugging Face model's attention as the eager kernel while exporting (then as it was): the eager graph is the
    pattern onnxruntime's transformer optimizer fuses into Attention (export/quantize.py fuse_transformer)."""
    config = getattr(model, "config", None)
    previous = getattr(config, "_attn_implementation", None)
    switch = on and previous not in (None, "eager") and hasattr(model, "set_attn_implementation")
    if switch:
        model.set_attn_implementation("eager")
    try:
        yield
    finally:
        if switch:
            model.set_attn_implementation(previous)


def to_onnx(model: torch.nn.Module, sample: dict[str, torch.Tensor], path: str | Path, config: OnnxConfig = OnnxConfig(),
            metadata: dict[str, str] | None = None, validate_with: list[dict[str, torch.Tensor]] | None = None,
            force: bool = False) -> Artifact:
    """Export `model` to ONNX at `path`, check it against PyTorch on `sample` (+ `validate_with`), return its Artifact.

    >>> art = to_onnx(student, encoder.encode(["a fine film"]), "student.onnx")  # doctest: +SKIP
    >>> art.validation["max_abs_logit_diff"] < 1e-3                               # doctest: +SKIP
    True
    """
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists; pass force=True (--force) to replace it")
    names = tuple(n for n in INPUT_NAMES if n in sample)
    unknown = set(sample) - set(INPUT_NAMES)
    if "input_ids" not in names or unknown:
        raise ConfigError(f"sample must hold input_ids (+ attention_mask, token_type_ids, or the siamese pair_input_ids, "
                          f"pair_attention_mask); got {sorted(sample)}")
    wrapper = LogitsOnly(model, names).eval()
    args = tuple(sample[n] for n in names)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.onnx", dir=path.parent)
    os.close(fd)
    try:
        with _eager_attention(model, config.eager_attention):   # sdpa exports a NaN guard onnxruntime's attention fusion does not recognise; same function
            _export(wrapper, args, names, tmp, config)
            wrapper.eval()  # the legacy exporter restores the wrapper's previous mode, which may be train
            feeds = [sample, *(validate_with or [])]
            validation = check_against_torch(wrapper, names, tmp, feeds, "fp32")
        import onnx

        proto = onnx.load(tmp)
        tools = tool_versions("torch", "onnx", "onnxruntime")
        meta = {**(metadata or {}), "edgedistill.precision": "fp32", "edgedistill.source": type(model).__name__,
                **{f"tool.{k}": v for k, v in tools.items()}}
        set_metadata(proto, meta)
        onnx.save(proto, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return artifact_for(path, "fp32", tools, meta, validation)


def _export(wrapper, args, names, out: str, config: OnnxConfig) -> None:
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if config.dynamo:
            batch, seq, pair_seq = torch.export.Dim("batch"), torch.export.Dim("sequence"), torch.export.Dim("pair_sequence")
            torch.onnx.export(wrapper, args, out, input_names=list(names), output_names=["logits"], dynamo=True,
                              dynamic_shapes=tuple({0: batch, 1: pair_seq if n.startswith("pair_") else seq} for n in names),
                              opset_version=max(config.opset, 18),
                              verbose=False)
        else:
            axes = {n: {0: "batch", 1: "pair_sequence" if n.startswith("pair_") else "sequence"} for n in names} | {"logits": {0: "batch"}}
            torch.onnx.export(wrapper, args, out, input_names=list(names), output_names=["logits"], dynamo=False,
                              dynamic_axes=axes, opset_version=config.opset)


def check_against_torch(wrapper: torch.nn.Module, names, onnx_path: str, feeds: list[dict[str, torch.Tensor]], precision: str,
                        session_options=None) -> dict:
    """Run the ONNX file and the module on the same feeds; raise ParityError past the tolerance."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_path, session_options or ort.SessionOptions(), providers=["CPUExecutionProvider"])
    diffs, same, total = [], 0, 0
    for feed in feeds:
        with torch.no_grad():
            ref = wrapper(*(feed[n] for n in names)).float().numpy()
        got = session.run(["logits"], {n: feed[n].numpy() for n in names})[0].astype(np.float32)
        diffs.append(np.abs(got - ref).max(initial=0.0))
        same += int((got.argmax(1) == ref.argmax(1)).sum())
        total += len(ref)
    report = {"max_abs_logit_diff": float(max(diffs)), "agreement": same / max(1, total), "sentences": total}
    tol = tolerance("onnx", precision)
    if report["max_abs_logit_diff"] > tol.max_abs_logit_diff:
        raise ParityError(f"ONNX {precision} export differs from PyTorch by {report['max_abs_logit_diff']:.3g} "
                          f"(tolerance {tol.max_abs_logit_diff:g}: {tol.reason})")
    return report


def set_metadata(proto, meta: dict[str, str]) -> None:
    existing = {p.key: p for p in proto.metadata_props}
    for key, value in meta.items():
        if key in existing:
            existing[key].value = str(value)
        else:
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, str(value)


def read_metadata(path: str | Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def io_spec(path: str | Path) -> tuple[list[TensorSpec], list[TensorSpec]]:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    names = {1: "float32", 7: "int64", 6: "int32", 10: "float16"}

    def spec(v) -> TensorSpec:
        t = v.type.tensor_type
        dims = tuple(d.dim_param or d.dim_value for d in t.shape.dim)
        return TensorSpec(v.name, names.get(t.elem_type, str(t.elem_type)), dims)

    inits = {i.name for i in proto.graph.initializer}
    return [spec(v) for v in proto.graph.input if v.name not in inits], [spec(v) for v in proto.graph.output]


def artifact_for(path: Path, precision: str, tools: dict, meta: dict, validation: dict) -> Artifact:
    inputs, outputs = io_spec(path)
    return Artifact.for_file(path, "onnx", precision, inputs, outputs, tools, meta, validation)
