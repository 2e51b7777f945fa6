import json

import pytest
import torch

from edge_runtime.flops import (
    GemmRates,
    MacCount,
    _matmul_macs,
    count_bert_macs,
    count_macs,
    count_onnx_macs,
    count_pooled_macs,
    count_rnn_macs,
    floor,
    measure_gemm_rates,
)
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
    # the recurrence: 2 directions x 5 steps x 4 gates x 3 x 3 = 360, one row per step at batch 1, as is the head (16)
    assert m.sequential == 360 and m.gemv_fp32 == 360 + 16 and m.gemm_fp32 == 840 - 360
    # batch 3: each step and the head have 3 rows, so nothing runs at the one-row rate; recurrence 2 layers x 2x3x5x3x3x3
    assert gru.sequential == 2 * 810 and gru.gemv_fp32 == 0
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
        # the one-row share (recurrence + head at batch 1) and the recurrent share agree too
        assert (graph.gemv_fp32, graph.sequential) == (expected.gemv_fp32, expected.sequential) > (0, 0) if batch == 1 else \
            (graph.gemv_fp32, graph.sequential) == (0, expected.sequential)
        assert q.gemv_fp32 + q.gemv_int8 == expected.gemv_fp32 and q.sequential == expected.sequential
        if cell == "lstm":   # LSTM and the MatMuls are quantized; GRU stays float in onnxruntime's dynamic int8
            assert q.int8 == q.total and q.gemv_fp32 == 0
        else:
            assert q.by_op.get("GRU") == expected.by_op["GRU"] and q.int8 == q.total - q.by_op["GRU"]
            assert q.gemv_fp32 == (expected.sequential if batch == 1 else 0)   # the GRU's recurrence stays fp32


def test_bert_graph_count_equals_the_config_count(tiny_bert_dir, encoder, sentences, tmp_path):
    from transformers import BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(tiny_bert_dir).eval()
    fp32 = to_onnx(model, encoder.encode(sentences[:2]), tmp_path / "t.onnx")
    config = json.loads((tiny_bert_dir / "config.json").read_text())
    assert count_onnx_macs(fp32.path, 16).total == count_bert_macs(config, 16).total == count_macs(tiny_bert_dir, 16).total
    # only the pooler and the classifier see one row (the [CLS] vector) at batch 1; projections and attention have M = 16
    graph, by_config = count_onnx_macs(fp32.path, 16), count_bert_macs(config, 16)
    assert graph.gemv_fp32 == by_config.gemv_fp32 == by_config.by_op["pooler"] + by_config.by_op["classifier"] and graph.sequential == 0
    assert count_onnx_macs(fp32.path, 16, batch=2).gemv_fp32 == 0
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


@pytest.mark.parametrize("kind", ["static", "cnn"])
def test_pooled_students_one_row_share(kind, encoder, sentences, tmp_path):
    """The static and CNN heads read one pooled vector at batch 1 (the GEMV rate); the CNN's windows are a GEMM of M = seq."""
    from distill.students.cnn import CNNStudent, CNNStudentConfig
    from distill.students.static import StaticStudent, StaticStudentConfig

    torch.manual_seed(0)
    v = encoder.settings.vocab_size
    model = (StaticStudent(StaticStudentConfig(vocab_size=v, embed_dim=8, head_hidden=8)) if kind == "static"
             else CNNStudent(CNNStudentConfig(vocab_size=v, embed_dim=8, filters=6))).eval()
    art = to_onnx(model, encoder.encode(sentences[:2]), tmp_path / "m.onnx")
    config = model.config.to_dict()
    for seq, batch in ((12, 1), (12, 2)):
        graph, by_config = count_onnx_macs(art.path, seq, batch), count_pooled_macs(config, seq, batch)
        assert graph.total == by_config.total and graph.gemv_fp32 == by_config.gemv_fp32 and graph.sequential == 0
        assert graph.gemv_fp32 == (by_config.by_op["head"] if batch == 1 else 0)
    if kind == "cnn":
        assert count_pooled_macs(config, 12).gemm_fp32 == count_pooled_macs(config, 12).by_op["conv"] > 0


def test_floor_per_op_kind_by_hand():
    rates = GemmRates(50.0, 200.0, 50.0, 10.0, 20.0, (1, 1, 1), (1, 1, 1), ((1, 1, 1),), 0, "cpu", [], "x", 0.0)
    # 1e9 fp32 MACs of which 4e8 one row at a time, 1e9 int8 of which 6e8: 6e8/50 + 4e8/10 + 4e8/200 + 6e8/20 ms / 1e6
    m = MacCount(10**9, 10**9, 1, 64, "onnx-graph", gemv_fp32=4 * 10**8, gemv_int8=6 * 10**8, sequential=10**9)
    f = floor(m, rates, latency_ms=168.0)
    assert f["floor_ms_by_kind"] == pytest.approx({"gemm_fp32": 12.0, "gemv_fp32": 40.0, "gemm_int8": 2.0, "gemv_int8": 30.0})
    assert f["floor_ms"] == pytest.approx(84.0) and f["x_floor"] == pytest.approx(2.0) and f["floor_ms_gemm_rate_only"] == pytest.approx(25.0)
    # no one-row MACs: the GEMM-rate floor, unchanged
    assert floor(MacCount(10**9, 10**9, 1, 64, "rnn-config"), rates)["floor_ms"] == pytest.approx(25.0)


def test_lstm_int8_floor_counts_its_recurrence_at_the_gemv_rate(encoder, sentences, tmp_path):
    """On a real quantized BiLSTM: the DynamicQuantizeLSTM recurrence is int8 at the GEMV rate, which raises the floor."""
    from distill import RNNStudent, RNNStudentConfig

    torch.manual_seed(0)
    model = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=8, hidden=16, head_hidden=0)).eval()
    fp32 = to_onnx(model, encoder.encode(sentences[:2]), tmp_path / "m.onnx")
    q = count_onnx_macs(quantize_onnx(fp32, tmp_path / "m.int8.onnx", QuantConfig("int8")).path, 32)
    assert q.gemv_int8 == 2 * 32 * 4 * 16 * 16 + 2 * 16 * 2 and q.gemm_int8 == 2 * 32 * 4 * 16 * 8 and q.gemv_fp32 == 0
    rates = GemmRates(50.0, 200.0, 50.0, 10.0, 20.0, (1, 1, 1), (1, 1, 1), ((1, 1, 1),), 0, "cpu", [], "x", 0.0)
    f = floor(q, rates)
    assert f["floor_ms"] == pytest.approx(q.gemm_int8 / 200e6 + q.gemv_int8 / 20e6) and f["floor_ms"] > 5 * f["floor_ms_gemm_rate_only"]
