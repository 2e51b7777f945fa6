"""Multi-label classification from the CLI: a JSON Lines file whose `labels` column holds lists -> teacher fine-tuned with
one sigmoid per label (binary cross-entropy) -> BiLSTM and Transformer students distilled on the teacher's per-label
probabilities -> per-label thresholds chosen on dev, kept in the checkpoint and the manifest -> export -> parity as
per-label decision agreement. A tiny BERT and tokenizer built here; the rows are real movie sentences with derived
labels (sentiment, "long", "mentions film"), which exercise the plumbing, not a benchmark."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cli_helpers import assert_clean, cli
from families import build

from edgecore.multilabel import choose_thresholds, decide, label_metrics, multi_hot, sigmoid

LABELS = ["film", "long", "positive"]


def _rows(movie, n=300):
    texts, sentiment = movie
    rows = []
    for text, s in list(zip(texts, sentiment))[::len(texts) // n][:n]:   # spread over the file: both sentiments
        words = set(text.lower().replace(",", " ").replace(".", " ").split())
        labels = [name for name, on in (("film", bool(words & {"film", "movie", "films", "movies"})), ("long", len(text.split()) > 20),
                                        ("positive", s == 1)) if on]
        rows.append({"text": text, "labels": labels})
    return rows


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_thresholds_metrics_and_sigmoid_are_right():
    assert np.allclose(sigmoid([-800.0, 0.0, 800.0]), [0.0, 0.5, 1.0])   # no overflow warning-turned-error at the extremes
    gold = np.array([[1, 0], [1, 0], [0, 0], [0, 1]])
    logits = np.array([[2.0, -3.0], [0.2, -3.0], [-0.5, -3.0], [-2.0, -1.0]])
    thresholds = choose_thresholds(logits, gold)
    # label 0: any threshold in (sigmoid(-0.5), sigmoid(0.2)] separates it perfectly; the one nearest 0.5 is taken
    assert sigmoid(-0.5) < thresholds[0] <= sigmoid(0.2) and abs(thresholds[0] - 0.5) < 0.06
    assert thresholds[1] <= sigmoid(-1.0) and label_metrics(decide(logits, thresholds), gold)["micro_f1"] == 1.0
    assert choose_thresholds(logits, np.zeros_like(gold)) == (0.5, 0.5)   # no positive row: the default stays
    m = label_metrics(np.array([[1, 1], [0, 0]]), np.array([[1, 0], [0, 1]]), ["a", "b"])
    assert m["per_label"]["a"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert m["per_label"]["b"]["f1"] == 0.0 and m["exact_match"] == 0.0 and abs(m["micro_f1"] - 0.5) < 1e-12
    assert multi_hot([(0, 2), ()], 3).tolist() == [[1, 0, 1], [0, 0, 0]]


def test_binary_losses_are_zero_at_the_teacher_and_skip_unlabelled_rows():
    from distill import losses

    t = torch.tensor([[3.0, -2.0, 0.5]])
    assert losses.soft_cross_entropy(t, t, multi_label=True, temperature=2.0).item() == pytest.approx(0.0, abs=1e-7)
    assert losses.soft_cross_entropy(t + 1, t, multi_label=True).item() > 0
    labels = torch.tensor([[1.0, 0.0, 1.0], [-1.0, -1.0, -1.0]])
    both = losses.hard_cross_entropy(torch.cat([t, t * 0 + 9]), labels=labels)
    assert both.item() == pytest.approx(losses.hard_cross_entropy(t, labels=labels[:1]).item())


def test_multi_label_teacher_students_bundle_parity(movie, tmp_path, capsys, monkeypatch):
    build("bert", tmp_path / "base", movie[0][:1500])
    rows = _rows(movie)
    assert sum(len(r["labels"]) >= 2 for r in rows) > 30 and any(not r["labels"] for r in rows)
    data = _jsonl(tmp_path / "tags.jsonl", rows)
    code, out, err = cli(["teacher", "finetune", "--base", tmp_path / "base", "--data", data, "--epochs", "3", "--lr", "1e-3",
                          "--max-len", "48", "--out", tmp_path / "teacher"], capsys, monkeypatch)
    assert code == 0, err
    config = json.loads((tmp_path / "teacher" / "config.json").read_text())
    metrics = json.loads((tmp_path / "teacher" / "metrics.json").read_text())
    assert config["problem_type"] == "multi_label_classification" and sorted(config["id2label"].values()) == LABELS
    assert len(metrics["task"]["thresholds"]) == 3 and 0 <= metrics["test_micro_f1"] <= 1 and "test_accuracy" in metrics

    for student, extra, formats in (("bilstm", ["--hidden", "32", "--epochs", "2"], "onnx,tflite,coreml"),
                                    ("transformer", ["--layers", "1", "--epochs", "1"], "onnx")):
        code, out, err = cli(["distill", "--teacher", tmp_path / "teacher", "--data", data, "--student", student, *extra,
                              "--out", tmp_path / student], capsys, monkeypatch)
        assert code == 0, err
        code, out, err = cli(["export", tmp_path / student, "--data", data, "--formats", formats, "--precisions", "fp32,int8",
                              "--out", tmp_path / f"{student}-bundle"], capsys, monkeypatch)
        assert code == 0, err
        manifest = json.loads((tmp_path / f"{student}-bundle" / "manifest.json").read_text())
        assert {m["format"] for m in manifest["models"]} == set(formats.split(","))   # every format shipped
        task = manifest["task"]
        assert task["problem_type"] == "multi_label_classification" and len(task["thresholds"]) == 3
        saved = json.loads((tmp_path / student / ("student.json" if student == "bilstm" else "metrics.json")).read_text())["task"]
        assert task["thresholds"] == saved["thresholds"]   # the student's own thresholds, chosen on dev, travel to the phone
        code, out, err = cli(["parity", tmp_path / f"{student}-bundle", "--teacher", tmp_path / "teacher", "--data", data,
                              "--json", tmp_path / f"{student}-parity.json"], capsys, monkeypatch)
        assert code == 0, err
        assert "per label" in out
        report = json.loads((tmp_path / f"{student}-parity.json").read_text())
        for model in report["models"].values():
            detail = model["multi_label"]
            assert set(detail["agreement_with_teacher_per_label"]) == set(LABELS)
            per_label = np.array(list(detail["agreement_with_teacher_per_label"].values()))
            assert abs(per_label.mean() - model["agreement_with_teacher"]) < 1e-6   # decision agreement = mean over labels
            assert detail["exact_agreement_with_teacher"] <= model["agreement_with_teacher"]
            assert model["accuracy"] is not None and 0 <= detail["micro_f1"] <= 1

    # the ONNX file gives the PyTorch student's logits, and parity decides with the manifest's thresholds: all 0 -> every
    # label on every row, all 1 -> none (sigmoid < 1 here); the per-label agreement with the teacher follows its own decisions
    import onnxruntime as ort

    from distill import Encoder, load_student
    from edge_runtime import Bundle

    bundle = Bundle.open(tmp_path / "bilstm-bundle")
    fp32 = next(m for m in bundle.manifest["models"] if m["precision"] == "fp32")
    session = ort.InferenceSession(str(bundle.resolve(fp32["file"])), providers=["CPUExecutionProvider"])
    texts = [r["text"] for r in rows[:40]]
    model, _ = load_student(tmp_path / "bilstm")
    with torch.no_grad():
        expected = model(**Encoder(tmp_path / "bilstm", 48).encode(texts)).numpy()
    np.testing.assert_allclose(session.run(None, bundle.encode(texts))[0], expected, atol=1e-4)
    teacher = json.loads((tmp_path / "teacher" / "metrics.json").read_text())["task"]["thresholds"]
    manifest_path = tmp_path / "bilstm-bundle" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for value in (0.0, 1.0):
        manifest["task"]["thresholds"] = [value] * 3
        manifest_path.write_text(json.dumps(manifest))
        code, out, err = cli(["parity", tmp_path / "bilstm-bundle", "--teacher", tmp_path / "teacher", "--data", data,
                              "--json", tmp_path / "forced.json"], capsys, monkeypatch)
        assert code == 0, err
        forced = json.loads((tmp_path / "forced.json").read_text())["models"][fp32["file"]]
        assert forced["multi_label"]["thresholds"] == [value] * 3 and forced["multi_label"]["teacher_thresholds"] == teacher
        recall = [c["recall"] for c in forced["multi_label"]["per_label"].values() if c["support"]]
        assert recall and all(r == (1.0 if value == 0.0 else 0.0) for r in recall)


def test_task_shape_mismatches_are_one_line_errors(movie, tmp_path, capsys, monkeypatch):
    build("bert", tmp_path / "single", movie[0][:1500], num_labels=3)
    data = _jsonl(tmp_path / "tags.jsonl", _rows(movie, 120))
    # a single-label checkpoint against multi-label data: refused, naming both kinds
    code, out, err = cli(["export", tmp_path / "single", "--data", data, "--formats", "onnx", "--out", tmp_path / "b"], capsys, monkeypatch)
    assert_clean(code, out, err, "single-label", "multi-label")
    assert not (tmp_path / "b").exists()
    # a bundle whose manifest says multi-label with thresholds that do not fit: refused before any model runs
    cfg = json.loads((tmp_path / "single" / "config.json").read_text())
    cfg["problem_type"] = "multi_label_classification"
    cfg["id2label"] = dict(enumerate(LABELS))
    cfg["label2id"] = {n: i for i, n in enumerate(LABELS)}
    (tmp_path / "single" / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "single" / "metrics.json").write_text(json.dumps({"task": {"problem_type": "multi_label_classification",
                                                                             "thresholds": [0.5, 1.5, 0.5]}}))
    code, out, err = cli(["export", tmp_path / "single", "--data", data, "--formats", "onnx", "--out", tmp_path / "b"], capsys, monkeypatch)
    assert_clean(code, out, err, "thresholds[1]", "[0, 1]")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("task, needle", [
    ({"problem_type": "multi_label_classification"}, "no task.thresholds"),
    ({"problem_type": "multi_label_classification", "thresholds": [0.5]}, "one threshold per label"),
    ({"problem_type": "multi_label_classification", "thresholds": [0.5, float("nan")]}, "thresholds[1]"),
    ({"problem_type": "single_label_classification", "thresholds": [0.5, 0.5]}, "not multi_label_classification"),
    ({"inputs": ["text"], "pair_encoding": "siamese"}, "no text_pair"),
])
def test_bundle_task_fields_the_schema_cannot_tie_together_are_refused(tmp_path, task, needle):
    """A crafted manifest: NaN passes JSON Schema's bounds, and thresholds/pair fields must agree with the task."""
    from edge_runtime import Bundle
    from edgecore import IntegrityError

    (tmp_path / "m.onnx").write_bytes(b"x")
    from edgecore import sha256_file

    manifest = {"format": "edgedistill-bundle", "version": 1, "labels": ["a", "b"], "tokenizer": {"max_len": 8},
                "models": [{"file": "m.onnx", "format": "onnx", "precision": "fp32"}],
                "files": [{"path": "m.onnx", "sha256": sha256_file(tmp_path / "m.onnx"), "size": 1}], "task": task}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match=None) as info:
        Bundle.open(tmp_path)
    assert needle in str(info.value) and "\n" not in str(info.value)
