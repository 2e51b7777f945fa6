"""The fast corner from the CLI: a tiny BERT teacher fine-tuned here -> a static student (table from the teacher) and a
CNN student distilled on its logits, a label-only CNN as the control -> ONNX, TFLite and Core ML fp32 and ONNX int8
files that pass parity -> bundle -> `parity` against the teacher. Real movie sentences; the tokenizer is built here."""
from __future__ import annotations

import csv
import json

import numpy as np
import torch
from cli_helpers import assert_clean, cli
from families import build


def _run(args, capsys, monkeypatch):
    code, out, err = cli(args, capsys, monkeypatch)
    assert code == 0, err + out
    return out


def test_static_and_cnn_students_from_the_cli(movie, movie_csv, tmp_path, capsys, monkeypatch, cache):
    from distill import load_student
    from edge_runtime import Bundle, load

    build("bert", tmp_path / "base", movie[0][:1500])
    data = movie_csv(300, balanced=True)
    _run(["teacher", "finetune", "--base", tmp_path / "base", "--data", data, "--epochs", "1", "--max-len", "32",
          "--out", tmp_path / "teacher"], capsys, monkeypatch)
    for student, extra in (("static", ["--embed-dim", "16", "--hidden", "16"]), ("cnn", ["--embed-dim", "16", "--hidden", "8"])):
        _run(["distill", "--teacher", tmp_path / "teacher", "--data", data, "--student", student, "--epochs", "2", *extra,
              "--out", tmp_path / student], capsys, monkeypatch)
    _run(["distill", "--teacher", tmp_path / "teacher", "--data", data, "--student", "cnn", "--loss", "ce", "--epochs", "1",
          "--embed-dim", "16", "--hidden", "8", "--out", tmp_path / "cnn-labels"], capsys, monkeypatch)
    for name, kind, trained_on in (("static", "static", "teacher"), ("cnn", "cnn", "teacher"), ("cnn-labels", "cnn", "labels")):
        meta = json.loads((tmp_path / name / "student.json").read_text())
        assert meta["kind"] == kind and meta["result"]["trained_on"] == trained_on and meta["config"]["embed_dim"] == 16
        assert meta["config"]["tokenizer_vocab_size"] > meta["config"]["vocab_size"]   # pruned to the transfer text
    static, _ = load_student(tmp_path / "static")
    assert static.config.pooling == "mean_max" and static.config.head_layers == 1

    for name in ("static", "cnn"):
        _run(["export", tmp_path / name, "--data", data, "--format", "onnx,tflite,coreml", "--precision", "fp32,int8",
              "--buckets", "32", "--validate", "40", "--out", tmp_path / f"{name}-bundle"], capsys, monkeypatch)
        manifest = json.loads((tmp_path / f"{name}-bundle" / "manifest.json").read_text())
        shipped = {(m["format"], m["precision"]) for m in manifest["models"]}
        rows = {(r["format"], r["precision"]): r for r in manifest["parity"]["rows"]}
        assert {("onnx", "fp32"), ("tflite", "fp32"), ("coreml", "fp32"), ("onnx", "int8")} <= shipped, rows
        model, _ = load_student(tmp_path / name)
        bundle = Bundle.open(tmp_path / f"{name}-bundle")
        feeds = bundle.encode(movie[0][-5:])
        with torch.no_grad():
            expected = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).numpy()
        for entry in manifest["models"]:
            got = load(bundle.resolve(entry["file"]))(feeds)
            np.testing.assert_allclose(got, expected, atol=0.1 if "int8" in entry["precision"] else 1e-3, err_msg=entry["file"])

    _run(["parity", tmp_path / "cnn-bundle", "--teacher", tmp_path / "teacher", "--data", data, "--source", tmp_path / "cnn",
          "--json", tmp_path / "parity.json"], capsys, monkeypatch)
    report = json.loads((tmp_path / "parity.json").read_text())
    assert report["models"] and all(m["passed"] and m["agreement_with_teacher"] is not None for m in report["models"].values())

    # sentence pairs: the siamese form (one encoder for each side alone, head on [u; v; |u-v|; u*v]), four-input files
    pairs = tmp_path / "pairs.csv"
    with pairs.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["premise", "hypothesis", "label"])
        w.writerows((movie[0][i], movie[0][(i * 7 + 3) % 200], ("negative", "positive")[movie[1][i]]) for i in range(200))
    _run(["distill", "--teacher", tmp_path / "teacher", "--data", pairs, "--student", "static", "--epochs", "1", "--embed-dim", "8",
          "--hidden", "8", "--out", tmp_path / "static-pairs"], capsys, monkeypatch)
    _run(["export", tmp_path / "static-pairs", "--data", pairs, "--format", "onnx", "--precision", "fp32,int8", "--validate", "40",
          "--out", tmp_path / "pairs-bundle"], capsys, monkeypatch)
    manifest = json.loads((tmp_path / "pairs-bundle" / "manifest.json").read_text())
    assert manifest["task"]["pair_encoding"] == "siamese" and len(manifest["models"]) == 2, manifest["parity"]["rows"]
    assert [i["name"] for i in manifest["models"][0]["inputs"]] == ["input_ids", "attention_mask", "pair_input_ids", "pair_attention_mask"]

    code, out, err = cli(["distill", "--teacher", tmp_path / "teacher", "--data", data, "--student", "cnn", "--layers", "2",
                          "--out", tmp_path / "no"], capsys, monkeypatch)
    assert_clean(code, out, err, "cnn")

    # a teacher assistant: a one-block transformer student of this teacher labels the transfer set for a cnn student,
    # half and half with the teacher; a transformer student or the label-only control cannot take one
    _run(["distill", "--teacher", tmp_path / "teacher", "--data", data, "--student", "transformer", "--layers", "1", "--epochs", "1",
          "--out", tmp_path / "assistant"], capsys, monkeypatch)
    _run(["distill", "--teacher", tmp_path / "teacher", "--data", data, "--student", "cnn", "--epochs", "1", "--embed-dim", "16",
          "--hidden", "8", "--assistant", tmp_path / "assistant", "--assistant-weight", "0.5", "--out", tmp_path / "cnn-ta"], capsys, monkeypatch)
    request = json.loads((tmp_path / "cnn-ta" / "student.json").read_text())["request"]
    assert request["assistant"] == str(tmp_path / "assistant") and request["assistant_weight"] == 0.5
    for bad, word in ((["--student", "transformer"], "token-id students"), (["--student", "cnn", "--loss", "ce"], "label-only"),
                      (["--student", "cnn", "--assistant-weight", "0.5", "--assistant", tmp_path / "nowhere"], "nowhere")):
        if "--assistant" not in bad:
            bad = [*bad, "--assistant", tmp_path / "assistant"]
        code, out, err = cli(["distill", "--teacher", tmp_path / "teacher", "--data", data, *bad, "--out", tmp_path / "no"], capsys, monkeypatch)
        assert_clean(code, out, err, word)


