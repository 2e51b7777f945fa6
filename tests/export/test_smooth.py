"""SmoothQuant graph transform on a tiny random BERT: same function, Mul nodes in, weights rescaled."""
from collections import Counter

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from export.smooth import activation_maxima, padded_batches, smooth_model, smooth_onnx, smoothable_groups


@pytest.fixture(scope="module")
def tiny_onnx(tiny):
    return str(tiny.path)


def _logits(model, inputs):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString() if isinstance(model, onnx.ModelProto) else model, options,
                                providers=["CPUExecutionProvider"])
    return [sess.run(["logits"], f)[0] for f in inputs]


def _weights(model):
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return {n.name: inits[n.input[1]] for g in smoothable_groups(model) for n in g.nodes}


def test_smoothed_graph_computes_the_same_logits(tiny_onnx, feeds):
    original = onnx.load(tiny_onnx)
    calibration = feeds.random(12)
    maxima = activation_maxima(original, calibration)
    smoothed = onnx.load(tiny_onnx)
    done = smooth_model(smoothed, maxima, alpha=0.5)

    groups = smoothable_groups(original)
    assert len(groups) == 2 * 4 + 2                     # per block: QKV, attention output, FFN in, FFN out; pooler, classifier
    muls = [n for n in smoothed.graph.node if n.op_type == "Mul" and n.name.endswith("SmoothQuant_Mul")]
    assert len(muls) == len(done) == len(groups)
    qkv = next(g for g in groups if len(g.nodes) == 3)  # Q, K and V share one Mul
    assert {n.input[0] for n in smoothed.graph.node if n.name in qkv.names} == {f"{qkv.activation}/smoothed"}

    before, after = _weights(original), _weights(smoothed)
    assert all(not np.allclose(before[k], after[k]) for k in before)
    onnx.checker.check_model(smoothed)
    test = feeds.random(8, seed=1) + [feeds.padded([[5, 6, 7, 8, 9, 10], [11, 12]])]   # includes a padded batch
    for ref, got in zip(_logits(original, test), _logits(smoothed, test)):
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)

    ffn_in = next(v for k, v in done.items() if "layer.0/intermediate" in k)
    assert ffn_in["spread_after"] < ffn_in["spread_before"] / 2   # the boosted gamma channel is flattened


def test_overrides_skip_groups_and_auto_picks_from_the_grid(tiny_onnx, tmp_path, feeds):
    model = onnx.load(tiny_onnx)
    maxima = activation_maxima(model, feeds.random(6))
    done = smooth_model(model, maxima, alpha=0.8, overrides={"classifier": None, "pooler": 0.3})
    assert not any("classifier" in k for k in done)
    assert next(v["alpha"] for k, v in done.items() if "pooler" in k) == 0.3

    out = tmp_path / "auto.onnx"
    report = smooth_onnx(tiny_onnx, out, feeds.random(10), alpha="auto", overrides={"classifier": None})
    assert all(v["alpha"] in (0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9) for v in report.values())
    assert not any("classifier" in k for k in report)
    test = feeds.random(4, seed=2)
    for ref, got in zip(_logits(onnx.load(tiny_onnx), test), _logits(onnx.load(str(out)), test)):
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)


def test_padded_batches_pad_ids_and_mask(feeds):
    feeds = [feeds.padded([[2, 3]]), feeds.padded([[4, 5, 6, 7]]), feeds.padded([[8]])]
    batches = padded_batches(feeds, batch=2, pad_id=0)
    assert [b["input_ids"].shape for b in batches] == [(2, 4), (1, 1)]
    assert batches[0]["attention_mask"].tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]


def test_fused_smoothed_graph_quantizes(tiny_onnx, tmp_path, feeds):
    from export.quantize import QuantConfig, _dynamic_int8, fuse_transformer

    fused = str(tmp_path / "fused.onnx")
    fuse_transformer(tiny_onnx, fused)
    smoothed, out = tmp_path / "smoothed.onnx", str(tmp_path / "int8.onnx")
    smooth_onnx(fused, smoothed, feeds.random(10), alpha=0.8)
    test = feeds.random(4, seed=3)
    for ref, got in zip(_logits(onnx.load(fused), test), _logits(onnx.load(str(smoothed)), test)):
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    _dynamic_int8(str(smoothed), out, QuantConfig("int8", transformer=True, per_channel=True))
    ops = Counter(n.op_type for n in onnx.load(out).graph.node)
    assert ops["MatMulInteger"] >= 8 and ops["DynamicQuantizeLinear"] >= 4
    got = _logits(onnx.load(out), test)
    assert all(np.isfinite(g).all() for g in got)


def test_quantize_onnx_smooth_option(tiny, tmp_path, feeds):
    from edgecore import ConfigError
    from export import QuantConfig, quantize_onnx

    with pytest.raises(ConfigError, match="calibration"):
        quantize_onnx(tiny, tmp_path / "x.onnx", QuantConfig("int8", transformer=True, smooth=0.8))
    with pytest.raises(ConfigError):
        QuantConfig("fp16", smooth=0.5)
    art = quantize_onnx(tiny, tmp_path / "s.onnx", QuantConfig("int8", transformer=True, smooth="auto"), calibration=feeds.random(10),
                        validate_with=feeds.random(4, seed=4))
    names = [n.name for n in onnx.load(art.path).graph.node]
    assert sum(n.endswith("SmoothQuant_Mul") for n in names) >= 8
    assert "layer.0/intermediate/dense/MatMul" in art.metadata["edgedistill.smoothquant"]


def test_per_token_rows_compute_the_same_logits(tiny_onnx, feeds):
    from export.smooth import per_token_rows

    model = onnx.load(tiny_onnx)
    data = feeds.random(6, seed=2) + [feeds.padded([[2, 7, 9, 3], [2, 5, 3]])]
    before = _logits(model, data)
    changed = per_token_rows(model)
    assert len(changed) == sum(1 for g in smoothable_groups(onnx.load(tiny_onnx)) for _ in g.nodes) - 2   # all but pooler/classifier Gemms
    for a, b in zip(before, _logits(model, data)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_fused_attention_input_is_smoothed(tiny_onnx, tmp_path, feeds):
    from export.quantize import fuse_transformer

    fuse_transformer(tiny_onnx, str(tmp_path / "f.onnx"))
    model = onnx.load(str(tmp_path / "f.onnx"))
    groups = smoothable_groups(model)
    assert sum(n.op_type == "Attention" for g in groups for n in g.nodes) == 2
    data = feeds.random(6, seed=4)
    before = _logits(model, data)
    done = smooth_model(model, activation_maxima(model, data), alpha=0.5)
    assert any(n.op_type == "Attention" for n in model.graph.node if n.input[0].endswith("/smoothed"))
    assert len(done) == len(groups)
    for a, b in zip(before, _logits(model, data)):
        np.testing.assert_allclose(a, b, atol=1e-4)
