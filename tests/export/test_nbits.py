"""export.nbits on a tiny random BERT: chosen MatMuls become 8-bit MatMulNBits, the rest MatMulInteger."""
import json
from collections import Counter

import numpy as np
import onnx
import pytest

from edgecore import ConfigError
from export import QuantConfig, quantize_onnx
from export.nbits import nbits8, nbits_targets
from export.quantize import TEACHER_NBITS, fuse_transformer


def _logits(path, inputs):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(["logits"], f)[0] for f in inputs])


def _ops(path):
    return Counter(n.op_type for n in onnx.load(str(path)).graph.node)


def test_nbits8_replaces_only_the_matching_matmuls(tiny, tmp_path, feeds):
    fused = tmp_path / "fused.onnx"
    fuse_transformer(str(tiny.path), str(fused))
    weight_matmuls = nbits_targets(onnx.load(str(fused)), ("MatMul",))
    mapping = nbits8(fused, tmp_path / "ffn.onnx", TEACHER_NBITS, exclude=["/model/bert/encoder/layer.1/output/dense/MatMul"])
    assert sorted(mapping) == ["/model/bert/encoder/layer.0/intermediate/dense/MatMul", "/model/bert/encoder/layer.0/output/dense/MatMul",
                               "/model/bert/encoder/layer.1/intermediate/dense/MatMul"]
    ops = _ops(tmp_path / "ffn.onnx")
    assert ops["MatMulNBits"] == 3 and ops["MatMul"] == _ops(fused)["MatMul"] - 3
    nbits8(fused, tmp_path / "all.onnx", ("MatMul",))
    assert _ops(tmp_path / "all.onnx")["MatMulNBits"] == len(weight_matmuls) == 2 * 3   # attention out, FFN in, FFN out (Q, K, V are inside the fused Attention)
    with pytest.raises(ConfigError, match="match no MatMul"):
        nbits8(fused, tmp_path / "x.onnx", ("layer.9/nothing",))

    # 8-bit block-wise weights and activations: close to fp32, and closer than per-tensor dynamic int8
    from export.quantize import _dynamic_int8

    _dynamic_int8(str(fused), str(tmp_path / "int8.onnx"), QuantConfig("int8", transformer=True, per_channel=True))
    test = feeds.random(16, seed=1)
    ref = _logits(fused, test)
    nbits_err = np.abs(_logits(tmp_path / "all.onnx", test) - ref).max()
    int8_err = np.abs(_logits(tmp_path / "int8.onnx", test) - ref).max()
    assert nbits_err < 0.05 * np.abs(ref).max() and nbits_err < int8_err


def test_quantize_onnx_nbits_option(tiny, tmp_path, feeds):
    with pytest.raises(ConfigError, match="dynamic int8 only"):
        QuantConfig("fp16", nbits=TEACHER_NBITS)
    calib = feeds.random(10)
    base = quantize_onnx(tiny, tmp_path / "sq.onnx", QuantConfig("int8", transformer=True, smooth="auto"), calibration=calib)
    mixed = quantize_onnx(tiny, tmp_path / "mixed.onnx", QuantConfig("int8", transformer=True, smooth="auto", nbits=TEACHER_NBITS),
                          calibration=calib, validate_with=feeds.random(8, seed=2))
    recorded = json.loads(mixed.metadata["edgedistill.nbits"])
    assert recorded["bits"] == 8 and recorded["accuracy_level"] == 4 and len(recorded["nodes"]) == 4   # 2 blocks x (FFN in, FFN out)
    assert all("/intermediate/" in n or "/output/dense" in n for n in recorded["nodes"])
    assert "edgedistill.smoothquant" in mixed.metadata
    ops, base_ops = _ops(mixed.path), _ops(base.path)
    assert ops["MatMulNBits"] == 4 and base_ops["MatMulInteger"] - ops["MatMulInteger"] == 4 and ops["MatMul"] == base_ops["MatMul"]
    assert mixed.validation["agreement"] >= 0.9 and mixed.validation["within_tolerance"]

    # keep_fp32 wins over nbits for a node named by both
    both = quantize_onnx(tiny, tmp_path / "both.onnx", QuantConfig("int8", transformer=True, nbits=TEACHER_NBITS,
                                                                   keep_fp32=("layer.0/output/dense/MatMul",)))
    assert len(json.loads(both.metadata["edgedistill.nbits"])["nodes"]) == 3 and _ops(both.path)["MatMulNBits"] == 3
    with pytest.raises(ConfigError, match="match no MatMul"):
        quantize_onnx(tiny, tmp_path / "x.onnx", QuantConfig("int8", transformer=True, nbits=("layer.9/nothing",)))
    assert not (tmp_path / "x.onnx").exists()
