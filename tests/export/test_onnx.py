import numpy as np
import onnxruntime as ort
import pytest
import torch

from distill.teacher import load_classifier
from edgecore import OutputExistsError
from export import to_onnx
from export.onnx import read_metadata


def _check_dynamic(path, model, encoder, sentences, names):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch, length in ((1, 5), (3, 70)):
        feeds = encoder.encode(sentences[:batch] if length < 64 else [" ".join(sentences)] * batch)
        feeds = {k: v[:, :length] for k, v in feeds.items()}
        if length > feeds["input_ids"].shape[1]:
            feeds = {k: torch.nn.functional.pad(v, (0, length - v.shape[1])) for k, v in feeds.items()}
        feeds["attention_mask"][0, length // 2:] = 0  # a padded row too
        if "token_type_ids" in names:
            feeds["token_type_ids"] = torch.zeros_like(feeds["input_ids"])
        got = session.run(["logits"], {n: feeds[n].numpy() for n in names})[0]
        with torch.no_grad():
            ref = model(**{n: feeds[n] for n in names})
        ref = getattr(ref, "logits", ref).numpy()
        assert got.shape == (batch, 2)
        assert np.abs(got - ref).max() < 1e-4


def test_rnn_student_exports_with_dynamic_axes(tiny_student, encoder, sentences, tmp_path):
    art = to_onnx(tiny_student, encoder.encode(sentences[:2]), tmp_path / "s.onnx", metadata={"edgedistill.labels": "a,b"})
    assert [t.name for t in art.inputs] == ["input_ids", "attention_mask"] and art.outputs[0].name == "logits"
    assert art.inputs[0].shape == ("batch", "sequence")
    assert art.validation["max_abs_logit_diff"] < 1e-4 and art.size_bytes == (tmp_path / "s.onnx").stat().st_size
    meta = read_metadata(art.path)
    assert meta["edgedistill.labels"] == "a,b" and meta["tool.torch"].startswith("2.13")
    _check_dynamic(art.path, tiny_student, encoder, sentences, ("input_ids", "attention_mask"))


def test_hf_classifier_exports_with_token_type_ids(tiny_bert_dir, encoder, sentences, tmp_path):
    model = load_classifier(tiny_bert_dir)
    sample = encoder.encode(sentences[:2])
    sample["token_type_ids"] = torch.zeros_like(sample["input_ids"])
    art = to_onnx(model, sample, tmp_path / "t.onnx")
    assert [t.name for t in art.inputs] == ["input_ids", "attention_mask", "token_type_ids"]
    _check_dynamic(art.path, model, encoder, sentences, ("input_ids", "attention_mask", "token_type_ids"))


def test_existing_file_is_not_overwritten(tiny_student, encoder, tmp_path):
    (tmp_path / "s.onnx").write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match="force"):
        to_onnx(tiny_student, encoder.encode(["hi"]), tmp_path / "s.onnx")
    assert (tmp_path / "s.onnx").read_bytes() == b"keep"
