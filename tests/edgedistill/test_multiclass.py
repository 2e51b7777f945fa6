"""Three or more classes: export and parity report per-class precision, recall, F1 and a confusion matrix (in the
table the command prints and in --json). A tiny 3-class BERT built here; the data are real movie sentences with a
derived 3-class label (by length), which exercises the reporting, not a benchmark."""
from __future__ import annotations

import csv
import json

from cli_helpers import cli
from families import build


def test_three_classes_get_per_class_metrics_and_a_confusion_matrix(movie, tmp_path, capsys, monkeypatch):
    build("bert", tmp_path / "ckpt", movie[0][:1500], num_labels=3)
    data = tmp_path / "three.csv"
    with data.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["sentence", "target"])
        for text in movie[0][:300]:
            w.writerow([text, "class0" if len(text) < 60 else "class1" if len(text) < 120 else "class2"])
    # a random tiny encoder maps every sentence to nearly one vector (3-way near-ties): fine-tune it a little first
    code, out, err = cli(["teacher", "finetune", "--base", tmp_path / "ckpt", "--data", data, "--epochs", "3", "--lr", "1e-3",
                          "--out", tmp_path / "teacher"], capsys, monkeypatch)
    assert code == 0, err
    code, out, err = cli(["export", tmp_path / "teacher", "--data", data, "--precisions", "fp32,fp16", "--out", tmp_path / "bundle",
                          "--json", tmp_path / "export.json"], capsys, monkeypatch)
    assert code == 0, err
    code, out, err = cli(["parity", tmp_path / "bundle", "--teacher", tmp_path / "teacher", "--data", data, "--json", tmp_path / "parity.json"],
                         capsys, monkeypatch)
    assert code == 0, err
    assert "per class" in out and "confusion" in out
    for model in json.loads((tmp_path / "parity.json").read_text())["models"].values():
        classes = model["classes"]
        assert classes["labels"] == ["class0", "class1", "class2"] and len(classes["confusion"]) == 3
        total = sum(map(sum, classes["confusion"]))
        assert total == sum(c["support"] for c in classes["per_class"].values()) > 0
        correct = sum(classes["confusion"][i][i] for i in range(3))
        assert abs(correct / total - model["accuracy"]) < 1e-9   # the matrix and the accuracy count the same predictions
        assert 0.0 <= classes["macro_f1"] <= 1.0
