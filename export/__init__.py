"""Convert students (and teachers) to files phones load, and bundle them.

Public verbs: `to_onnx`, `quantize_onnx`, `write_bundle`; `to_tflite` and `to_coreml` load their
heavy converters only when called. Importing this package never imports coremltools or litert-torch.
"""
from export.artifact import Artifact, TensorSpec, tool_versions
from export.bundle import BundleConfig, write_bundle
from export.onnx import OnnxConfig, to_onnx
from export.quantize import PRECISIONS, QuantConfig, quantize_onnx

FORMATS = ("onnx", "tflite", "coreml")


def to_tflite(model, sample, path, config=None, **kwargs) -> Artifact:
    """LiteRT export; see export.tflite (imports litert-torch on first use)."""
    from export import tflite

    return tflite.to_tflite(model, sample, path, config, **kwargs)


def to_coreml(model, sample, path, config=None, **kwargs) -> Artifact:
    """Core ML export; see export.coreml (imports coremltools on first use)."""
    from export import coreml

    return coreml.to_coreml(model, sample, path, config, **kwargs)


__all__ = ["Artifact", "BundleConfig", "FORMATS", "OnnxConfig", "PRECISIONS", "QuantConfig", "TensorSpec",
           "quantize_onnx", "to_coreml", "to_onnx", "to_tflite", "tool_versions", "write_bundle"]
