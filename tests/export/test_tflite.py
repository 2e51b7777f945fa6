"""export.to_tflite / quantize_tflite on tiny students and a tiny BERT, run in ai-edge-litert's Interpreter."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from distill import RNNStudent, RNNStudentConfig
from distill.teacher import load_classifier
from edgecore import ConfigError, OutputExistsError, ParityError, UnsupportedError
from edgecore.tolerances import tolerance
from export import to_tflite
from export.tflite import TFLiteConfig, quantize_tflite, read_metadata

SHORT = ["a fine film", "dull", "a dull, long film", "not good at all", "great fun", "i loved it"]   # 3..8 tokens


def _np(feed):
    return {k: v.numpy() for k, v in feed.items()}


def _torch_logits(model, feed):
    with torch.no_grad():
        out = model(**feed)
    return getattr(out, "logits", out).numpy()


@pytest.fixture(scope="module")
def bilstm(make_tiny_student):
    return make_tiny_student()


@pytest.fixture(scope="module")
def bilstm_fp32(bilstm, encoder, tmp_path_factory):
    """The default (while-loop) route at buckets 4 and 8, validated on sentences of both buckets."""
    out = tmp_path_factory.mktemp("tfl") / "bilstm.tflite"
    return to_tflite(bilstm, encoder.encode(SHORT[:2]), out, TFLiteConfig(buckets=(8, 4)),
                     metadata={"edgedistill.labels": "negative,positive"}, validate_with=[encoder.encode(SHORT)])


def test_bilstm_converts_at_two_buckets_and_matches_pytorch(bilstm, bilstm_fp32, encoder):
    from edge_runtime.litert import LiteRTRunner

    art = bilstm_fp32
    assert art.format == "tflite" and art.precision == "fp32" and [t.name for t in art.inputs] == ["input_ids", "attention_mask"]
    assert art.inputs[0].dtype == "int32" and art.outputs[0].shape == (1, 2)
    assert set(art.validation["sentences_per_bucket"]) == {"4", "8"}          # both signatures were exercised
    assert art.validation["max_abs_logit_diff"] < 1e-4 and art.validation["agreement"] == 1.0
    meta = read_metadata(art.path)
    assert meta["edgedistill.buckets"] == "4,8" and meta["edgedistill.labels"] == "negative,positive"
    assert meta["tool.litert-torch"] == "0.10.0" and meta["tool.torch"].startswith("2.13")
    assert meta["edgedistill.tflite.reset_variables"] == "false" and meta["edgedistill.tflite.recurrent"] == "while"
    # each LSTM is one projection + a WHILE loop: 2 loops per signature, each a cond and a body subgraph
    assert meta["edgedistill.tflite.while_loops"] == "4" and len(art.validation["op_counts"]) == 2 + 4 * 2
    ops = art.validation["op_counts"]                 # the 2 signatures' main graphs, then cond/body per loop
    assert max(ops[:2]) < 60 and max(ops[2:]) < 100    # a body runs 4 steps (loop_unroll) of ~17 ops
    runner = LiteRTRunner(art.path)
    assert runner.buckets == (4, 8) and runner.info.format == "tflite"
    feed = encoder.encode(SHORT)                                              # one batch, rows of both buckets
    np.testing.assert_allclose(runner(_np(feed)), _torch_logits(bilstm, feed), atol=1e-5)


def test_padding_does_not_change_the_answer_between_buckets(bilstm_fp32, encoder):
    from edge_runtime.litert import LiteRTRunner

    runner = LiteRTRunner(bilstm_fp32.path)
    ids = encoder.ids(["great fun"])[0]
    assert len(ids) == 4
    in_4, in_8 = _np(encoder.pad([ids], to=4)), _np(encoder.pad([ids], to=8))
    # the runner puts a 4-token sentence in bucket 4; fed directly, the 8 signature sees it with 4 pads
    _, sig8, _ = runner.signatures[8]
    direct = sig8(input_ids=in_8["input_ids"].astype(np.int32), attention_mask=in_8["attention_mask"].astype(np.int32))["logits"]
    np.testing.assert_allclose(runner(in_4), direct, atol=1e-6)
    np.testing.assert_allclose(runner(in_8), direct, atol=1e-6)


@pytest.mark.parametrize("precision", ["int8", "int8-weight", "fp16"])
def test_quantized_files_hold_low_precision_weights_and_agree(bilstm_fp32, encoder, movie, tmp_path, precision):
    feeds = [_np(encoder.encode(SHORT))]
    art = quantize_tflite(bilstm_fp32, tmp_path / f"b.{precision}.tflite", TFLiteConfig(precision), validate_with=feeds)
    v = art.validation
    vocab_x_embed = encoder.settings.vocab_size * 16
    if precision == "fp16":
        assert v["float16_constant_elements"] >= vocab_x_embed and v["int8_constant_elements"] == 0
    else:
        assert v["int8_constant_elements"] >= vocab_x_embed                     # the embedding table is int8
        assert v["float32_constant_elements"] < vocab_x_embed / 100
    # a 16-wide table: per-row int8 scales (one set per signature) weigh as much as the int8 rows themselves
    assert art.size_bytes < bilstm_fp32.size_bytes * (0.6 if precision == "fp16" else 0.7)
    tol = tolerance("tflite", precision)
    assert v["within_tolerance"] and v["max_abs_logit_diff"] < tol.max_abs_logit_diff
    assert read_metadata(art.path)["edgedistill.precision"] == precision and art.metadata["edgedistill.quantized_from"] == bilstm_fp32.sha256
    if precision == "int8-weight":
        assert "DEQUANTIZE" in _ops(art.path)          # weight-only: int8 stored, dequantized for float compute


def _ops(path):
    from ai_edge_litert.interpreter import Interpreter

    return {op["op_name"] for op in Interpreter(model_path=str(path))._get_ops_details()}


def test_int8_full_is_kept_when_it_passes_parity_and_refused_otherwise(bilstm, bilstm_fp32, encoder, tmp_path):
    words = ["great", "dull", "so bad", "fun", "boring", "a gem"]        # <= 4 tokens each: one bucket of 4
    feeds = [_np(encoder.encode(words))]
    with pytest.raises(UnsupportedError, match="WHILE loops"):          # ai-edge-quantizer cannot calibrate loop bodies
        quantize_tflite(bilstm_fp32, tmp_path / "x.tflite", TFLiteConfig("int8-full"), calibration=feeds)
    stock = to_tflite(bilstm, encoder.encode(words[:1]), tmp_path / "stock.tflite", TFLiteConfig(buckets=(4,), recurrent="stock"),
                      validate_with=[encoder.encode(words)])
    assert stock.validation["max_abs_logit_diff"] < 1e-4 and stock.metadata["edgedistill.tflite.while_loops"] == "0"
    with pytest.raises(ConfigError, match="calibration"):
        quantize_tflite(stock, tmp_path / "x.tflite", TFLiteConfig("int8-full"))
    ok = quantize_tflite(stock, tmp_path / "ok.tflite", TFLiteConfig("int8-full"), calibration=feeds, validate_with=feeds)
    assert ok.validation["within_tolerance"] and ok.validation["int8_constant_elements"] > 0
    # the same student with ~3000x larger logits: 8-bit activations cannot hold them within 1.5 -> refused, with numbers
    loud = RNNStudent(bilstm.config).eval()
    loud.load_state_dict(bilstm.state_dict())
    with torch.no_grad():
        loud.head[-1].weight.mul_(3000.0)
    loud_fp32 = to_tflite(loud, encoder.encode(words[:1]), tmp_path / "loud.tflite", TFLiteConfig(buckets=(4,), recurrent="stock"))
    with pytest.raises(ParityError, match=r"int8-full refused: on 6 sentences .* moves logits by up to"):
        quantize_tflite(loud_fp32, tmp_path / "loud.int8-full.tflite", TFLiteConfig("int8-full"), calibration=feeds, validate_with=feeds)
    assert not (tmp_path / "loud.int8-full.tflite").exists()


def test_gru_student_converts_at_two_buckets(encoder, tmp_path):
    torch.manual_seed(1)
    gru = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, cell="gru", embed_dim=8, hidden=4, head_hidden=0,
                                      layers=2)).eval()
    words = ["great", "dull", "so bad", "a dull film", "not good at all"]      # 3..6 tokens
    art = to_tflite(gru, encoder.encode(words[:2]), tmp_path / "gru.tflite", TFLiteConfig(buckets=(4, 6)),
                    validate_with=[encoder.encode(words)])
    assert art.validation["max_abs_logit_diff"] < 1e-4 and set(art.validation["sentences_per_bucket"]) == {"4", "6"}
    # 2 layers x 2 directions x 2 buckets; each layer reverses its input and its backward output: 2 row gathers
    assert art.validation["recurrent"] == {"route": "while", "lstm": 0, "gru": 4, "unroll": 4, "while_loops": 8, "row_gathers_rewritten": 8}
    int8 = quantize_tflite(art, tmp_path / "gru.int8.tflite", TFLiteConfig("int8"), validate_with=[_np(encoder.encode(words))])
    assert int8.validation["within_tolerance"] and int8.validation["int8_constant_elements"] > 0


def test_tiny_bert_converts_with_token_type_ids_and_is_padding_invariant(tiny_bert_dir, encoder, tmp_path):
    from edge_runtime.litert import LiteRTRunner

    model = load_classifier(tiny_bert_dir)
    sample = encoder.encode(SHORT[:2])
    sample["token_type_ids"] = torch.zeros_like(sample["input_ids"])
    art = to_tflite(model, sample, tmp_path / "bert.tflite", TFLiteConfig(buckets=(16, 64)))
    assert [t.name for t in art.inputs] == ["input_ids", "attention_mask", "token_type_ids"]
    runner = LiteRTRunner(art.path)
    ids = encoder.ids(["a fine and funny film"])[0]
    logits = {}
    for width in (16, 64):
        feed = encoder.pad([ids], to=width)
        feed["token_type_ids"] = torch.zeros_like(feed["input_ids"])
        logits[width] = runner(_np(feed))
        np.testing.assert_allclose(logits[width], _torch_logits(model, feed), atol=1e-4)
    key64, sig64, _ = runner.signatures[64]
    feed64 = _np(encoder.pad([ids], to=64))
    direct64 = sig64(input_ids=feed64["input_ids"].astype(np.int32), attention_mask=feed64["attention_mask"].astype(np.int32),
                     token_type_ids=np.zeros((1, 64), np.int32))["logits"]
    np.testing.assert_allclose(logits[16], direct64, atol=1e-5)      # bucket 16 and bucket 64 give one answer


def test_config_validates_and_names_choices():
    with pytest.raises(UnsupportedError, match="fp32, fp16, int8, int8-weight, int8-full"):
        TFLiteConfig("int4")
    with pytest.raises(ConfigError, match="while, stock, fused, loop"):
        TFLiteConfig(recurrent="scan")
    with pytest.raises(ConfigError, match="16, 32, 64, 128"):
        TFLiteConfig(buckets=(16, 1))
    with pytest.raises(ConfigError, match="once"):
        TFLiteConfig(buckets=(16, 16))
    assert TFLiteConfig(buckets=[64, 16]).buckets == (16, 64)
    assert TFLiteConfig().to_dict() == {"precision": "fp32", "buckets": [16, 32, 64, 128], "recurrent": "while", "loop_unroll": 4,
                                        "calibration_size": 200}
    with pytest.raises(ConfigError, match="loop_unroll"):
        TFLiteConfig(loop_unroll=0)


def test_too_long_validation_sentence_and_existing_file_are_refused_before_converting(bilstm, encoder, tmp_path):
    with pytest.raises(ConfigError, match="largest bucket is 8"):
        to_tflite(bilstm, encoder.encode(["the worst movie of the whole year"]), tmp_path / "x.tflite", TFLiteConfig(buckets=(8,)))
    (tmp_path / "s.tflite").write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match="force"):
        to_tflite(bilstm, encoder.encode(["hi"]), tmp_path / "s.tflite")
    assert (tmp_path / "s.tflite").read_bytes() == b"keep"
    assert not any(p.name.startswith(".x.tflite") for p in tmp_path.iterdir())


def test_importing_export_does_not_load_litert():
    code = "import export, sys; bad = [m for m in ('litert_torch', 'ai_edge_litert', 'ai_edge_quantizer', 'tensorflow') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=str(__import__('pathlib').Path(__file__).parents[2]))
    assert out.stdout.strip() == "[]"
