"""export.to_executorch on a tiny BERT (dynamic shapes) and tiny BiLSTM students (buckets), run through edge_runtime's
ExecuTorch runner; and the CLI writing .onnx and .pte into one bundle that `parity` passes."""
from __future__ import annotations

import fnmatch
import json

import numpy as np
import pytest
import torch
from cli_helpers import cli
from families import build

from edgecore import ConfigError, OutputExistsError
from edgecore.tolerances import tolerance
from export.executorch import ExecuTorchConfig, read_metadata, to_executorch

SHORT = ["a fine film", "dull", "a dull, long film", "not good at all", "great fun", "i loved it"]   # 3..8 tokens


def _torch_logits(model, feed):
    with torch.no_grad():
        out = model(**feed)
    return getattr(out, "logits", out).numpy()


def _within(art, runner, model, feeds):
    """Logits within the format's tolerance; argmax the same wherever PyTorch's margin is wider than the drift (a random
    tiny BERT puts many sentences within 0.01 of a tie, where any int8 rounding may flip them)."""
    tol = tolerance("executorch", art.precision)
    for feed in feeds:
        got, ref = runner({k: v.numpy() for k, v in feed.items()}), _torch_logits(model, feed)
        diff = np.abs(got - ref).max()
        assert diff <= tol.max_abs_logit_diff, (art.path, diff)
        clear = np.abs(ref[:, 0] - ref[:, 1]) > 2 * diff
        assert (got.argmax(1) == ref.argmax(1))[clear].all()


@pytest.fixture(scope="module")
def bert(movie, tmp_path_factory):
    out = tmp_path_factory.mktemp("bert")
    model, tokenizer = build("bert", out, movie[0][:400])
    encode = lambda texts: dict(tokenizer(texts, padding=True, truncation=True, max_length=32, return_tensors="pt"))
    return model, encode, movie[0][:64], out


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_tiny_bert_lowers_with_dynamic_shapes_and_matches_pytorch(bert, tmp_path, precision):
    from edge_runtime import load
    from edge_runtime.executorch import ExecuTorchRunner

    model, encode, texts, _ = bert
    validate = [encode(texts[i:i + 16]) for i in range(0, 64, 16)]
    art = to_executorch(model, encode(texts[:2]), tmp_path / f"bert.{precision}.pte", ExecuTorchConfig(precision, buckets=(32,)),
                        metadata={"edgedistill.labels": "class0,class1"}, validate_with=validate, strict=precision == "fp32")
    assert art.format == "executorch" and art.precision == precision and art.path.endswith(".pte")
    assert [t.name for t in art.inputs] == ["input_ids", "attention_mask", "token_type_ids"]
    assert art.inputs[0].shape == ("batch", "sequence") and art.inputs[0].dtype == "int64" and art.outputs[0].shape == ("batch", 2)
    assert art.validation["shapes"] == "dynamic" and art.validation["sentences"] == 66
    assert art.validation["max_abs_logit_diff"] <= tolerance("executorch", precision).max_abs_logit_diff
    assert art.validation["ops"]["forward"]["delegate_calls"] >= 1          # XNNPACK took (part of) the graph
    meta = read_metadata(art.path)
    assert meta["edgedistill.labels"] == "class0,class1" and meta["edgedistill.executorch.shapes"] == "dynamic"
    assert meta["tool.executorch"] == "1.5.1" and meta["tool.torch"].startswith("2.13")
    runner = load(art.path)
    assert isinstance(runner, ExecuTorchRunner) and runner.info.format == "executorch" and runner.info.precision == precision
    _within(art, runner, model, [encode(texts[40:45]), encode(texts[:1]), encode(texts[:40])])   # batch 40 > max_batch 32: chunked
    if precision == "fp32":
        assert art.validation["max_abs_logit_diff"] < 1e-4
    print(f"\nbert {precision}: {art.size_bytes} bytes, max |d| {art.validation['max_abs_logit_diff']:.3g}, "
          f"agreement {art.validation['agreement']:.4f}, {art.validation['convert_seconds']} s")


