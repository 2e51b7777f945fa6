from collections import Counter

import numpy as np
import onnx
import pytest

from distill.teacher import load_classifier
from edgecore import ConfigError, UnsupportedError
from edgecore.tolerances import tolerance
from export import QuantConfig, quantize_onnx, to_onnx


def _feeds(encoder, sentences):
    return [{k: v.numpy() for k, v in encoder.encode(sentences[i:i + 8]).items()} for i in range(0, 32, 8)]


def _ops(path):
    return Counter(n.op_type for n in onnx.load(path).graph.node)


def test_dynamic_int8_quantizes_lstm_and_embeddings(tiny_student, encoder, sentences, tmp_path):
    fp32 = to_onnx(tiny_student, encoder.encode(sentences[:2]), tmp_path / "s.onnx")
    int8 = quantize_onnx(fp32, tmp_path / "s.int8.onnx", QuantConfig("int8"), validate_with=_feeds(encoder, sentences))
    ops = _ops(int8.path)
    assert ops["DynamicQuantizeLSTM"] == 2 and ops["LSTM"] == 0        # both directions
    eight_bit = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)   # onnxruntime stores a quantized Gather table as uint8
    int8_inits = [i for i in onnx.load(int8.path).graph.initializer if i.data_type in eight_bit]
    assert any(np.prod(i.dims) == encoder.settings.vocab_size * 16 for i in int8_inits)  # the embedding table
    assert int8.size_bytes < fp32.size_bytes / 3
    tol = tolerance("onnx", "int8")
    assert int8.validation["max_abs_logit_diff"] < tol.max_abs_logit_diff and int8.validation["within_tolerance"]
    assert int8.metadata["edgedistill.precision"] == "int8"


def test_fp16_keeps_fp32_io_and_agrees(tiny_student, encoder, sentences, tmp_path):
    fp32 = to_onnx(tiny_student, encoder.encode(sentences[:2]), tmp_path / "s.onnx")
    fp16 = quantize_onnx(fp32, tmp_path / "s.fp16.onnx", QuantConfig("fp16"), validate_with=_feeds(encoder, sentences))
    proto = onnx.load(fp16.path)
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in proto.graph.initializer)
    assert fp16.outputs[0].dtype == "float32"
    assert fp16.validation["max_abs_logit_diff"] < tolerance("onnx", "fp16").max_abs_logit_diff
    assert fp16.metadata["edgedistill.session.graph_optimization_level"] == "extended"


def test_transformer_is_fused_then_quantized(tiny_bert_dir, encoder, sentences, tmp_path):
    fp32 = to_onnx(load_classifier(tiny_bert_dir), encoder.encode(sentences[:2]), tmp_path / "t.onnx")
    int8 = quantize_onnx(fp32, tmp_path / "t.int8.onnx", QuantConfig("int8", transformer=True), validate_with=_feeds(encoder, sentences))
    ops = _ops(int8.path)
    assert ops["MatMulInteger"] + ops["DynamicQuantizeMatMul"] > 0
    assert ops["Attention"] + ops["MultiHeadAttention"] + ops["SkipLayerNormalization"] > 0   # fusions happened
    assert int8.validation["agreement"] >= 0.9


def test_sensitive_teacher_matmuls_can_stay_fp32(tiny_bert_dir, encoder, sentences, tmp_path):
    from export.quantize import TEACHER_SENSITIVE

    fp32 = to_onnx(load_classifier(tiny_bert_dir), encoder.encode(sentences[:2]), tmp_path / "t.onnx")
    all_int8 = quantize_onnx(fp32, tmp_path / "a.onnx", QuantConfig("int8", transformer=True, per_channel=True))
    mixed = quantize_onnx(fp32, tmp_path / "m.onnx", QuantConfig("int8", transformer=True, per_channel=True, keep_fp32=TEACHER_SENSITIVE),
                          validate_with=_feeds(encoder, sentences))
    kept = mixed.metadata["edgedistill.kept_fp32"].split(",")
    assert len(kept) == 4   # the tiny BERT has 2 blocks: 2 x (intermediate, output)
    float_matmuls = {n.name for n in onnx.load(mixed.path).graph.node if n.op_type == "MatMul"}
    assert set(kept) <= float_matmuls
    assert _ops(all_int8.path)["MatMulInteger"] - _ops(mixed.path)["MatMulInteger"] == 4
    assert mixed.size_bytes > all_int8.size_bytes and mixed.validation["agreement"] >= 0.9
    with pytest.raises(ConfigError, match="match no node"):
        quantize_onnx(fp32, tmp_path / "x.onnx", QuantConfig("int8", transformer=True, keep_fp32=("layer.9/nothing",)))
    assert not (tmp_path / "x.onnx").exists()


def test_static_int8_needs_calibration_and_uses_qdq(tiny_student, encoder, sentences, tmp_path):
    fp32 = to_onnx(tiny_student, encoder.encode(sentences[:2]), tmp_path / "s.onnx")
    with pytest.raises(ConfigError, match="calibration"):
        quantize_onnx(fp32, tmp_path / "x.onnx", QuantConfig("int8-static"))
    calib = [{k: v.numpy() for k, v in encoder.encode([s]).items()} for s in sentences[:16]]
    static = quantize_onnx(fp32, tmp_path / "s.static.onnx", QuantConfig("int8-static"), calibration=calib, validate_with=_feeds(encoder, sentences))
    assert _ops(static.path)["QuantizeLinear"] > 0


def test_unknown_precision_lists_choices():
    with pytest.raises(UnsupportedError, match="fp16, int8, int8-static"):
        QuantConfig("int4")
