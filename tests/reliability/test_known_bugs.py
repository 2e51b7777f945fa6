"""Bugs the fuzzer found, each pinned here by the input that showed it; all fixed now, so these are plain regression
tests (a new one starts as a strict xfail with a KNOWN_BUGS entry in test_fuzz.py, and loses both once fixed).

Each bad input must end as one line `error: ...` naming what is wrong and what would work, exit 2, with nothing
half-written and no temporary file or folder left behind."""
from __future__ import annotations

import io
import tempfile
import zipfile
import zlib
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from cli_helpers import assert_clean, cli

from distill import RNNStudent, RNNStudentConfig, load_student, save_student
from export import BundleConfig, to_onnx, write_bundle


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, encoder, base_dir):
    root = tmp_path_factory.mktemp("known")
    torch.manual_seed(0)
    model = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=8, hidden=4, head_hidden=4)).eval()
    student = save_student(model, root / "student", encoder, ("negative", "positive"))
    model, _ = load_student(student)
    onnx = to_onnx(model, encoder.encode(["a fine film", "dull"]), root / "m.onnx")
    bundle = write_bundle(root / "bundle", [onnx], base_dir, BundleConfig("tiny", ("negative", "positive"), asdict(encoder.settings), zip=True))
    return {"root": root, "model": model, "zip": bundle.with_suffix(".zip")}


def test_truncated_tflite_is_a_clean_error(tiny, encoder, tmp_path, capsys, monkeypatch):
    from export.tflite import TFLiteConfig, to_tflite

    good = to_tflite(tiny["model"], encoder.encode(["a fine film", "dull"]), tmp_path / "good.tflite", TFLiteConfig(buckets=(16,)))
    bad = tmp_path / "model.tflite"
    bad.write_bytes(Path(good.path).read_bytes()[: 600_000])
    assert_clean(*cli(["bench", bad, "--runs", "1", "--warmup", "0"], capsys, monkeypatch), "tflite")


def _zlib_broken(data: bytes) -> bytes:
    """The zip with one byte of its deflate stream changed so that decompressing it raises zlib.error (not a CRC error)."""
    for pos in range(200, len(data) - 200, 97):
        changed = bytearray(data)
        changed[pos] ^= 0x55
        try:
            with zipfile.ZipFile(io.BytesIO(bytes(changed))) as zf:
                for info in zf.infolist():
                    zf.read(info)
        except zlib.error:
            return bytes(changed)
        except Exception:
            continue
    pytest.skip("no single-byte change gave a zlib error")


def test_zip_with_a_broken_deflate_stream_is_a_clean_error(tiny, tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bundle.zip"
    bad.write_bytes(_zlib_broken(tiny["zip"].read_bytes()))
    before = set(Path(tempfile.gettempdir()).glob("edgedistill-bundle-*"))
    assert_clean(*cli(["bench", bad, "--runs", "1", "--warmup", "0"], capsys, monkeypatch), "zip")
    assert set(Path(tempfile.gettempdir()).glob("edgedistill-bundle-*")) == before


@pytest.mark.parametrize("name, content", [("data.jsonl", b"null\n"), ("data.jsonl", b'null\n{"text": "a fine film", "label": "pos"}\n'),
                                           ("data.json", b"null\nnull\n")], ids=["null", "null-then-record", "json-holding-lines"])
def test_jsonl_starting_with_null_is_a_clean_error(name, content, tmp_path):
    import subprocess
    import sys

    path = tmp_path / name
    path.write_bytes(content)
    exe = Path(sys.executable).with_name("edgedistill")
    result = subprocess.run([str(exe), "data", "show", str(path)], capture_output=True, text=True, timeout=300)
    assert_clean(result.returncode, result.stdout, result.stderr, "null")


@pytest.mark.parametrize("key, value", [("files", True), ("models", 5)])
def test_manifest_with_a_scalar_file_list_is_a_clean_error(key, value, tiny, tmp_path, capsys, monkeypatch):
    import json
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny["zip"].with_suffix(""), bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest[key] = value
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert_clean(*cli(["bench", bundle, "--runs", "1", "--warmup", "0"], capsys, monkeypatch), key)


def _extracted() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("edgedistill-bundle-*"))


def test_tflite_with_damaged_metadata_is_a_clean_error(tiny, encoder, tmp_path, capsys, monkeypatch):
    """The flatbuffer verifies, but the JSON metadata entry read by read_tflite_metadata() does not decode."""
    from export.tflite import TFLiteConfig, to_tflite

    good = to_tflite(tiny["model"], encoder.encode(["a fine film", "dull"]), tmp_path / "good.tflite", TFLiteConfig(buckets=(16,)))
    data = bytearray(Path(good.path).read_bytes())
    at = data.find(b'{"edgedistill')
    assert at > 0
    data[at] ^= 0x80   # the metadata's first byte is no longer UTF-8
    bad = tmp_path / "model.tflite"
    bad.write_bytes(bytes(data))
    assert_clean(*cli(["bench", bad, "--runs", "1", "--warmup", "0"], capsys, monkeypatch), "model.tflite", "re-export")


def test_bench_of_a_zip_leaves_no_extracted_copy(tiny, capsys, monkeypatch):
    """A bundle .zip is extracted into edgedistill-bundle-* for the run; the copy goes with the Bundle (and its runner)."""
    import gc

    before = _extracted()
    code, out, err = cli(["bench", tiny["zip"], "--runs", "1", "--warmup", "0"], capsys, monkeypatch)
    assert code == 0, err
    gc.collect()
    assert _extracted() == before


def test_bundle_zip_copy_lives_as_long_as_its_bundle_or_runner(tiny):
    import gc

    from edge_runtime import Bundle, load

    before = _extracted()
    bundle = Bundle.open(tiny["zip"])
    assert bundle.temporary and bundle.source == tiny["zip"] and bundle.root.is_dir() and _extracted() - before
    root = bundle.root
    del bundle
    gc.collect()
    assert not root.exists() and _extracted() == before
    with Bundle.open(tiny["zip"]) as bundle:
        root = bundle.root
        assert root.is_dir()
    assert not root.exists()
    runner = load(tiny["zip"])                      # the runner keeps the extracted copy its model file lies in
    model = Path(runner.info.path)
    assert model.is_file()
    del runner
    gc.collect()
    assert not model.exists() and _extracted() == before
    folder = Bundle.open(tiny["zip"].with_suffix(""))
    assert not folder.temporary and folder.root == tiny["zip"].with_suffix("")
    folder.close()                                  # a folder is never removed
    assert folder.root.is_dir()


@pytest.mark.parametrize("edit, needles", [
    (lambda m: m["models"][0]["outputs"][0].update(dtype="complex128"), ["dtype", "float32"]),
    (lambda m: m.update(format="something-else"), ["something-else", "edgedistill export"]),
], ids=["tensor-dtype", "format"])
def test_manifest_dtype_and_format_are_checked(edit, needles, tiny, tmp_path, capsys, monkeypatch):
    import json
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny["zip"].with_suffix(""), bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    edit(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert_clean(*cli(["bench", bundle, "--runs", "1", "--warmup", "0"], capsys, monkeypatch), *needles)


def test_manifest_that_is_not_an_object_says_what_would_work(tiny, tmp_path, capsys, monkeypatch):
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny["zip"].with_suffix(""), bundle)
    (bundle / "manifest.json").write_text('"edgedistill-bundle"')
    assert_clean(*cli(["bench", bundle, "--runs", "1", "--warmup", "0"], capsys, monkeypatch), "JSON string", "edgedistill export")
