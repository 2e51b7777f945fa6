"""A sentence-pair task from the CLI: teacher fine-tuned on (premise, hypothesis) pairs -> Transformer student with the
pair template and token types -> bundle whose files take the tokenizer's pair encoding -> parity on pairs.
A tiny BERT and tokenizer built here; the pairs are real movie sentences, labelled by whether both halves share a
sentiment (a derived task: it exercises the plumbing, not a benchmark)."""
from __future__ import annotations

import json

import numpy as np
import torch
from cli_helpers import cli
from families import build, pairs_csv


def test_pair_task_teacher_student_bundle_parity(movie, tmp_path, capsys, monkeypatch):
    from transformers import AutoTokenizer

    build("bert", tmp_path / "base", movie[0][:1500])
    data = pairs_csv(tmp_path / "pairs.csv", movie)
    code, out, err = cli(["teacher", "finetune", "--base", tmp_path / "base", "--data", data, "--epochs", "1", "--max-len", "48",
                          "--out", tmp_path / "teacher"], capsys, monkeypatch)
    assert code == 0, err
    # a recurrent student takes pairs too, in siamese form (each side alone; tests/edgedistill/test_siamese.py)
    code, out, err = cli(["distill", "--teacher", tmp_path / "teacher", "--data", data, "--student", "bilstm", "--hidden", "8",
                          "--embed-dim", "16", "--epochs", "1", "--out", tmp_path / "rnn"], capsys, monkeypatch)
    assert code == 0, err
    assert json.loads((tmp_path / "rnn" / "student.json").read_text())["config"]["siamese"] is True
    code, out, err = cli(["distill", "--teacher", tmp_path / "teacher", "--data", data, "--student", "transformer", "--layers", "1",
                          "--epochs", "1", "--augment", "1", "--out", tmp_path / "student"], capsys, monkeypatch)
    assert code == 0, err
    # --augment varies each side of a training pair; the teacher labels the new pairs
    assert json.loads((tmp_path / "student" / "metrics.json").read_text())["result"]["transfer_sentences"] > 200
    code, out, err = cli(["export", tmp_path / "student", "--data", data, "--precisions", "fp32,int8", "--out", tmp_path / "bundle"],
                         capsys, monkeypatch)
    assert code == 0, err
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["task"]["inputs"] == ["text", "text_pair"] and "token_type_ids" in manifest["tokenizer"]["model_inputs"]
    assert manifest["task"]["pair_encoding"] == "joint"   # one sequence with the pair template
    # the file takes the tokenizer's own pair encoding (segment B has token type 1) and gives the student's logits
    import onnxruntime as ort
    from transformers import AutoModelForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "student")
    first, second = ["a fine film", "dull and long"], ["a good movie", "an astonishing ride"]
    feeds = tokenizer(first, second, padding=True, truncation=True, max_length=48, return_tensors="np")
    assert feeds["token_type_ids"].max() == 1
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "student").eval()
    with torch.no_grad():
        expected = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).logits.numpy()
    fp32 = next(m["file"] for m in manifest["models"] if m["precision"] == "fp32")
    session = ort.InferenceSession(str(tmp_path / "bundle" / fp32), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, dict(feeds))[0], expected, atol=1e-4)
    # the bundle's own reader encodes pairs the same way
    from edge_runtime import Bundle

    encoded = Bundle.open(tmp_path / "bundle").encode(list(zip(first, second)))
    for name in feeds:
        np.testing.assert_array_equal(encoded[name], feeds[name])
    code, out, err = cli(["parity", tmp_path / "bundle", "--teacher", tmp_path / "teacher", "--data", data, "--source", tmp_path / "student",
                          "--json", tmp_path / "parity.json"], capsys, monkeypatch)
    assert code == 0, err
    report = json.loads((tmp_path / "parity.json").read_text())
    assert report["sentences"] > 0 and all(m["agreement_with_teacher"] is not None for m in report["models"].values())
    assert any(" || " in flip["text"] for m in report["models"].values() for flip in m.get("flips", [])) or \
        all(not m.get("flips") for m in report["models"].values())
