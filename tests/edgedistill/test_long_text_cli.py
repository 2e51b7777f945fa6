"""Long documents through the CLI (issue 25): teacher finetune --max-len auto --truncation head_tail -> distill (the
student inherits both) -> export --long-text windows -> parity and bench end-to-end on the bundle; the one-line errors.
A tiny BERT over the real vocabulary, 60 documents of joined movie sentences, in-process."""
from __future__ import annotations

import csv
import json

import pytest
from cli_helpers import cli


@pytest.fixture
def long_csv(movie, tmp_path):
    texts, labels = movie
    path = tmp_path / "long.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(60):   # documents of 1..12 sentences of one label each
            label = i % 2
            picked = [t for t, y in zip(texts[i * 13:], labels[i * 13:]) if y == label][: 1 + i % 12]
            w.writerow([" ".join(picked), "positive" if label else "negative"])
    return path


def test_auto_length_head_tail_windows_end_to_end(tiny_bert_dir, long_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EDGEDISTILL_CACHE", str(tmp_path / "cache"))
    teacher, student, bundle = tmp_path / "teacher", tmp_path / "student", tmp_path / "bundle"
    code, out, err = cli(["teacher", "finetune", "--data", long_csv, "--base", tiny_bert_dir, "--out", teacher, "--epochs", "1",
                          "--batch-size", "8", "--max-len", "auto", "--truncation", "head_tail"], capsys, monkeypatch)
    assert code == 0, err
    assert "max_len auto:" in out
    max_len = json.loads((teacher / "metrics.json").read_text())["config"]["max_len"]
    assert max_len % 8 == 0 and 8 <= max_len <= 128   # the tiny BERT's 128 positions
    assert json.loads((teacher / "truncation.json").read_text()) == {"strategy": "head_tail", "head": None}

    code, _, err = cli(["distill", "--teacher", teacher, "--student", "bilstm", "--epochs", "1", "--data", long_csv, "--out", student],
                       capsys, monkeypatch)
    assert code == 0, err
    assert json.loads((student / "student.json").read_text())["max_len"] == max_len
    assert json.loads((student / "truncation.json").read_text())["strategy"] == "head_tail"

    code, _, err = cli(["export", student, "--format", "onnx,tflite,coreml", "--precision", "fp32", "--data", long_csv, "--out", bundle,
                        "--long-text", "windows", "--aggregate", "max", "--max-windows", "4"], capsys, monkeypatch)
    assert code == 0, err
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["tokenizer"]["max_len"] == max_len
    assert manifest["tokenizer"]["truncation"] == {"strategy": "head_tail", "head": (max_len - 2) // 4}
    assert manifest["task"]["long_text"] == {"mode": "windows", "stride": (max_len - 2) // 2, "aggregate": "max", "max_windows": 4}
    # no --buckets: the TFLite signatures run up to the chosen length and no further
    (tfl,) = (m for m in manifest["models"] if m["format"] == "tflite")
    buckets = [int(b) for b in tfl["metadata"]["edgedistill.buckets"].split(",")]
    assert buckets[-1] == max_len and buckets == sorted({b for b in (16, 32, 64) if b < max_len} | {max_len}), buckets

    code, out, err = cli(["parity", bundle, "--teacher", teacher, "--data", long_csv, "--source", student, "--json", tmp_path / "p.json"],
                         capsys, monkeypatch)
    assert code == 0, err
    report = json.loads((tmp_path / "p.json").read_text())
    assert len(report["models"]) == 3               # ONNX, TFLite (its largest bucket is max_len) and Core ML
    for entry in report["models"].values():
        assert entry["agreement_with_source"] == 1.0   # the source read the same windows, aggregated the same way
    # ... and so did the teacher: agreement with it is the student's, not windows against the teacher's own cut
    assert report["teacher_reads"] == "windows"
    from distill import load_teacher
    from distill.trainer import predict
    from edgecore.longtext import LongText, aggregate_rows
    from edgedistill import Columns

    loaded, test = load_teacher(teacher), Columns().load(str(long_csv)).test
    policy = LongText.from_dict(manifest["task"]["long_text"])
    rows, owners = loaded.encoder.windows(test.inputs, policy)
    teacher_says = aggregate_rows(predict(loaded.model, rows, loaded.encoder.pad), owners, len(test.inputs), "max").argmax(1)
    from edgedistill._export import load_checkpoint

    model, encoder, _, _ = load_checkpoint(student)
    rows, owners = encoder.windows(test.inputs, policy)
    student_says = aggregate_rows(predict(model, rows, encoder.pad), owners, len(test.inputs), "max").argmax(1)
    for entry in report["models"].values():
        assert entry["agreement_with_teacher"] == pytest.approx((teacher_says == student_says).mean())

    # bad input in every runner: empty (the template's specials alone), zero-width only, punctuation only, 1 MB (at most
    # --max-windows windows): finite logits, the same in ONNX, TFLite and Core ML
    import numpy as np

    from edge_runtime import Bundle, load

    opened = Bundle.open(bundle)
    hostile = ["", "\u200b\u200b", "!!! ... ??? ;;", ("word " * 200_000)[:1_000_000]]
    assert opened.encode(hostile[:1])["input_ids"][0, :2].tolist() == [101, 102]
    got = {fmt: opened.logits(load(opened.model_path(fmt=fmt)), hostile) for fmt in ("onnx", "tflite", "coreml")}
    for fmt, logits in got.items():
        assert logits.shape == (4, 2) and np.isfinite(logits).all(), fmt
        assert np.allclose(logits, got["onnx"], atol=1e-3), fmt

    code, out, err = cli(["bench", bundle, "--mode", "end-to-end", "--data", long_csv, "--runs", "5", "--warmup", "1"], capsys, monkeypatch)
    assert code == 0, err

    # latency at the data's own lengths beside a fixed one: median / p90 of the test documents' token counts, capped at max_len
    code, out, err = cli(["bench", bundle, "--lengths", "16,median,p90", "--data", long_csv, "--runs", "3", "--warmup", "1",
                          "--json", tmp_path / "lengths.json"], capsys, monkeypatch)
    assert code == 0, err
    report = json.loads((tmp_path / "lengths.json").read_text())
    from tokenizers import Tokenizer

    from edgedistill import Columns

    tok = Tokenizer.from_file(str(bundle / "tokenizer.json"))
    tok.no_truncation()
    counts = sorted(len(tok.encode(t).ids) for t in Columns().load(str(long_csv)).test.inputs)   # the tokenizer's own specials
    nearest = lambda q: min(max_len, counts[-(-q * len(counts) // 100) - 1])
    assert report["lengths"] == {"16": 16, "median": nearest(50), "p90": nearest(90)}
    assert [e["seq_len"] for e in report["by_length"].values()] == [16, nearest(50), nearest(90)]
    assert "p50 ms by length" in out


def test_one_line_errors(tiny_bert_dir, long_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EDGEDISTILL_CACHE", str(tmp_path / "cache"))
    code, _, err = cli(["teacher", "finetune", "--data", long_csv, "--base", tiny_bert_dir, "--out", tmp_path / "t", "--max-len", "256"],
                       capsys, monkeypatch)
    assert code == 2 and "max_len 256 is longer than the model" in err and "position limit is 128 tokens" in err
    code, _, err = cli(["teacher", "finetune", "--data", long_csv, "--base", tiny_bert_dir, "--out", tmp_path / "t", "--max-len", "lots"],
                       capsys, monkeypatch)
    assert code == 2 and "neither a number of tokens nor auto" in err
    code, _, err = cli(["teacher", "finetune", "--data", long_csv, "--base", tiny_bert_dir, "--out", tmp_path / "t", "--truncation", "middle"],
                       capsys, monkeypatch)
    assert code == 2 and "truncation 'middle' is unknown" in err
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("premise,hypothesis,label\n" + "".join(f"a man {i} walks,someone moves,{'positive' if i % 2 else 'negative'}\n" for i in range(40)))
    code, _, err = cli(["export", tiny_bert_dir, "--data", pairs, "--out", tmp_path / "b", "--long-text", "windows"], capsys, monkeypatch)
    assert code == 2 and "--long-text windows reads single texts" in err
    code, _, err = cli(["bench", tmp_path / "b", "--lengths", "64,median"], capsys, monkeypatch)
    assert code == 2 and "median / pNN are measured on data: add data (--data)" in err
    code, _, err = cli(["bench", tmp_path / "b", "--lengths", "64,p100", "--data", long_csv], capsys, monkeypatch)
    assert code == 2 and "lengths entry 'p100' must be a token count" in err
    code, _, err = cli(["bench", tmp_path / "b", "--lengths", "64", "--mode", "sentences", "--data", long_csv], capsys, monkeypatch)
    assert code == 2 and "lengths time the fixed mode" in err
