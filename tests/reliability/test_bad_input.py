"""Bad input never costs a user their work: each case gets a non-zero exit (CLI) or a typed exception
(API), one line that names the problem and what would work, no traceback, nothing half-written.

CLI cases call `edgedistill.cli.main()` in-process with argv set (the console script's entry point,
so the same error path), to keep the suite fast; `test_console_script_*` run the real executable.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import api_raises, assert_clean, cli

from distill import RNNStudent, RNNStudentConfig, TrainConfig, load_student, save_student
from distill.data import read_csv
from distill.trainer import TrainSet
from edge_runtime import BenchConfig, Bundle, load
from edgecore import CheckpointError, ConfigError, DataError, EdgedistillError, IntegrityError, OutputExistsError, UnsupportedError
from export import BundleConfig, QuantConfig, quantize_onnx, to_onnx, write_bundle


def listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


@pytest.fixture
def student_dir(encoder, tmp_path):
    torch.manual_seed(0)
    model = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=8, hidden=4, head_hidden=4)).eval()
    return save_student(model, tmp_path / "student", encoder, ("negative", "positive"))


@pytest.fixture
def bundle_dir(student_dir, encoder, base_dir, tmp_path):
    model, _ = load_student(student_dir)
    fp32 = to_onnx(model, encoder.encode(["a fine film", "dull"]), tmp_path / "m.onnx")
    return write_bundle(tmp_path / "bundle", [fp32], base_dir, BundleConfig("tiny", ("negative", "positive"), asdict(encoder.settings), zip=True))


# ----------------------------------------------------------------------------------------------
# checkpoints

def test_checkpoint_missing(capsys, monkeypatch, tmp_path):
    assert_clean(*cli(["export", tmp_path / "nope", "--out", tmp_path / "b"], capsys, monkeypatch), "does not exist")
    assert not (tmp_path / "b").exists()


def test_checkpoint_empty(capsys, monkeypatch, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_clean(*cli(["export", tmp_path / "empty", "--out", tmp_path / "b"], capsys, monkeypatch), "empty")


def test_checkpoint_is_a_file(capsys, monkeypatch, tmp_path):
    (tmp_path / "model.bin").write_bytes(b"x")
    assert_clean(*cli(["export", tmp_path / "model.bin", "--out", tmp_path / "b"], capsys, monkeypatch), "is a file")


def test_student_corrupt_safetensors(student_dir, capsys, monkeypatch, tmp_path):
    (student_dir / "model.safetensors").write_bytes(b"{corrupt")
    assert_clean(*cli(["export", student_dir, "--out", tmp_path / "b"], capsys, monkeypatch), "safetensors")


def test_pickle_offered_as_checkpoint(student_dir, capsys, monkeypatch, tmp_path):
    import pickle

    (student_dir / "model.safetensors").write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    assert_clean(*cli(["export", student_dir, "--out", tmp_path / "b"], capsys, monkeypatch), "safetensors")


def test_hf_checkpoint_with_pickle_weights_only(tiny_bert_dir, capsys, monkeypatch, tmp_path):
    hf = tmp_path / "hf"
    shutil.copytree(tiny_bert_dir, hf)
    (hf / "model.safetensors").unlink()
    torch.save({"x": torch.zeros(1)}, hf / "pytorch_model.bin")
    assert_clean(*cli(["export", hf, "--out", tmp_path / "b"], capsys, monkeypatch), "only safetensors")


def test_hf_config_unknown_architecture(tiny_bert_dir, capsys, monkeypatch, tmp_path):
    hf = tmp_path / "hf"
    shutil.copytree(tiny_bert_dir, hf)
    config = json.loads((hf / "config.json").read_text())
    config["model_type"] = "not-a-model"
    (hf / "config.json").write_text(json.dumps(config))
    assert_clean(*cli(["export", hf, "--out", tmp_path / "b"], capsys, monkeypatch), "config")


def test_student_json_unknown_kind(student_dir, capsys, monkeypatch, tmp_path):
    meta = json.loads((student_dir / "student.json").read_text())
    meta["kind"] = "mamba"
    (student_dir / "student.json").write_text(json.dumps(meta))
    assert_clean(*cli(["export", student_dir, "--out", tmp_path / "b"], capsys, monkeypatch), "mamba", "bilstm")


def test_student_json_not_json(student_dir):
    (student_dir / "student.json").write_text("{not json")
    with api_raises(CheckpointError, match="not valid JSON"):
        load_student(student_dir)


def test_student_weights_do_not_match_config(student_dir):
    meta = json.loads((student_dir / "student.json").read_text())
    meta["config"]["hidden"] = 5
    (student_dir / "student.json").write_text(json.dumps(meta))
    with api_raises(CheckpointError, match="does not match"):
        load_student(student_dir)


def test_wrong_num_labels_for_the_data(encoder, tmp_path, capsys, monkeypatch):
    model = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, num_labels=3, embed_dim=8, hidden=4, head_hidden=4))
    ckpt = save_student(model, tmp_path / "s3", encoder, ("a", "b", "c"))
    assert_clean(*cli(["export", ckpt, "--out", tmp_path / "b"], capsys, monkeypatch), "labels")
    assert not (tmp_path / "b").exists()


def test_tokenizer_missing(student_dir, capsys, monkeypatch, tmp_path):
    (student_dir / "tokenizer.json").unlink()
    assert_clean(*cli(["export", student_dir, "--out", tmp_path / "b"], capsys, monkeypatch), "tokenizer.json")


def test_tokenizer_does_not_match_the_model_vocab(encoder, tmp_path, capsys, monkeypatch):
    model = RNNStudent(RNNStudentConfig(vocab_size=1000, embed_dim=8, hidden=4, head_hidden=4))
    ckpt = save_student(model, tmp_path / "small-vocab", encoder, ("negative", "positive"))
    assert_clean(*cli(["export", ckpt, "--out", tmp_path / "b"], capsys, monkeypatch), "30522", "1000")


def test_teacher_checkpoint_missing_for_distill(capsys, monkeypatch, tmp_path):
    assert_clean(*cli(["distill", "--teacher", tmp_path / "t", "--out", tmp_path / "s"], capsys, monkeypatch), "does not exist")
    assert not (tmp_path / "s").exists()


def test_teacher_base_missing(capsys, monkeypatch, tmp_path):
    assert_clean(*cli(["teacher", "finetune", "--base", tmp_path / "none", "--out", tmp_path / "t"], capsys, monkeypatch), "does not exist")


# ----------------------------------------------------------------------------------------------
# data

def _csv(tmp_path, content: bytes) -> Path:
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("content, needle", [
    (b"", "no data rows"),
    (b"text,label\n", "no data rows"),
    (b"text,label\nfine,pos\nok,pos\n", "only one class"),
    (b"body,stars\nfine,pos\nbad,neg\n", "no column"),
    (b"text,label\n\xc3\x28 broken,pos\nbad,neg\n", "utf-8"),
], ids=["empty", "header-only", "one-class", "wrong-columns", "invalid-utf8"])
def test_bad_csv_on_the_cli(tmp_path, capsys, monkeypatch, content, needle):
    assert_clean(*cli(["data", "show", _csv(tmp_path, content)], capsys, monkeypatch), needle)


def test_data_file_missing(capsys, monkeypatch, tmp_path):
    assert_clean(*cli(["data", "show", tmp_path / "none.csv"], capsys, monkeypatch), "does not exist")


def test_data_path_is_a_folder(capsys, monkeypatch, tmp_path):
    assert_clean(*cli(["data", "show", tmp_path], capsys, monkeypatch), "folder")


def test_labels_not_in_the_label_set(tmp_path):
    with api_raises(DataError, match="not in the label set"):
        read_csv(_csv(tmp_path, b"text,label\nfine,pos\nbad,neutral\n"), label_names=("neg", "pos"))


def test_unknown_builtin_dataset(capsys, monkeypatch):
    assert_clean(*cli(["data", "show", "sst2"], capsys, monkeypatch), "movie-snippets")


def test_very_long_sentence_is_truncated_not_fatal(tmp_path, encoder):
    long = "great " * 20000   # 120,000 characters
    texts, labels, _ = read_csv(_csv(tmp_path, f"text,label\n{long},pos\nbad,neg\n".encode()))
    assert len(texts[0]) > 100_000
    assert len(encoder.ids(texts)[0]) == encoder.max_len


def test_embedded_newlines_and_quotes_survive(tmp_path):
    texts, _, _ = read_csv(_csv(tmp_path, b'text,label\n"a ""quoted""\nline",pos\nbad,neg\n'))
    assert texts[0] == 'a "quoted"\nline'


def test_nan_teacher_logits_are_refused():
    with api_raises(ConfigError, match="NaN"):
        TrainSet([[101, 102]], torch.tensor([0]), torch.tensor([[float("nan"), 0.0]]))


def test_nan_teacher_logits_on_the_cli(bundle_dir, tmp_path, capsys, monkeypatch):
    from distill import load_dataset

    n = len(load_dataset("movie-snippets").test)
    np.save(tmp_path / "nan.npy", np.full((n, 2), np.nan, np.float32))
    assert_clean(*cli(["parity", bundle_dir, "--teacher", tmp_path / "nan.npy"], capsys, monkeypatch), "NaN")


def test_pickled_logits_file_is_not_loaded(bundle_dir, tmp_path, capsys, monkeypatch):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_clean(*cli(["parity", bundle_dir, "--teacher", tmp_path / "obj.npy"], capsys, monkeypatch), "pickled")


def test_logits_of_the_wrong_shape(bundle_dir, tmp_path, capsys, monkeypatch):
    np.save(tmp_path / "short.npy", np.zeros((3, 2), np.float32))
    assert_clean(*cli(["parity", bundle_dir, "--teacher", tmp_path / "short.npy"], capsys, monkeypatch), "shape")


# ----------------------------------------------------------------------------------------------
# formats, precisions, options

def test_unknown_format(student_dir, capsys, monkeypatch, tmp_path):
    assert_clean(*cli(["export", student_dir, "--format", "tfl", "--out", tmp_path / "b"], capsys, monkeypatch), "'tfl'", "coreml")


def test_unknown_precision(student_dir, capsys, monkeypatch, tmp_path):
    assert_clean(*cli(["export", student_dir, "--precision", "int3", "--out", tmp_path / "b"], capsys, monkeypatch), "'int3'", "int8")


def test_unknown_student_kind(capsys, monkeypatch, tmp_path):
    assert_clean(*cli(["distill", "--teacher", tmp_path, "--student", "mlp", "--out", tmp_path / "s"], capsys, monkeypatch), "'mlp'", "bilstm")


@pytest.mark.parametrize("student", ["bilstm", "transformer"])
def test_zero_epochs_is_refused_not_replaced_by_the_default(student, tiny_bert_dir, capsys, monkeypatch, tmp_path):
    argv = ["distill", "--teacher", tiny_bert_dir, "--student", student, "--epochs", "0", "--out", tmp_path / "s"]
    assert_clean(*cli(argv, capsys, monkeypatch), "epochs")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("extra, names", [(["--student", "bilstm", "--intermediate", "64"], ("intermediate", "transformer")),
                                           (["--student", "transformer", "--intermediate", "0"], ("intermediate", "positive")),
                                           (["--student", "transformer", "--layers", "1", "--intermediate", "4096"], ("4096", "at most 64")),
                                           (["--student", "gru", "--stage1-epochs", "2"], ("stage1_epochs", "TinyBERT", "drop it")),
                                           (["--student", "transformer", "--layers", "1", "--stage1-lr", "1e-3"], ("stage1_lr", "distilbert", "tinybert")),
                                           (["--student", "transformer", "--lr", "0"], ("lr", "positive")),
                                           (["--student", "transformer", "--method", "tinybert", "--stage1-epochs", "0"], ("stage1_epochs", "positive"))])
def test_bad_student_shape_and_training_options(extra, names, tiny_bert_dir, movie_csv, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEDISTILL_CACHE", str(tmp_path / "cache"))
    argv = ["distill", "--teacher", tiny_bert_dir, *extra, "--data", movie_csv(40, balanced=True), "--epochs", "1", "--out", tmp_path / "s"]
    assert_clean(*cli(argv, capsys, monkeypatch), *names)
    assert not (tmp_path / "s").exists()


def test_unknown_demo_profile(capsys, monkeypatch, tmp_path):
    assert_clean(*cli(["demo", "--profile", "huge", "--out", tmp_path / "d"], capsys, monkeypatch), "huge", "quick")


def test_bad_train_config_names_choices():
    with api_raises(ConfigError, match="ce, mse, kl"):
        TrainConfig(loss="l1")
    with api_raises(ConfigError, match="temperature"):
        TrainConfig(temperature=0)


def test_bench_zero_runs(bundle_dir, capsys, monkeypatch):
    assert_clean(*cli(["bench", bundle_dir, "--runs", "0"], capsys, monkeypatch), "runs", "positive")


def test_bench_missing_model(capsys, monkeypatch, tmp_path):
    assert_clean(*cli(["bench", tmp_path / "model.onnx"], capsys, monkeypatch), "does not exist")


def test_bench_unknown_file_type(capsys, monkeypatch, tmp_path):
    (tmp_path / "model.pt").write_bytes(b"x")
    assert_clean(*cli(["bench", tmp_path / "model.pt"], capsys, monkeypatch), ".onnx")


def test_corrupt_onnx_file(capsys, monkeypatch, tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"not a protobuf at all")
    assert_clean(*cli(["bench", tmp_path / "model.onnx"], capsys, monkeypatch), "onnxruntime")


def test_quantizing_a_non_fp32_artifact(student_dir, encoder, tmp_path):
    model, _ = load_student(student_dir)
    fp32 = to_onnx(model, encoder.encode(["hi"]), tmp_path / "m.onnx")
    int8 = quantize_onnx(fp32, tmp_path / "m8.onnx", QuantConfig("int8"))
    with api_raises(UnsupportedError, match="fp32"):
        quantize_onnx(int8, tmp_path / "again.onnx", QuantConfig("int8"))


# ----------------------------------------------------------------------------------------------
# outputs

def test_output_exists_without_force(capsys, monkeypatch, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "report.json").write_text('{"keep": true}')
    assert_clean(*cli(["demo", "--out", out], capsys, monkeypatch), "--force")
    assert json.loads((out / "report.json").read_text()) == {"keep": True}


def test_export_to_existing_bundle_without_force(student_dir, bundle_dir, capsys, monkeypatch):
    before = listing(bundle_dir)
    assert_clean(*cli(["export", student_dir, "--out", bundle_dir], capsys, monkeypatch), "--force")
    assert listing(bundle_dir) == before


@pytest.mark.parametrize("command", ["distill", "export"])
def test_output_not_writable(command, tiny_bert_dir, student_dir, capsys, monkeypatch):
    # /proc refuses new files even for root, which ignores permission bits
    argv = (["distill", "--teacher", tiny_bert_dir] if command == "distill" else ["export", student_dir]) + ["--out", "/proc/edgedistill-out"]
    assert_clean(*cli(argv, capsys, monkeypatch), "cannot write under /proc", "writable")


def test_output_on_a_full_disk(student_dir, tmp_path):
    """A file-size limit (RLIMIT_FSIZE) stands in for a full disk: the write fails part-way."""
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))\n"
        "from edgedistill.cli import main\n"
        f"sys.argv = ['edgedistill', 'export', {str(student_dir)!r}, '--out', {str(tmp_path / 'bundle')!r}]\n"
        "main()\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "EDGEDISTILL_PROGRESS": "0"})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().startswith("error:")
    assert not (tmp_path / "bundle").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["student"]   # no temp files left beside it


# ----------------------------------------------------------------------------------------------
# bundles

def test_bundle_file_modified_after_export(bundle_dir, capsys, monkeypatch):
    (bundle_dir / "labels.txt").write_text("positive\nnegative\n")
    assert_clean(*cli(["bench", bundle_dir, "--runs", "1"], capsys, monkeypatch), "labels.txt", "modified")


def test_bundle_file_deleted(bundle_dir):
    (bundle_dir / "vocab.txt").unlink()
    with api_raises(IntegrityError, match="vocab.txt.*missing"):
        Bundle.open(bundle_dir)


def test_bundle_manifest_not_json(bundle_dir):
    (bundle_dir / "manifest.json").write_text("{")
    with api_raises(IntegrityError, match="not valid JSON"):
        Bundle.open(bundle_dir)


def test_bundle_manifest_entry_escapes(bundle_dir):
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    manifest["files"].append({"path": "../../etc/passwd", "sha256": "0" * 64, "size": 1})
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest))
    with api_raises(IntegrityError, match="outside the bundle"):
        Bundle.open(bundle_dir)


def test_bundle_zip_escaping_its_folder(tmp_path, capsys, monkeypatch):
    import zipfile

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("bundle/manifest.json", "{}")
        zf.writestr("../../outside.txt", "pwned")
    assert_clean(*cli(["bench", evil], capsys, monkeypatch), "escapes")
    assert not (tmp_path.parent / "outside.txt").exists()


def test_not_a_bundle(tmp_path):
    with api_raises(UnsupportedError, match="no manifest.json"):
        Bundle.open(tmp_path)


def test_typed_errors_are_edgedistill_errors():
    for cls in (CheckpointError, ConfigError, DataError, IntegrityError, OutputExistsError, UnsupportedError):
        assert issubclass(cls, EdgedistillError)


# ----------------------------------------------------------------------------------------------
# the real console script

def test_console_script_bad_input_has_no_traceback(tmp_path):
    exe = Path(sys.executable).with_name("edgedistill")
    result = subprocess.run([str(exe), "export", str(tmp_path / "missing"), "--out", str(tmp_path / "b")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error:") and len(result.stderr.strip().splitlines()) == 1


def test_console_script_usage_error(tmp_path):
    exe = Path(sys.executable).with_name("edgedistill")
    result = subprocess.run([str(exe), "export"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "checkpoint" in result.stderr.lower()


def test_bench_config_cpu_pinning_outside_the_machine():
    with api_raises(ConfigError, match="cannot pin"):
        BenchConfig(cpus=(4096,))


def test_runner_for_a_directory_without_manifest(tmp_path):
    with api_raises(UnsupportedError):
        load(tmp_path)
