import json

import pytest
import torch

from edge_runtime.flops import _matmul_macs, count_bert_macs, count_macs, count_onnx_macs, count_rnn_macs, measure_gemm_rates
from edgecore import ConfigError
from export import QuantConfig, quantize_onnx, to_onnx


def test_rnn_formula_by_hand():
    # E=4, H=3, T=5, one layer, both directions: 2 x 5 x 4 gates x 3 x (4 + 3) = 840; head 6x2 + 2x2 = 16
    c = {"cell": "lstm", "embed_dim": 4, "hidden": 3, "layers": 1, "head_hidden": 2, "num_labels": 2}
    m = count_rnn_macs(c, seq_len=5)
    assert m.by_op == {"LSTM": 840, "head": 16} and m.total == 856 and m.int8 == 0
    gru = count_rnn_macs({**c, "cell": "gru", "layers": 2, "projection": 2}, seq_len=5, batch=3)
    # projection 3x5x4x2 = 120; layer 1: 2x3x5x3x3x(2+3) = 1350; layer 2: 2x3x5x3x3x(6+3) = 2430; head 3x16 = 48
    assert gru.by_op == {"projection": 120, "GRU": 3780, "head": 48}
    with pytest.raises(ConfigError, match="choose lstm or gru"):
        count_rnn_macs({**c, "cell": "rnn"}, 5)
    with pytest.raises(ConfigError, match="not an RNN student config"):
        count_rnn_macs({"cell": "lstm"}, 5)


def test_bert_formula_by_hand():
    c = {"hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 2, "id2label": {"0": "a", "1": "b"}}
    m = count_bert_macs(c, seq_len=4)
    # per layer 4x4x8x8 + 2x4x4x8 + 2x4x8x16 = 1024 + 256 + 1024; x2 layers; pooler 64; classifier 16
    assert m.total == 2 * 2304 + 64 + 16


def test_matmul_broadcasting():
    assert _matmul_macs((2, 3), (3, 4)) == 24
    assert _matmul_macs((5, 2, 3), (3, 4)) == 120
    assert _matmul_macs((1, 4, 6, 8), (1, 4, 8, 6)) == 4 * 6 * 8 * 6
    assert _matmul_macs((3,), (3, 4)) == 12


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_onnx_graph_count_equals_the_config_count(cell, encoder, sentences, tmp_path):
    from distill import RNNStudent, RNNStudentConfig

    torch.manual_seed(0)
    config = RNNStudentConfig(vocab_size=encoder.settings.vocab_size, cell=cell, embed_dim=12, hidden=6, head_hidden=5, projection=10,
                              pooling="attention")
    model = RNNStudent(config).eval()
    fp32 = to_onnx(model, encoder.encode(sentences[:2]), tmp_path / "m.onnx")
    int8 = quantize_onnx(fp32, tmp_path / "m.int8.onnx", QuantConfig("int8"))
    for seq, batch in ((7, 1), (40, 2)):
        expected = count_rnn_macs(config.to_dict(), seq, batch)
        graph = count_onnx_macs(fp32.path, seq, batch)
        assert graph.total == expected.total and graph.uncounted == [], (graph.by_op, expected.by_op)
        q = count_onnx_macs(int8.path, seq, batch)
        assert q.total == expected.total and q.uncounted == []
        if cell == "lstm":   # LSTM and the MatMuls are quantized; GRU stays float in onnxruntime's dynamic int8
            assert q.int8 == q.total
        else:
            assert q.by_op.get("GRU") == expected.by_op["GRU"] and q.int8 == q.total - q.by_op["GRU"]


def test_bert_graph_count_equals_the_config_count(tiny_bert_dir, encoder, sentences, tmp_path):
    from transformers import BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(tiny_bert_dir).eval()
    fp32 = to_onnx(model, encoder.encode(sentences[:2]), tmp_path / "t.onnx")
    config = json.loads((tiny_bert_dir / "config.json").read_text())
    assert count_onnx_macs(fp32.path, 16).total == count_bert_macs(config, 16).total == count_macs(tiny_bert_dir, 16).total
    fused = quantize_onnx(fp32, tmp_path / "t.int8.onnx", QuantConfig("int8", transformer=True))
    q = count_onnx_macs(fused.path, 16)
    assert q.total == count_bert_macs(config, 16).total and q.uncounted == [] and q.int8 > q.fp32, q.by_op
    mixed = quantize_onnx(fp32, tmp_path / "t.nbits.onnx", QuantConfig("int8", transformer=True, nbits=("intermediate/dense",)))
    m = count_onnx_macs(mixed.path, 16)
    assert m.total == q.total and m.uncounted == [] and m.by_op["MatMulNBits"] > 0 and m.int8 == q.int8, m.by_op


def test_gemm_rates_are_measured(tmp_path):
    r = measure_gemm_rates(((32, 64, 64), (64, 128, 128)), seconds=0.03)
    assert r.fp32_gmacs > 0.1 and r.int8_gmacs > 0.1 and r.numpy_fp32_gmacs > 0.1 and r.gemv_fp32_gmacs > 0
    with pytest.raises(ConfigError, match="positive sizes"):
        measure_gemm_rates(((0, 4, 4),))
    assert r.fp32_shape in r.shapes and json.loads(json.dumps(r.to_dict()))["shapes"] == [[32, 64, 64], [64, 128, 128]]


def test_onnx_counting_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="bad.onnx is not a readable ONNX file"):
        count_onnx_macs(bad)
    with pytest.raises(ConfigError, match="is not an ONNX file"):
        count_onnx_macs(tmp_path / "missing.onnx")
