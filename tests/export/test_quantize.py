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


def test_attention_fuses_on_the_eager_export(tiny, feeds, tmp_path):
    """to_onnx exports eager attention; fuse_transformer reads heads and width from the graph and gets Attention (int8: QAttention)."""
    from export.quantize import attention_shape, fuse_transformer

    assert attention_shape(onnx.load(str(tiny.path))) == (4, 32)
    fuse_transformer(str(tiny.path), str(tmp_path / "f.onnx"))
    assert _ops(str(tmp_path / "f.onnx"))["Attention"] == 2
    int8 = quantize_onnx(tiny, tmp_path / "q.onnx", QuantConfig("int8", transformer=True), validate_with=feeds.random(8))
    assert _ops(int8.path)["QAttention"] == 2 and int8.validation["agreement"] >= 0.9


def test_per_token_option_keeps_the_function_and_marks_the_file(tiny, feeds, tmp_path):
    from export.quantize import session

    data = feeds.random(16, seed=3)
    plain = quantize_onnx(tiny, tmp_path / "p.onnx", QuantConfig("int8", transformer=True), validate_with=data)
    per_token = quantize_onnx(tiny, tmp_path / "t.onnx", QuantConfig("int8", transformer=True, per_token=True), validate_with=data)
    ops = _ops(per_token.path)
    assert ops["ReduceMax"] == 2 * 3 and ops["Div"] >= 6   # 2 blocks x (attention output, intermediate, output)
    assert per_token.metadata["edgedistill.per_token"] == "all"
    assert per_token.validation["agreement"] >= 0.9
    ref, got = session(tiny.path), session(per_token.path)
    for f in data:   # int8 drift only: bounded like the plain file's
        assert np.abs(ref.run(["logits"], f)[0] - got.run(["logits"], f)[0]).max() < 4 * plain.validation["max_abs_logit_diff"] + 0.05
    only = quantize_onnx(tiny, tmp_path / "o.onnx", QuantConfig("int8", transformer=True, per_token=("layer.0/output/dense",)))
    assert _ops(only.path)["ReduceMax"] == 1
    with pytest.raises(ConfigError, match="per_token"):
        QuantConfig("int8-static", per_token=True)
    with pytest.raises(ConfigError, match="match no MatMul"):
        quantize_onnx(tiny, tmp_path / "x.onnx", QuantConfig("int8", transformer=True, per_token=("layer.9/nothing",)))


def test_transformer_int8_default_builds(tiny, feeds, tmp_path):
    from export.quantize import TRANSFORMER_INT8

    data = feeds.random(16, seed=5)
    art = quantize_onnx(tiny, tmp_path / "d.onnx", QuantConfig("int8", transformer=True, **TRANSFORMER_INT8), calibration=data, validate_with=data)
    assert art.validation["agreement"] >= 0.9 and _ops(art.path)["QAttention"] == 2


def test_word_embedding_is_int8_per_row(tiny, feeds, tmp_path):
    """The tall Gather table becomes int8 with one scale per row (rows of very different size each keep their precision);
    smaller tables stay fp32; per-tensor is onnxruntime's own quantized Gather."""
    from onnx import numpy_helper

    from export.quantize import EMBEDDING_MIN_ROWS, rowwise_embedding

    model = onnx.load(str(tiny.path))
    table = next(i for i in model.graph.initializer if len(i.dims) == 2 and i.dims[0] == 120)
    assert table.dims[0] < EMBEDDING_MIN_ROWS   # the tiny vocabulary is short: lower the bar for this test
    import export.quantize as q

    q.EMBEDDING_MIN_ROWS, saved = 100, q.EMBEDDING_MIN_ROWS
    try:
        w = numpy_helper.to_array(table).copy()
        w[7] *= 1000.0   # one huge row: a per-tensor step would wipe out the others
        table.CopyFrom(numpy_helper.from_array(w, table.name))
        onnx.save(model, str(tmp_path / "big.onnx"))
        proto = onnx.load(str(tmp_path / "big.onnx"))
        assert len(rowwise_embedding(proto)) == 1
        inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
        qt = next(v for k, v in inits.items() if k.endswith("/RowInt8/table"))
        sc = next(v for k, v in inits.items() if k.endswith("/RowInt8/scale"))
        assert qt.dtype == np.int8 and sc.shape == (120, 1)
        np.testing.assert_allclose(qt * sc, w, atol=float(np.abs(w).max(axis=1, keepdims=True).max()) / 254 + 1e-6)
        row_err = np.abs(qt[3] * sc[3] - w[3]).max()
        assert row_err <= np.abs(w[3]).max() / 254 + 1e-7       # an ordinary row keeps its own 1/254 step
        from export.onnx import artifact_for

        src = artifact_for(tmp_path / "big.onnx", "fp32", {}, {}, {})
        data = feeds.random(12, seed=7)
        per_row = quantize_onnx(src, tmp_path / "r.onnx", QuantConfig("int8", transformer=True, embedding="per-row"), validate_with=data)
        per_tensor = quantize_onnx(src, tmp_path / "t.onnx", QuantConfig("int8", transformer=True, embedding="per-tensor"), validate_with=data)
        assert per_row.metadata["edgedistill.embedding"] == "per-row"
        assert per_row.validation["max_abs_logit_diff"] < per_tensor.validation["max_abs_logit_diff"]
    finally:
        q.EMBEDDING_MIN_ROWS = saved
    with pytest.raises(ConfigError, match="embedding must be"):
        QuantConfig("int8", embedding="int4")
