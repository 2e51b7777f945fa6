"""A bundle is untrusted input: a crafted manifest.json or zip must never make `bench`, `parity` or the Python
readers load a file outside the bundle, and every malformed field gets a one-line error (exit 2)."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import zipfile
from dataclasses import asdict

import pytest
import torch
from cli_helpers import assert_clean, cli

from distill import RNNStudent, RNNStudentConfig, save_student
from distill.checkpoint import load_student
from edge_runtime import Bundle, load
from edgecore import EdgedistillError, IntegrityError
from export import BundleConfig, to_onnx, write_bundle


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, encoder, base_dir):
    """One valid bundle (a tiny BiLSTM in ONNX fp32) and, beside it, a valid ONNX file outside any bundle."""
    root = tmp_path_factory.mktemp("hostile")
    torch.manual_seed(0)
    model = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=8, hidden=4, head_hidden=4)).eval()
    student = save_student(model, root / "student", encoder, ("negative", "positive"))
    model, _ = load_student(student)
    fp32 = to_onnx(model, encoder.encode(["a fine film", "dull"]), root / "outside.onnx")
    bundle = write_bundle(root / "bundle", [fp32], base_dir, BundleConfig("tiny", ("negative", "positive"), asdict(encoder.settings)))
    return bundle, root / "outside.onnx"


@pytest.fixture
def bundle(pristine, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(pristine[0], copy)
    return copy


def edit(bundle, change) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def set_model(key, value):
    return lambda m: m["models"][0].__setitem__(key, value)


CASES = {
    "model file with ..": (set_model("file", "../outside.onnx"), "outside the bundle|malformed"),
    "model file absolute": (None, "outside the bundle|malformed"),      # filled in below: needs the real path
    "files entry with ..": (lambda m: m["files"].append({"path": "../outside.onnx", "sha256": "0" * 64, "size": 1}), "outside the bundle"),
    "model not hash-listed": (lambda m: m["files"].__setitem__(slice(None), [f for f in m["files"] if not f["path"].endswith(".onnx")]), "files list"),
    "labels disagree with outputs": (lambda m: m.__setitem__("labels", ["a", "b", "c"]), "3 labels"),
    "one label": (lambda m: m.__setitem__("labels", ["only"]), "malformed"),
    "max_len a string": (lambda m: m["tokenizer"].__setitem__("max_len", "64"), "max_len"),
    "max_len negative": (lambda m: m["tokenizer"].__setitem__("max_len", -1), "max_len"),
    "pad_id negative": (lambda m: m["tokenizer"].__setitem__("pad_id", -5), "pad_id"),
    "unknown precision": (set_model("precision", "int4"), "precision"),
    "unknown format": (set_model("format", "pickle"), "format"),
    "no models": (lambda m: m.__setitem__("models", []), "models"),
    "models not a list": (lambda m: m.__setitem__("models", {"file": "model.onnx"}), "models"),
    "sha256 not hex": (lambda m: m["files"][0].__setitem__("sha256", "xyz"), "sha256"),
    "size negative": (lambda m: m["files"][0].__setitem__("size", -1), "size"),
    "manifest is a list": (None, "format"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_crafted_manifest_is_refused_by_every_reader(case, bundle, pristine, capsys, monkeypatch):
    change, needle = CASES[case]
    outside = pristine[1]
    if case == "model file absolute":
        change = set_model("file", str(outside))
    if case == "manifest is a list":
        (bundle / "manifest.json").write_text("[1, 2]")
    else:
        edit(bundle, change)
    with pytest.raises(EdgedistillError) as info:
        Bundle.open(bundle)
    assert re.search(needle, str(info.value)), str(info.value)
    with pytest.raises(EdgedistillError):
        load(bundle)
    for argv in (["bench", bundle, "--runs", "1", "--warmup", "0"], ["parity", bundle, "--teacher", outside]):
        assert_clean(*cli(argv, capsys, monkeypatch))


def test_model_symlinked_out_of_the_bundle_is_refused(bundle, pristine, capsys, monkeypatch):
    entry = json.loads((bundle / "manifest.json").read_text())["models"][0]["file"]
    (bundle / entry).unlink()
    os.symlink(pristine[1], bundle / entry)
    with pytest.raises(IntegrityError, match="outside the bundle"):
        Bundle.open(bundle, verify=False)
    assert_clean(*cli(["bench", bundle, "--runs", "1", "--warmup", "0"], capsys, monkeypatch), "outside the bundle")


def _zip(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            if mode:
                info.external_attr = mode << 16
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def test_hostile_zips_are_refused(bundle, tmp_path):
    files = [(f"b/{p.relative_to(bundle).as_posix()}", p.read_bytes(), 0) for p in bundle.rglob("*") if p.is_file()]
    good = _zip(tmp_path / "good.zip", files)
    assert Bundle.open(good).labels == ["negative", "positive"]
    cases = {"escape": ([("../evil.txt", b"x", 0)], "escapes"),
             "symlink": (files + [("b/link", b"/etc/passwd", stat.S_IFLNK | 0o777)], "symbolic link"),
             "bomb": ([("b/zeros", b"\0" * (64 * 2**20), 0)], "zip bomb")}
    for name, (members, needle) in cases.items():
        with pytest.raises(IntegrityError, match=needle):
            Bundle.open(_zip(tmp_path / f"{name}.zip", members))
    (tmp_path / "torn.zip").write_bytes(good.read_bytes()[: 200])
    with pytest.raises(IntegrityError, match="zip"):
        Bundle.open(tmp_path / "torn.zip")
