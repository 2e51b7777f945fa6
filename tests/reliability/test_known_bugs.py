"""Bugs the fuzzer found in files this suite's owner may not edit, pinned as strict xfails: each turns into a plain
failure (XPASS, strict) the day it is fixed, so its xfail mark and its KNOWN_BUGS entry in test_fuzz.py can go.

Until then the CLI's last line of defence (edgedistill.cli.main) turns them into one line `error: internal error
...`, exit 1, with nothing half-written: no traceback, but not the exit 2 a bad input should get."""
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


@pytest.mark.xfail(strict=True, reason="edge_runtime/litert.py: read_tflite_metadata() parses the flatbuffer unverified "
                                       "(struct.error, UnicodeDecodeError, JSONDecodeError, AttributeError) and Interpreter() raises "
                                       "ValueError; neither becomes an IntegrityError/CheckpointError (exit 1 instead of 2)")
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


@pytest.mark.xfail(strict=True, reason="edge_runtime/bundle.py extract_zip(): zf.extractall() raising zlib.error is not caught "
                                       "(exit 1 instead of 2) and the temp folder edgedistill-bundle-* is left in the temp dir")
def test_zip_with_a_broken_deflate_stream_is_a_clean_error(tiny, tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bundle.zip"
    bad.write_bytes(_zlib_broken(tiny["zip"].read_bytes()))
    before = set(Path(tempfile.gettempdir()).glob("edgedistill-bundle-*"))
    assert_clean(*cli(["bench", bad, "--runs", "1", "--warmup", "0"], capsys, monkeypatch), "zip")
    assert set(Path(tempfile.gettempdir()).glob("edgedistill-bundle-*")) == before


@pytest.mark.xfail(strict=True, reason="distill/readers.py _read_jsonl_text(): pyarrow.json.read_json (pyarrow 26.0.1) segfaults when the "
                                       "first JSON value of a JSON Lines file is null: the process dies with SIGSEGV (exit 139), no message")
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


@pytest.mark.xfail(strict=True, reason="edge_runtime/bundle.py Bundle.check_manifest(): `self.manifest.get('files') or []` iterates a "
                                       "truthy non-list (true, 5, 1.5) before the schema check: TypeError, exit 1 instead of 2")
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