def test_int8_fp32_linears_stay_fp32_in_the_lowered_program(bert, tmp_path):
    """ExecuTorchConfig.int8_fp32: the named Linears are filtered out of the XNNPACKQuantizer, so the lowered file carries
    their fp32 weights (4 bytes each instead of 1) and the record and the file's metadata name them."""
    model, encode, texts, _ = bert
    linears = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    keep = ("*.layer.0.intermediate.dense", "*.layer.0.output.dense")
    kept = ("bert.encoder.layer.0.intermediate.dense", "bert.encoder.layer.0.output.dense")
    weights = sum(model.get_submodule(n).weight.numel() for n in kept)
    sample, validate = encode(texts[:2]), [encode(texts[:32])]
    arts = {name: to_executorch(model, sample, tmp_path / f"{name}.pte", ExecuTorchConfig("int8", buckets=(32,), int8_fp32=cfg),
                                validate_with=validate, strict=False)
            for name, cfg in (("all", ()), ("keep", keep))}
    assert arts["all"].validation["linears"] == {"int8": len(linears), "fp32": 0}
    assert arts["keep"].validation["linears"] == {"int8": len(linears) - 2, "fp32": 2}
    # the two Linears' weights are in the file as fp32: ~3 bytes more per weight than their int8 copy (+ its scales)
    grown = arts["keep"].size_bytes - arts["all"].size_bytes
    assert 2.5 * weights < grown < 3.5 * weights, (grown, weights)
    meta = read_metadata(arts["keep"].path)
    assert meta["edgedistill.executorch.int8_fp32"] == ",".join(kept) and "2 Linears fp32" in meta["edgedistill.executorch.quantizer"]
    assert arts["keep"].metadata["edgedistill.executorch.int8_fp32"] == ",".join(kept)
    assert read_metadata(arts["all"].path)["edgedistill.executorch.int8_fp32"] == ""
    # keeping Linears fp32 can only move the file toward PyTorch on the same sentences
    assert arts["keep"].validation["max_abs_logit_diff"] <= arts["all"].validation["max_abs_logit_diff"] * 1.5


def test_int8_fp32_default_and_refusals(bert):
    from export.executorch import TRANSFORMER_INT8_FP32, fp32_linears

    model = bert[0]
    # the default keeps the Transformer-sensitive Linears a 2-block BERT has; a model without them keeps none
    default = fp32_linears(model, ExecuTorchConfig("int8"))
    assert default and all(any(fnmatch.fnmatchcase(n, p) for p in TRANSFORMER_INT8_FP32) for n in default)
    assert fp32_linears(torch.nn.Sequential(torch.nn.Linear(4, 4)), ExecuTorchConfig("int8")) == ()
    assert fp32_linears(model, ExecuTorchConfig("int8", int8_fp32=())) == ()
    assert fp32_linears(model, ExecuTorchConfig("fp32")) == ()
    with pytest.raises(ConfigError, match=r"'\*\.ffn\.lin2' match no nn.Linear of BertForSequenceClassification; its Linears are named like bert\.encoder"):
        fp32_linears(model, ExecuTorchConfig("int8", int8_fp32=("*.ffn.lin2",)))
    with pytest.raises(ConfigError, match="tuple of Linear module-name patterns"):
        ExecuTorchConfig("int8", int8_fp32="*.layer.0.output.dense")
    with pytest.raises(ConfigError, match="int8 only"):
        ExecuTorchConfig("fp32", int8_fp32=("*.layer.0.output.dense",))


