import json
import zipfile
from dataclasses import asdict

import pytest

from edge_runtime import Bundle
from edgecore import IntegrityError, OutputExistsError, sha256_file
from export import BundleConfig, QuantConfig, quantize_onnx, to_onnx, write_bundle


@pytest.fixture
def bundle(tiny_student, encoder, sentences, base_dir, tmp_path):
    fp32 = to_onnx(tiny_student, encoder.encode(sentences[:2]), tmp_path / "s.onnx")
    int8 = quantize_onnx(fp32, tmp_path / "s.int8.onnx", QuantConfig("int8"))
    config = BundleConfig("tiny", ("negative", "positive"), asdict(encoder.settings), zip=True)
    return write_bundle(tmp_path / "bundle", [int8, fp32], base_dir, config, parity={"agreement": 1.0})


def test_manifest_lists_every_file_with_its_hash(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    listed = {f["path"] for f in manifest["files"]}
    assert listed == {p.name for p in bundle.iterdir()} - {"manifest.json"}
    assert {"tiny.int8.onnx", "tiny.fp32.onnx", "tokenizer.json", "vocab.txt", "labels.txt"} <= listed
    for f in manifest["files"]:
        assert sha256_file(bundle / f["path"]) == f["sha256"] and (bundle / f["path"]).stat().st_size == f["size"]
    assert manifest["models"][0]["default"] and manifest["models"][0]["precision"] == "int8"
    assert manifest["tokenizer"]["max_len"] == 64 and manifest["tokenizer"]["lowercase"] is True
    assert (bundle / "labels.txt").read_text().split() == ["negative", "positive"]
    assert "onnxruntime" in manifest["tools"]


def test_bundled_tokenizer_json_truncates_to_max_len_without_padding(bundle):
    from tokenizers import Tokenizer

    spec = json.loads((bundle / "tokenizer.json").read_text())
    assert spec["truncation"]["max_length"] == 64 and spec["padding"] is None
    ids = Tokenizer.from_file(str(bundle / "tokenizer.json")).encode("word " * 500).ids   # loaded as-is, as an app would
    assert len(ids) == 64
    assert len(Tokenizer.from_file(str(bundle / "tokenizer.json")).encode("hi").ids) == 3


def test_bundle_encodes_like_the_training_tokenizer(bundle, encoder, sentences):
    feeds = Bundle.open(bundle).encode(sentences[:4])
    ref = encoder.encode(sentences[:4])
    assert (feeds["input_ids"] == ref["input_ids"].numpy()).all() and (feeds["attention_mask"] == ref["attention_mask"].numpy()).all()


def test_existing_bundle_needs_force(bundle, tmp_path, base_dir, encoder):
    before = sha256_file(bundle / "manifest.json")
    with pytest.raises(OutputExistsError, match="--force"):
        write_bundle(bundle, [], base_dir, BundleConfig("x", ("a", "b"), asdict(encoder.settings)))
    assert sha256_file(bundle / "manifest.json") == before


def test_tampered_file_is_detected(bundle):
    with open(bundle / "tiny.int8.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(IntegrityError, match="tiny.int8.onnx.*modified after export"):
        Bundle.open(bundle)


def test_zip_opens_and_zip_slip_is_refused(bundle, tmp_path):
    opened = Bundle.open(bundle.with_suffix(".zip"))
    assert opened.labels == ["negative", "positive"]
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../escape.txt", "x")
    with pytest.raises(IntegrityError, match="escapes"):
        Bundle.open(evil)
    assert not (tmp_path.parent / "escape.txt").exists()
