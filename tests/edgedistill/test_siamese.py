"""Sentence pairs for the recurrent students, in Tang et al. 2019's siamese form: one shared BiLSTM/GRU encoder reads
each side alone, the head reads [u; v; |u-v|; u*v]. Model properties on a tiny random student, then the CLI path:
teacher fine-tuned on pairs -> siamese BiLSTM / GRU -> ONNX, TFLite and Core ML files taking four inputs -> a bundle
that encodes pairs side by side -> parity. A tiny BERT and tokenizer built here; the pairs are real movie sentences."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cli_helpers import cli
from families import build, pairs_csv

from distill import RNNStudent, RNNStudentConfig
from edgecore import ConfigError
from edgecore.tokenizer import SIAMESE_INPUTS

FIRST = ["a fine film", "dull and long, with a plot that never finds its feet", "an astonishing ride"]
SECOND = ["a good movie that runs too long", "boring", "it works"]



def _siamese(cell="lstm", **overrides):
    torch.manual_seed(0)
    config = dict(vocab_size=200, embed_dim=8, hidden=6, head_hidden=8, cell=cell, siamese=True) | overrides
    return RNNStudent(RNNStudentConfig(**config)).eval()


def _rows(lengths, width, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(5, 200, (n,), generator=g)
        mask[i, :n] = 1
    return ids, mask


@pytest.mark.parametrize("cell,pooling", [("lstm", "max"), ("gru", "mean"), ("lstm", "last"), ("lstm", "attention")])
def test_siamese_logits_do_not_depend_on_either_sides_padding(cell, pooling):
    model = _siamese(cell, pooling=pooling, layers=2)
    a, am = _rows([5, 2, 7], 7, 1)
    b, bm = _rows([3, 6, 1], 6, 2)
    with torch.no_grad():
        base = model(a, am, b, bm)
        pad = lambda t, n: torch.nn.functional.pad(t, (0, n))
        wide_first = model(pad(a, 9), pad(am, 9), b, bm)           # the first side padded more
        wide_second = model(a, am, pad(b, 20), pad(bm, 20))        # the second side padded more
    assert base.shape == (3, 2)
    torch.testing.assert_close(wide_first, base, atol=1e-5, rtol=0)
    torch.testing.assert_close(wide_second, base, atol=1e-5, rtol=0)


def test_siamese_shares_one_encoder_and_needs_both_sides():
    model = _siamese()
    single = RNNStudent(RNNStudentConfig(vocab_size=200, embed_dim=8, hidden=6, head_hidden=8)).eval()
    # the same parameters as a single-text student but the head's first layer, 4x as wide: no second encoder
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    assert shapes.keys() == {n for n, _ in single.named_parameters()}
    assert shapes["head.0.weight"] == (8, 8 * 6)
    a, am = _rows([4, 3], 4, 3)
    b, bm = _rows([2, 5], 5, 4)
    with torch.no_grad():
        u, v = model.encode(a, am), model.encode(b, bm)
        expected = model.head(torch.cat([u, v, (u - v).abs(), u * v], -1))
        torch.testing.assert_close(model(a, am, b, bm), expected)
        # swapping the sides swaps u and v: |u-v| and u*v stay, so logits change only through the [u; v] part
        assert not torch.allclose(model(b, bm, a, am), expected)
    with pytest.raises(ConfigError, match="pair_input_ids"):
        model(a, am)
    with pytest.raises(ConfigError, match="siamese"):
        single(a, am, b, bm)


def test_siamese_student_saves_loads_and_encodes_sides_alone(encoder, tmp_path):
    from distill import load_student, save_student
    from distill.text import PairIds

    torch.manual_seed(0)
    model = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=8, hidden=6, head_hidden=8, siamese=True)).eval()
    save_student(model, tmp_path / "s", encoder, ("different", "same"))
    loaded, meta = load_student(tmp_path / "s")
    assert meta["config"]["siamese"] is True and loaded.config == model.config
    enc = encoder.with_inputs(SIAMESE_INPUTS)
    rows = enc.ids(list(zip(FIRST, SECOND)))
    assert isinstance(rows[0], PairIds) and len(rows[1]) == max(len(rows[1][0]), len(rows[1][1]))
    assert rows[0][0] == encoder.ids([FIRST[0]])[0] and rows[0][1] == encoder.ids([SECOND[0]])[0]   # single-text template each
    feeds = enc.encode(list(zip(FIRST, SECOND)))
    assert list(feeds) == list(SIAMESE_INPUTS) and len({tuple(v.shape) for v in feeds.values()}) == 1
    assert int(feeds["attention_mask"][1].sum()) == len(rows[1][0]) and int(feeds["pair_attention_mask"][1].sum()) == len(rows[1][1])
    with torch.no_grad():
        batched = loaded(**feeds)
        alone = torch.cat([loaded(**enc.encode([pair])) for pair in zip(FIRST, SECOND)])
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=0)


def test_pair_augmentation_varies_each_side_deterministically():
    from distill.augment import AugmentConfig, augment_pairs

    pairs = list(zip(FIRST, SECOND))
    config = AugmentConfig(per_sentence=3, seed=1, p_mask=0.3, p_ngram=0.0)
    out = augment_pairs(pairs, config)
    assert out == augment_pairs(pairs, config) and out and not set(out) & set(pairs)
    assert all(isinstance(p, tuple) and len(p) == 2 and p[0].strip() and p[1].strip() for p in out)
    assert any(p[0] not in FIRST for p in out) and any(p[1] not in SECOND for p in out)


def _run(args, capsys, monkeypatch):
    code, out, err = cli(args, capsys, monkeypatch)
    assert code == 0, err + out
    return out


def test_siamese_students_from_the_cli(movie, tmp_path, capsys, monkeypatch, cache):
    import onnxruntime as ort

    from distill import load_student
    from distill.text import Encoder
    from edge_runtime import Bundle, load

    build("bert", tmp_path / "base", movie[0][:1500])
    data = pairs_csv(tmp_path / "pairs.csv", movie)
    _run(["teacher", "finetune", "--base", tmp_path / "base", "--data", data, "--epochs", "1", "--max-len", "32",
          "--out", tmp_path / "teacher"], capsys, monkeypatch)
    tiny = ["--hidden", "8", "--embed-dim", "16", "--epochs", "1"]
    _run(["distill", "--teacher", tmp_path / "teacher", "--data", data, "--student", "bilstm", "--augment", "1", *tiny,
          "--out", tmp_path / "bilstm"], capsys, monkeypatch)
    _run(["distill", "--teacher", tmp_path / "teacher", "--data", data, "--student", "gru", "--loss", "ce", *tiny,
          "--out", tmp_path / "gru-labels"], capsys, monkeypatch)
    for name in ("bilstm", "gru-labels"):
        meta = json.loads((tmp_path / name / "student.json").read_text())
        assert meta["config"]["siamese"] is True and meta["result"]["trained_on"] == ("teacher" if name == "bilstm" else "labels")
    assert json.loads((tmp_path / "bilstm" / "student.json").read_text())["result"]["transfer_sentences"] > 200   # + augmented pairs

    _run(["export", tmp_path / "bilstm", "--data", data, "--format", "onnx,tflite,coreml", "--precision", "fp32,int8",
          "--buckets", "32", "--validate", "40", "--out", tmp_path / "bundle"], capsys, monkeypatch)
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["task"]["inputs"] == ["text", "text_pair"] and manifest["task"]["pair_encoding"] == "siamese"
    assert manifest["tokenizer"]["model_inputs"] == list(SIAMESE_INPUTS)
    shipped = {(m["format"], m["precision"]) for m in manifest["models"]}
    assert shipped == {(f, p) for f in ("onnx", "tflite", "coreml") for p in ("fp32", "int8")}, manifest["parity"]["rows"]
    for entry in manifest["models"]:
        assert [i["name"] for i in entry["inputs"]] == list(SIAMESE_INPUTS), entry["file"]

    # the ONNX file on the bundle's own encoding equals PyTorch on the same pairs
    model, _ = load_student(tmp_path / "bilstm")
    enc = Encoder(tmp_path / "bilstm", 32).with_inputs(SIAMESE_INPUTS)
    pairs = list(zip(FIRST, SECOND))
    bundle = Bundle.open(tmp_path / "bundle")
    feeds = bundle.encode(pairs)
    for k, v in enc.encode_np(pairs).items():
        np.testing.assert_array_equal(feeds[k], v)
    with torch.no_grad():
        expected = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).numpy()
    fp32 = next(m["file"] for m in manifest["models"] if m["format"] == "onnx" and m["precision"] == "fp32")
    session = ort.InferenceSession(str(tmp_path / "bundle" / fp32), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(["logits"], feeds)[0], expected, atol=1e-4)
    # sides padded to different widths (an app may pad each alone): same answer
    first_only = {k: v for k, v in enc.encode_np([(a, a) for a in FIRST]).items() if not k.startswith("pair_")}
    second_only = {k: v for k, v in enc.encode_np([(b, b) for b in SECOND]).items() if k.startswith("pair_")}
    np.testing.assert_allclose(session.run(["logits"], first_only | second_only)[0], expected, atol=1e-4)
    for entry in manifest["models"]:
        if entry["format"] != "onnx":
            np.testing.assert_allclose(load(bundle.resolve(entry["file"]))(feeds), expected, atol=0.05 if "int8" in entry["precision"] else 1e-3)

    out = _run(["parity", tmp_path / "bundle", "--teacher", tmp_path / "teacher", "--data", data, "--source", tmp_path / "bilstm",
                "--json", tmp_path / "parity.json"], capsys, monkeypatch)
    report = json.loads((tmp_path / "parity.json").read_text())
    assert report["sentences"] > 0 and len(report["models"]) == 6
    assert all(m["passed"] and m["agreement_with_teacher"] is not None for m in report["models"].values()), out

    # a siamese student on single texts, and a pair bundle's other encoding, are refused by name
    single = tmp_path / "single.csv"
    single.write_text("text,label\n" + "".join(f"\"{t}\",same\n" for t in movie[0][:60]), encoding="utf-8")
    code, out, err = cli(["export", tmp_path / "gru-labels", "--data", single, "--out", tmp_path / "no"], capsys, monkeypatch)
    assert code == 2 and "siamese" in err and not (tmp_path / "no").exists()
