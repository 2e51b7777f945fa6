"""SmoothQuant graph transform on a tiny random BERT: same function, Mul nodes in, weights rescaled."""
from collections import Counter

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from export.smooth import activation_maxima, padded_batches, smooth_model, smooth_onnx, smoothable_groups

VOCAB = 120   # conftest.OUTLIER_VOCAB: the `tiny` fixture's vocabulary


@pytest.fixture(scope="module")
def tiny_onnx(tiny):
    return str(tiny.path)


def _feed(rows):
    width = max(len(r) for r in rows)
    ids = np.zeros((len(rows), width), np.int64)
    mask = np.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, :len(r)], mask[i, :len(r)] = r, 1
    return {"input_ids": ids, "attention_mask": mask}


def _sentences(n, seed=0):
    rng = np.random.default_rng(seed)
    return [_feed([rng.integers(4, VOCAB, size=rng.integers(3, 12)).tolist()]) for _ in range(n)]


def _logits(model, feeds):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString() if isinstance(model, onnx.ModelProto) else model, options,
                                providers=["CPUExecutionProvider"])
    return [sess.run(["logits"], f)[0] for f in feeds]


def _weights(model):
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return {n.name: inits[n.input[1]] for g in smoothable_groups(model) for n in g.nodes}


def test_smoothed_graph_computes_the_same_logits(tiny_onnx):
    original = onnx.load(tiny_onnx)
    calibration = _sentences(12)
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
    test = _sentences(8, seed=1) + [_feed([[5, 6, 7, 8, 9, 10], [11, 12]])]   # includes a padded batch
    for ref, got in zip(_logits(original, test), _logits(smoothed, test)):
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)

    ffn_in = next(v for k, v in done.items() if "layer.0/intermediate" in k)
    assert ffn_in["spread_after"] < ffn_in["spread_before"] / 2   # the boosted gamma channel is flattened


def test_overrides_skip_groups_and_auto_picks_from_the_grid(tiny_onnx, tmp_path):
    model = onnx.load(tiny_onnx)
    maxima = activation_maxima(model, _sentences(6))
    done = smooth_model(model, maxima, alpha=0.8, overrides={"classifier": None, "pooler": 0.3})
    assert not any("classifier" in k for k in done)
    assert next(v["alpha"] for k, v in done.items() if "pooler" in k) == 0.3

    out = tmp_path / "auto.onnx"
    report = smooth_onnx(tiny_onnx, out, _sentences(10), alpha="auto", overrides={"classifier": None})
    assert all(v["alpha"] in (0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9) for v in report.values())
    assert not any("classifier" in k for k in report)
    test = _sentences(4, seed=2)
    for ref, got in zip(_logits(onnx.load(tiny_onnx), test), _logits(onnx.load(str(out)), test)):
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)


def test_padded_batches_pad_ids_and_mask():
    feeds = [_feed([[2, 3]]), _feed([[4, 5, 6, 7]]), _feed([[8]])]
    batches = padded_batches(feeds, batch=2, pad_id=0)
    assert [b["input_ids"].shape for b in batches] == [(2, 4), (1, 1)]
    assert batches[0]["attention_mask"].tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]


def test_fused_smoothed_graph_quantizes(tiny_onnx, tmp_path):
    from export.quantize import QuantConfig, _dynamic_int8, fuse_transformer

    fused = str(tmp_path / "fused.onnx")
    fuse_transformer(tiny_onnx, fused)
    smoothed, out = tmp_path / "smoothed.onnx", str(tmp_path / "int8.onnx")
    smooth_onnx(fused, smoothed, _sentences(10), alpha=0.8)
    test = _sentences(4, seed=3)
    for ref, got in zip(_logits(onnx.load(fused), test), _logits(onnx.load(str(smoothed)), test)):
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    _dynamic_int8(str(smoothed), out, QuantConfig("int8", transformer=True, per_channel=True))
    ops = Counter(n.op_type for n in onnx.load(out).graph.node)
    assert ops["MatMulInteger"] >= 8 and ops["DynamicQuantizeLinear"] >= 4
    got = _logits(onnx.load(out), test)
    assert all(np.isfinite(g).all() for g in got)


def test_quantize_onnx_smooth_option(tiny, tmp_path):
    from edgecore import ConfigError
    from export import QuantConfig, quantize_onnx

    with pytest.raises(ConfigError, match="calibration"):
        quantize_onnx(tiny, tmp_path / "x.onnx", QuantConfig("int8", transformer=True, smooth=0.8))
    with pytest.raises(ConfigError):
        QuantConfig("fp16", smooth=0.5)
    art = quantize_onnx(tiny, tmp_path / "s.onnx", QuantConfig("int8", transformer=True, smooth="auto"), calibration=_sentences(10),
                        validate_with=_sentences(4, seed=4))
    names = [n.name for n in onnx.load(art.path).graph.node]
    assert sum(n.endswith("SmoothQuant_Mul") for n in names) >= 8
    assert "layer.0/intermediate/dense/MatMul" in art.metadata["edgedistill.smoothquant"]
