"""The real `edgedistill` console script, run as a user would: exit codes, one-line errors, outputs."""
import json
import os
import subprocess
import sys
from pathlib import Path


def run(*args, cwd=None, env=None):
    exe = Path(sys.executable).with_name("edgedistill")
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "EDGEDISTILL_PROGRESS": "0", **(env or {})}, timeout=600)


def assert_clean_error(result, *needles):
    assert result.returncode == 2, result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_missing_data_file(tmp_path):
    assert_clean_error(run("data", "show", tmp_path / "nope.csv"), "does not exist", "CSV")


def test_missing_checkpoint(tmp_path):
    assert_clean_error(run("export", tmp_path / "nope", "--out", tmp_path / "b"), "does not exist")
    assert not (tmp_path / "b").exists()


def test_unknown_precision_and_format(student_dir, tmp_path):
    assert_clean_error(run("export", student_dir, "--precision", "int4", "--out", tmp_path / "b"), "'int4'", "fp16")
    assert_clean_error(run("export", student_dir, "--validate", "0", "--out", tmp_path / "b"), "validate", "whole test split")
    assert_clean_error(run("export", student_dir, "--format", "tfl", "--out", tmp_path / "b"), "'tfl'", "onnx")


def test_existing_output_without_force(tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "report.json").write_text("{}")
    assert_clean_error(run("demo", "--out", out), "--force")
    assert (out / "report.json").read_text() == "{}"


def test_pickle_checkpoint_is_refused(student_dir, tmp_path):
    (student_dir / "model.safetensors").write_bytes(b"\x80\x04\x95pickle")
    assert_clean_error(run("export", student_dir, "--out", tmp_path / "b"), "safetensors")


def test_export_bench_parity_end_to_end(student_dir, tmp_path):
    out = tmp_path / "bundle"
    result = run("export", student_dir, "--precision", "fp32,int8", "--out", out, "--json", tmp_path / "export.json")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [m["precision"] for m in manifest["models"]] == ["int8", "fp32"]
    rows = json.loads((tmp_path / "export.json").read_text())["rows"]
    assert all(r["passed"] for r in rows) and rows[1]["agreement_with_source"] >= 0.995
    assert_clean_error(run("export", student_dir, "--out", out), "--force")

    bench = run("bench", out, out / "student.fp32.onnx", "--runs", "20", "--warmup", "2", "--json", tmp_path / "bench.json")
    assert bench.returncode == 0, bench.stderr
    figures = json.loads((tmp_path / "bench.json").read_text())
    assert figures["config"]["runs"] == 20 and len(figures["results"]) == 2
    assert all(r["latency_ms"]["p50"] > 0 for r in figures["results"].values())

    logits = tmp_path / "teacher.npy"
    import numpy as np

    from distill import load_dataset

    n = len(load_dataset("movie-snippets").test)
    np.save(logits, np.tile([[1.0, 0.0]], (n, 1)).astype(np.float32))
    par = run("parity", out, "--teacher", logits, "--source", student_dir, "--json", tmp_path / "parity.json")
    assert par.returncode == 0, par.stderr
    report = json.loads((tmp_path / "parity.json").read_text())
    int8 = report["models"]["student.int8.onnx"]
    assert report["sentences"] == n and int8["passed"] and 0 <= int8["agreement_with_teacher"] <= 1

    bad = np.full((n, 2), np.nan, np.float32)
    np.save(tmp_path / "nan.npy", bad)
    assert_clean_error(run("parity", out, "--teacher", tmp_path / "nan.npy"), "NaN")


def test_data_list_names_the_builtins():
    result = run("data", "list")
    assert result.returncode == 0 and "movie-snippets" in result.stdout and "tweets" in result.stdout


def test_export_of_a_hugging_face_checkpoint(tiny_bert_dir, tmp_path):
    out = tmp_path / "bert-bundle"
    result = run("export", tiny_bert_dir, "--precision", "fp32,int8", "--out", out, "--json", tmp_path / "e.json")
    rows = json.loads((tmp_path / "e.json").read_text())["rows"] if result.returncode == 0 else []
    # a random tiny BERT may drift past the int8 tolerance: then it is left out and the exit is non-zero
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert any(m["precision"] == "fp32" for m in manifest["models"])
    assert manifest["models"][0]["metadata"]["edgedistill.kind"] == "transformer"
    assert all(r["agreement_with_source"] is not None for r in rows)


def test_keep_fp32_reaches_the_quantizer(tiny_bert_dir, tmp_path):
    out = tmp_path / "kept"
    result = run("export", tiny_bert_dir, "--precision", "fp32,int8", "--keep-fp32", "layer.7/nowhere", "--out", out)
    assert_clean_error(result, "match no node", "MatMul")
    assert not out.exists()
    from edgedistill._export import _keep_patterns
    from export.quantize import TEACHER_SENSITIVE

    assert _keep_patterns(("sensitive", "pooler")) == (*TEACHER_SENSITIVE, "pooler")


