"""LiteRTRunner: bucket choice, padding invariance, stateful fused LSTMs, bundles. Tiny BiLSTMs at buckets 16 and 64."""
import json

import numpy as np
import pytest
import torch

from edgecore import UnsupportedError
from export import BundleConfig, to_tflite, write_bundle
from export.tflite import TFLiteConfig, quantize_tflite

SENTENCES = ["a fine and funny film", "dull", "the worst movie of the year , dull and long and far too loud to enjoy", "great fun"]


@pytest.fixture(scope="module")
def student(make_tiny_student):
    return make_tiny_student()


@pytest.fixture(scope="module")
def looped(student, encoder, tmp_path_factory):
    """The default route (input projection + one WHILE loop per LSTM) at buckets 16 and 64."""
    out = tmp_path_factory.mktemp("litert") / "while.tflite"
    return to_tflite(student, encoder.encode(SENTENCES[:2]), out, TFLiteConfig(buckets=(16, 64)), validate_with=[encoder.encode(SENTENCES)])


@pytest.fixture(scope="module")
def fused(student, encoder, tmp_path_factory):
    """The fused-LSTM route (one UNIDIRECTIONAL_SEQUENCE_LSTM per direction) at buckets 16 and 64."""
    out = tmp_path_factory.mktemp("litert") / "fused.tflite"
    return to_tflite(student, encoder.encode(SENTENCES[:2]), out, TFLiteConfig(buckets=(16, 64), recurrent="fused"),
                     validate_with=[encoder.encode(SENTENCES)])


def _np(feed):
    return {k: v.numpy() for k, v in feed.items()}


def test_fused_route_is_two_lstm_ops_and_matches_pytorch(student, fused, encoder):
    from edge_runtime.litert import LiteRTRunner
    from export._tflite.flatbuffer import census

    assert max(fused.validation["op_counts"]) < 60                         # vs ~2,000 unrolled ops at length 64
    assert census(open(fused.path, "rb").read())["ops"]["UNIDIRECTIONAL_SEQUENCE_LSTM"] == 4   # 2 directions x 2 signatures
    runner = LiteRTRunner(fused.path)
    assert runner.reset_variables and runner.info.extra["recurrent"] == "fused"
    feed = encoder.encode(SENTENCES)
    with torch.no_grad():
        ref = student(**feed).numpy()
    np.testing.assert_allclose(runner(_np(feed)), ref, atol=1e-5)
    np.testing.assert_allclose(runner(_np(feed)), ref, atol=1e-5)          # twice: the LSTM state is reset per call


@pytest.mark.parametrize("route", ["looped", "fused"])
def test_smallest_bucket_is_chosen_and_padding_never_changes_the_answer(route, request, encoder):
    from edge_runtime.litert import LiteRTRunner

    runner = LiteRTRunner(request.getfixturevalue(route).path)
    assert runner.buckets == (16, 64)
    assert [runner.bucket_for(n) for n in (1, 7, 16, 17, 64)] == [16, 16, 16, 64, 64]
    ids = encoder.ids(["a fine and funny film"])[0]
    assert len(ids) == 7
    in_16, in_64 = _np(encoder.pad([ids], to=16)), _np(encoder.pad([ids], to=64))
    _, sig64, _ = runner.signatures[64]
    runner.interpreter.reset_all_variables()                                 # a direct signature call must reset too
    in_64_direct = sig64(**{k: v.astype(np.int32) for k, v in in_64.items()})["logits"]
    via_16 = runner(in_16)                                                   # 7 tokens -> bucket 16
    np.testing.assert_allclose(via_16, in_64_direct, atol=1e-6)              # the same sentence in bucket 64
    np.testing.assert_allclose(runner(in_64), via_16, atol=1e-6)             # trailing padding past 16 is dropped
    np.testing.assert_allclose(runner(_np(encoder.pad([ids], to=7))), via_16, atol=1e-6)


def test_too_long_sentence_names_the_largest_bucket(looped):
    from edge_runtime.litert import LiteRTRunner

    runner = LiteRTRunner(looped.path)
    feed = {"input_ids": np.ones((1, 70), np.int64), "attention_mask": np.ones((1, 70), np.int64)}
    with pytest.raises(UnsupportedError, match="largest bucket \\(64\\)"):
        runner(feed)


def test_fused_int8_has_hybrid_int8_lstm_weights_and_agrees(fused, encoder, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    feeds = [_np(encoder.encode(SENTENCES))]
    int8 = quantize_tflite(fused, tmp_path / "fused.int8.tflite", TFLiteConfig("int8"), validate_with=feeds)
    assert int8.validation["lstm_weights_int8_per_tensor"] == 32              # 8 weights x 2 directions x 2 signatures
    assert int8.validation["within_tolerance"]
    interp = Interpreter(model_path=int8.path)
    lstm = next(op for op in interp._get_ops_details() if op["op_name"] == "UNIDIRECTIONAL_SEQUENCE_LSTM")
    details = {t["index"]: t for t in interp.get_tensor_details()}
    weights = [details[i] for i in lstm["inputs"][1:9]]
    assert all(w["dtype"] == np.int8 and w["quantization_parameters"]["scales"].size == 1 for w in weights)
    with pytest.raises(UnsupportedError, match="fused LSTM"):
        quantize_tflite(fused, tmp_path / "x.tflite", TFLiteConfig("int8-full"), calibration=feeds)


def test_bundle_manifest_lets_an_app_pick_the_bucket(looped, encoder, base_dir, tmp_path, student):
    from edge_runtime import Bundle, load

    int8 = quantize_tflite(looped, tmp_path / "while.int8.tflite", TFLiteConfig("int8"), validate_with=[_np(encoder.encode(SENTENCES))])
    bundle = write_bundle(tmp_path / "bundle", [looped, int8], base_dir,
                          BundleConfig("bilstm", ("negative", "positive"), {"max_len": 64, "lowercase": True, "pad_id": 0}))
    manifest = json.loads((bundle / "manifest.json").read_text())
    entry, quantized = manifest["models"]
    assert entry["format"] == "tflite" and entry["metadata"]["edgedistill.buckets"] == "16,64" and entry["default"]
    assert json.loads(entry["metadata"]["edgedistill.signatures"]) == {"16": "seq16", "64": "seq64"}
    assert entry["metadata"]["edgedistill.tflite.reset_variables"] == "false"
    assert quantized["precision"] == "int8" and quantized["metadata"]["edgedistill.buckets"] == "16,64"
    assert quantized["validation"]["within_tolerance"]
    assert load(bundle, precision="int8").info.precision == "int8"
    runner = load(bundle)
    feeds = Bundle.open(bundle).encode(SENTENCES[:2])
    with torch.no_grad():
        ref = student(**{k: torch.from_numpy(v) for k, v in feeds.items()}).numpy()
    np.testing.assert_allclose(runner(feeds), ref, atol=1e-5)
    assert runner.info.format == "tflite" and runner.info.extra["buckets"] == [16, 64]
