"""Convert students (and teachers) to files phones load, and bundle them.

Public verbs: `to_onnx`, `quantize_onnx`, `write_bundle`; `to_tflite` and `to_coreml` load their
heavy converters only when called. Importing this package never imports coremltools or litert-torch.
Every file is checked against PyTorch before it is put in place; TFLite and Core ML files are run
through edge_runtime's runners for that.
"""
from edgecore import formats
from export.artifact import Artifact, TensorSpec, tool_versions
from export.bundle import BundleConfig, write_bundle
from export.onnx import OnnxConfig, to_onnx
from export.quantize import PRECISIONS, QuantConfig, quantize_onnx  # PRECISIONS: the ONNX ones, formats.PRECISIONS["onnx"]

#: The formats export writes, in the order a bundle lists them (edgecore.formats is the one table).
FORMATS = formats.EXPORT_FORMATS


def to_tflite(model, sample, path, config=None, **kwargs) -> Artifact:
    """Convert `model` to a multi-bucket .tflite at `path`, checked against PyTorch (export.tflite; imports litert-torch on first use).

    >>> art = to_tflite(student, encoder.encode(["a fine film"]), "student.fp32.tflite", TFLiteConfig(buckets=(16, 64)))  # doctest: +SKIP
    >>> art.validation["max_abs_logit_diff"] < 1e-3                                                                     # doctest: +SKIP
    True
    """
    from export import tflite

    return tflite.to_tflite(model, sample, path, config, **kwargs)


def to_coreml(model, sample, path, config=None, **kwargs) -> Artifact:
    """Convert `model` to a Core ML .mlpackage at `path`, checked against PyTorch (export.coreml; imports coremltools on first use).

    >>> art = to_coreml(student, encoder.encode(["a fine film"]), "student.int8.mlpackage",
    ...                 CoreMLConfig("int8", labels=("negative", "positive")))          # doctest: +SKIP
    >>> art.validation["agreement"] >= 0.995                                            # doctest: +SKIP
    True
    """
    from export import coreml

    return coreml.to_coreml(model, sample, path, config, **kwargs)


__all__ = ["Artifact", "BundleConfig", "FORMATS", "OnnxConfig", "PRECISIONS", "QuantConfig", "TensorSpec",
           "quantize_onnx", "to_coreml", "to_onnx", "to_tflite", "tool_versions", "write_bundle"]