def test_nbits_default_for_bert_off_and_bad_patterns(tiny_bert_dir, tmp_path):
    from export.quantize import TEACHER_NBITS

    out = tmp_path / "default"
    result = run("export", tiny_bert_dir, "--precision", "fp32,int8", "--smooth", "off", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "[INFO]" not in result.stderr   # onnxruntime's NBits quantizer turns the root logger to INFO on import
    int8 = next(m for m in json.loads((out / "manifest.json").read_text())["models"] if m["precision"] == "int8")
    assert json.loads((out / "manifest.json").read_text())["parity"]["sentences"] == 2000   # the whole test split by default
    # the Transformer int8 default (export.quantize.TRANSFORMER_INT8): per-token activations, per-row embeddings, FFN NBits
    assert int8["metadata"]["edgedistill.per_token"] == "all" and int8["metadata"]["edgedistill.embedding"] == "per-row"
    nodes = json.loads(int8["metadata"]["edgedistill.nbits"])["nodes"]   # the tiny BERT's 2 blocks: both FFN MatMuls of each
    assert len(nodes) == 4 and all(any(p in n for p in TEACHER_NBITS) for n in nodes)
    plain = run("export", tiny_bert_dir, "--precision", "fp32,int8", "--smooth", "off", "--nbits", "off", "--out", tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr
    int8 = next(m for m in json.loads((tmp_path / "plain" / "manifest.json").read_text())["models"] if m["precision"] == "int8")
    assert "edgedistill.nbits" not in int8["metadata"]
    refused = run("export", tiny_bert_dir, "--precision", "fp32,int8", "--nbits", "layer.9/nowhere", "--out", tmp_path / "bad")
    assert_clean_error(refused, "nbits", "match no MatMul")
    assert not (tmp_path / "bad").exists()


def test_smooth_reaches_the_quantizer(tiny_bert_dir, tmp_path):
    out = tmp_path / "smoothed"
    result = run("export", tiny_bert_dir, "--precision", "fp32,int8", "--out", out)     # auto: the default for a Transformer
    assert result.returncode == 0, result.stderr
    int8 = next(m for m in json.loads((out / "manifest.json").read_text())["models"] if m["precision"] == "int8")
    alphas = json.loads(int8["metadata"]["edgedistill.smoothquant"])
    assert alphas and set(alphas.values()) <= {None, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9}
    plain = run("export", tiny_bert_dir, "--precision", "fp32,int8", "--smooth", "off", "--out", tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr
    int8 = next(m for m in json.loads((tmp_path / "plain" / "manifest.json").read_text())["models"] if m["precision"] == "int8")
    assert "edgedistill.smoothquant" not in int8["metadata"]
    for bad in ("1.5", "much"):
        refused = run("export", tiny_bert_dir, "--precision", "fp32,int8", "--smooth", bad, "--out", tmp_path / "bad")
        assert_clean_error(refused, "smooth", "(0, 1)")
        assert not (tmp_path / "bad").exists()


def test_export_onnx_and_tflite_into_one_bundle(student_dir, tmp_path):
    out = tmp_path / "both"
    result = run("export", student_dir, "--format", "onnx,tflite", "--precision", "fp32,int8", "--buckets", "16,64", "--validate", "300",
                 "--out", out, "--json", tmp_path / "e.json")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert {(m["format"], m["precision"]) for m in manifest["models"]} == {("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"), ("tflite", "int8")}
    assert manifest["models"][0]["format"] == "onnx" and manifest["models"][0]["precision"] == "int8"
    tfl = next(m for m in manifest["models"] if m["format"] == "tflite" and m["precision"] == "int8")
    assert tfl["metadata"]["edgedistill.buckets"] == "16,64"
    rows = json.loads((tmp_path / "e.json").read_text())["rows"]
    assert all(r["passed"] and r["agreement_with_source"] >= 0.995 for r in rows)
    assert_clean_error(run("export", student_dir, "--format", "tflite", "--precision", "int8-static", "--out", tmp_path / "x"),
                       "int8-static", "tflite")


def test_export_coreml_with_linux_parity(student_dir, tmp_path):
    out = tmp_path / "ios"
    result = run("export", student_dir, "--format", "coreml", "--precision", "fp16,int8", "--validate", "300", "--out", out, "--json", tmp_path / "e.json")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(m["format"], m["precision"]) for m in manifest["models"]] == [("coreml", "int8"), ("coreml", "fp16")]
    assert any(f["path"].startswith("student.int8.mlpackage/") for f in manifest["files"])
    rows = json.loads((tmp_path / "e.json").read_text())["rows"]
    assert all(r["passed"] for r in rows) and all(r["agreement_with_source"] >= 0.995 for r in rows)