def test_assistant_targets_mix_the_two_models_logits(movie, movie_csv, tmp_path, capsys, monkeypatch, cache):
    """`_assistant_targets` is weight x assistant + (1 - weight) x teacher on every transfer row, train and extra alike; a
    teacher with other labels is refused. The tiny teacher is its own assistant here, with a relabelled copy as the misfit."""
    import shutil
    from types import SimpleNamespace

    import pytest

    from distill import load_teacher
    from distill.teacher import predict_logits
    from edgecore import ConfigError
    from edgedistill._distill import _assistant_targets

    build("bert", tmp_path / "base", movie[0][:800])
    data = movie_csv(120, balanced=True)
    _run(["teacher", "finetune", "--base", tmp_path / "base", "--data", data, "--epochs", "1", "--max-len", "32",
          "--out", tmp_path / "teacher"], capsys, monkeypatch)
    teacher = load_teacher(tmp_path / "teacher")
    texts = movie[0][:12]
    mine = predict_logits(teacher.model, teacher.encoder, texts)
    theirs = np.zeros_like(mine[:8]), np.ones_like(mine[8:])
    req = SimpleNamespace(assistant=tmp_path / "teacher", assistant_weight=0.25)
    train, extra = _assistant_targets(req, teacher, texts, *theirs)
    np.testing.assert_allclose(train, 0.25 * mine[:8], atol=1e-4)
    np.testing.assert_allclose(extra, 0.25 * mine[8:] + 0.75, atol=1e-4)
    train, extra = _assistant_targets(req, teacher, texts[:8], theirs[0], None)
    assert extra is None and train.shape == (8, 2)

    shutil.copytree(tmp_path / "teacher", tmp_path / "other")
    config = json.loads((tmp_path / "other" / "config.json").read_text())
    config["id2label"], config["label2id"] = {"0": "bad", "1": "good"}, {"bad": 0, "good": 1}
    (tmp_path / "other" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="same labels"):
        _assistant_targets(SimpleNamespace(assistant=tmp_path / "other", assistant_weight=1.0), teacher, texts, *theirs)