# fp32 only: lowering an unrolled LSTM takes ~1 min per precision on 2 cores, and int8 of a recurrent student quantizes
# only its head (the unrolled gates are not Linear), which the BERT int8 test already covers
@pytest.mark.parametrize("precision", ["fp32"])
def test_bilstm_student_falls_back_to_buckets_and_matches_pytorch(make_tiny_student, encoder, tmp_path, precision):
    from edge_runtime.executorch import ExecuTorchRunner

    model = make_tiny_student()
    art = to_executorch(model, encoder.encode(SHORT[:2]), tmp_path / f"bilstm.{precision}.pte", ExecuTorchConfig(precision, buckets=(8, 4)),
                        validate_with=[encoder.encode(SHORT)])
    # torch.export unrolls the LSTM over time: the sequence axis cannot be dynamic, so one method per bucket
    assert art.validation["shapes"] == "buckets" and "dynamic_shapes_refused" in art.validation
    assert set(art.validation["ops"]) == {"seq4", "seq8"} and art.inputs[0].shape == (1, "bucket(4,8)")
    runner = ExecuTorchRunner(art.path)
    assert runner.buckets == (4, 8) and runner.input_names == ("input_ids", "attention_mask")
    _within(art, runner, model, [encoder.encode(SHORT)])
    ids = encoder.ids(["a fine and funny film"])[0]
    np.testing.assert_allclose(runner({k: v.numpy() for k, v in encoder.pad([ids], to=8).items()}),
                               runner({k: v.numpy() for k, v in encoder.pad([ids], to=30).items()}), atol=1e-6)   # padding: one answer
    print(f"\nbilstm {precision}: {art.size_bytes} bytes, max |d| {art.validation['max_abs_logit_diff']:.3g}, "
          f"agreement {art.validation['agreement']:.4f}, {art.validation['convert_seconds']} s")


def test_siamese_student_takes_four_inputs(make_tiny_student, encoder, tmp_path):
    from edge_runtime.executorch import ExecuTorchRunner
    from edgecore.tokenizer import SIAMESE_INPUTS

    model = make_tiny_student(siamese=True)
    pairs = encoder.with_inputs(SIAMESE_INPUTS)
    rows = list(zip(SHORT, reversed(SHORT)))
    art = to_executorch(model, pairs.encode(rows[:2]), tmp_path / "siamese.pte", ExecuTorchConfig(buckets=(8,)), validate_with=[pairs.encode(rows)])
    assert [t.name for t in art.inputs] == ["input_ids", "attention_mask", "pair_input_ids", "pair_attention_mask"]
    runner = ExecuTorchRunner(art.path)
    _within(art, runner, model, [pairs.encode(rows)])


def test_refusals_before_lowering(make_tiny_student, encoder, tmp_path):
    with pytest.raises(ConfigError, match="largest bucket is 2"):
        to_executorch(make_tiny_student(), encoder.encode(SHORT), tmp_path / "a.pte", ExecuTorchConfig(buckets=(2,)))
    (tmp_path / "b.pte").write_bytes(b"x")
    with pytest.raises(OutputExistsError):
        to_executorch(make_tiny_student(), encoder.encode(SHORT), tmp_path / "b.pte")
    with pytest.raises(Exception, match="fp16"):
        ExecuTorchConfig("fp16")
    with pytest.raises(ConfigError, match="shapes"):
        ExecuTorchConfig(shapes="static")


def test_cli_exports_onnx_and_executorch_into_one_bundle_that_passes_parity(bert, movie_csv, tmp_path, capsys, monkeypatch):
    from edge_runtime import Bundle, load

    base = bert[3]
    data = movie_csv(200)
    code, out, err = cli(["export", base, "--data", data, "--formats", "onnx,executorch", "--precision", "fp32", "--validate", "40",
                          "--out", tmp_path / "bundle"], capsys, monkeypatch)
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    rows = {(r["format"], r["precision"]): r for r in manifest["parity"]["rows"]}
    assert code == 0, err + out + json.dumps(rows, indent=1)
    shipped = {(m["format"], m["precision"]): m for m in manifest["models"]}
    assert {("onnx", "fp32"), ("executorch", "fp32")} == set(shipped)
    assert shipped[("executorch", "fp32")]["file"].endswith(".pte")
    bundle = Bundle.open(tmp_path / "bundle")
    assert load(bundle.resolve(shipped[("executorch", "fp32")]["file"])).info.format == "executorch"
    code, out, err = cli(["parity", tmp_path / "bundle", "--teacher", base, "--data", data, "--source", base, "--json", tmp_path / "p.json"],
                         capsys, monkeypatch)
    assert code == 0, err + out
    report = json.loads((tmp_path / "p.json").read_text())
    assert len(report["models"]) == 2 and all(m["passed"] for m in report["models"].values()), report
    print("\n" + json.dumps({k: (r["agreement_with_source"], r["max_abs_logit_diff"], r["size_bytes"]) for k, r in
                             ((f"{f}/{p}", r) for (f, p), r in rows.items())}))
