"""edge_runtime.arm64: the worker protocol (run here with the host's Python on tiny models built in the test), the
record/replay of the bundle's own batches, the error when the ARM64 environment is missing, and the CLI flags.

The real ARM64 run needs the arm64 root `make arm64-env` builds; it is not built for `make test`, so it lives in
benchmarks/arm64_table.py (`make bench-arm64`), not here.
"""
import json

import numpy as np
import pytest

from edgecore import ConfigError

SENTENCES = ["a fine and funny film", "dull", "the worst movie of the year , dull and long and far too loud to enjoy",
             "great fun", "not bad at all", "i left early"]


@pytest.fixture(scope="module")
def bundle_dir(make_tiny_student, encoder, base_dir, tmp_path_factory):
    """A tiny BiLSTM as ONNX fp32 + TFLite fp32 (buckets 16, 64) in one bundle."""
    from dataclasses import asdict

    from export import BundleConfig, to_onnx, to_tflite, write_bundle
    from export.tflite import TFLiteConfig

    student = make_tiny_student()
    work = tmp_path_factory.mktemp("arm64")
    sample = encoder.encode(SENTENCES[:2])
    onnx = to_onnx(student, sample, work / "tiny.fp32.onnx")
    tflite = to_tflite(student, sample, work / "tiny.fp32.tflite", TFLiteConfig(buckets=(16, 64)))
    return write_bundle(work / "bundle", [onnx, tflite], base_dir, BundleConfig("tiny", ("negative", "positive"), asdict(encoder.settings)))


def test_worker_on_the_host_gives_the_runners_own_logits_for_onnx_and_tflite(bundle_dir):
    from edge_runtime import Bundle, load
    from edge_runtime.arm64 import record, replay, run_worker

    bundle = Bundle.open(bundle_dir)
    texts = SENTENCES * 3
    batches = record(bundle, texts, batch_size=4)
    assert len(batches) == 5 and all(set(b) >= {"input_ids", "attention_mask"} for b in batches)
    files = [bundle.resolve(e["file"]) for e in bundle.manifest["models"]]
    platform, out = run_worker("x86", files, batches, bundle.root)
    assert platform["onnxruntime"] and platform["ai_edge_litert"] and platform["machine"] in ("x86_64", "AMD64")
    for k, (entry, file) in enumerate(zip(bundle.manifest["models"], files)):
        direct = bundle.logits(load(file), texts, batch_size=4)
        got = replay(bundle, texts, out[k], batch_size=4)
        assert got.shape == (len(texts), 2)
        np.testing.assert_allclose(got, direct, rtol=0, atol=1e-6, err_msg=entry["file"])


def test_worker_reports_a_broken_file_and_still_runs_the_others(bundle_dir, tmp_path):
    import shutil

    from edge_runtime import Bundle
    from edge_runtime.arm64 import record, run_worker

    bundle = Bundle.open(bundle_dir)
    good = bundle.resolve(bundle.manifest["models"][0]["file"])
    root = tmp_path / "copy"
    root.mkdir()
    shutil.copy(good, root / "good.onnx")
    (root / "broken.onnx").write_bytes(b"not an onnx file")
    _, out = run_worker("x86", [root / "broken.onnx", root / "good.onnx"], record(bundle, SENTENCES), root)
    assert isinstance(out[0], str) and "broken.onnx" in out[0]
    assert len(out[1]) == 1 and out[1][0].shape == (len(SENTENCES), 2)


def test_worker_rebuilds_an_onnx_session_with_the_options_asked_for(bundle_dir):
    from edge_runtime import Bundle
    from edge_runtime.arm64 import record, run_worker

    bundle = Bundle.open(bundle_dir)
    onnx = bundle.resolve(bundle.manifest["models"][0]["file"])
    batches = record(bundle, SENTENCES)
    _, out = run_worker("x86", [onnx, onnx, onnx], batches, bundle.root,
                        ort_options=[None, {"graph_optimization_level": "disable_all", "config": {"session.disable_prepacking": "1"}},
                                     {"graph_optimization_level": "fastest"}])
    np.testing.assert_allclose(out[1][0], out[0][0], rtol=0, atol=1e-5)   # same math, unfused
    assert isinstance(out[2], str) and "fastest" in out[2]                # an unknown level is that model's error


def test_compare_applies_the_format_tolerance_to_arm64_against_x86():
    from edge_runtime.arm64 import compare

    x86 = np.array([[1.0, -1.0], [0.2, 0.1], [-2.0, 2.0]], np.float32)
    same = compare(x86 + 1e-6, x86, "onnx", "fp32")
    assert same["agreement"] == 1.0 and same["max_abs_logit_diff"] < 1e-5 and not same["failures"]
    flipped = x86.copy()
    flipped[1] = [0.1, 0.2]
    bad = compare(flipped, x86, "onnx", "int8")
    assert bad["agreement"] == pytest.approx(2 / 3) and bad["flip_indices"] == [1]
    assert bad["failures"] == ["arm64 vs x86: agreement 0.6667 < 0.995 (1 flips)"]
    assert compare(x86 + 0.01, x86, "onnx", "fp32")["failures"][0].startswith("arm64 vs x86: max |logit diff| 0.01 > 0.001")


def test_missing_environment_is_one_error_naming_the_make_target(tmp_path, monkeypatch):
    from edge_runtime.arm64 import Arm64Env, Arm64EnvError, run_worker

    monkeypatch.setenv("EDGEDISTILL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(Arm64EnvError, match=r"ARM64 environment is not built .*`make arm64-env`") as info:
        run_worker("arm64", [], [], tmp_path)
    assert "\n" not in str(info.value) and str(tmp_path / "cache" / "arm64") in str(info.value)
    assert Arm64Env.default().root == tmp_path / "cache" / "arm64"


def test_cli_parity_arm64_without_the_environment_exits_2_before_loading_anything(tmp_path, monkeypatch, capsys):
    from tests.cli_helpers import cli

    monkeypatch.setenv("EDGEDISTILL_CACHE", str(tmp_path / "cache"))
    code, _, err = cli(["parity", tmp_path / "no-bundle", "--teacher", tmp_path / "no-teacher", "--arch", "arm64"], capsys, monkeypatch)
    assert code == 2 and "make arm64-env" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("flag, value, message", [("--arch", "arm", "arch 'arm' is not one of x86, arm64"),
                                                  ("--arm64-cpu", "cortex-x1", "arm64_cpu 'cortex-x1' is not one of")])
def test_cli_parity_refuses_an_unknown_arch_or_cpu(flag, value, message, tmp_path, monkeypatch, capsys):
    from tests.cli_helpers import cli

    code, _, err = cli(["parity", tmp_path, "--teacher", tmp_path, flag, value], capsys, monkeypatch)
    assert code == 2 and message in err


def test_config_choices_match_the_runtime_tables():
    from edge_runtime.arm64 import ARCHES, CPUS, cpuinfo
    from edgedistill.api import ARCHES as API_ARCHES
    from edgedistill.api import ARM64_CPUS, ParityConfig

    assert API_ARCHES == ARCHES and ARM64_CPUS == tuple(CPUS)
    assert ParityConfig(bundle="b", teacher="t", arch="arm64", arm64_cpu="max").arch == "arm64"
    with pytest.raises(ConfigError, match="arch 'aarch64' is not one of x86, arm64"):
        ParityConfig(bundle="b", teacher="t", arch="aarch64")
    text = cpuinfo("cortex-a76")
    assert "CPU part\t: 0xd0b" in text and " asimddp" in text and "i8mm" not in text
    assert "i8mm" in cpuinfo("max") and "asimddp" not in cpuinfo("cortex-a53")


def test_arm64_entry_joins_the_x86_comparison_to_the_parity_report():
    from edge_runtime import parity
    from edge_runtime.arm64 import arm64_entry, arm64_line

    teacher = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    x86 = teacher.copy()
    arm = teacher + np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 2.0]])   # the last sentence flips on arm64
    runs = {"cpu": "cortex-a76", "platform": {"arm64": {"machine": "aarch64"}, "x86": {"machine": "x86_64"}},
            "models": {"m.int8.onnx": {"arm64": arm, "x86": x86}, "m.pte": {"skipped": "no runtime"}}}
    entry = {"file": "m.int8.onnx", "format": "onnx", "precision": "int8"}
    out = arm64_entry(runs, entry, parity(arm, None, teacher, fmt="onnx", precision="int8", name="m.int8.onnx"))
    assert out["arch"] == "arm64" and out["agreement_with_teacher"] == pytest.approx(2 / 3)
    assert out["arm64"]["vs_x86"]["flip_indices"] == [2] and not out["passed"]
    assert out["failures"][0].startswith("arm64 vs x86: max |logit diff| 2 > 1")
    assert "FAIL" in arm64_line(out) and "cortex-a76" in arm64_line(out)
    # a .pte skipped for want of ExecuTorch in the root could be checked: not passed, so the exit code does not claim it
    skipped = arm64_entry(runs, {"file": "m.pte", "format": "executorch", "precision": "int8"}, None)
    assert not skipped["passed"] and skipped["arm64"]["skipped"] == "no runtime"
    assert skipped["failures"] == ["not checked on arm64 (skipped): no runtime"]
    runs["models"]["m.mlpackage"] = {"skipped": "Core ML runs on Apple devices only"}   # cannot run in the root at all
    coreml = arm64_entry(runs, {"file": "m.mlpackage", "format": "coreml", "precision": "fp16"}, None)
    assert coreml["passed"] and coreml["arm64"]["skipped"] == "Core ML runs on Apple devices only"
    json.dumps(out)   # the --json report is plain JSON


def test_a_pte_is_skipped_on_arm64_naming_the_install_command_only_when_executorch_is_missing(tmp_path):
    from edge_runtime.arm64 import Arm64Env, skip_reason

    env = Arm64Env(tmp_path)
    entry = {"file": "student.int8.pte"}
    assert not env.executorch
    assert "run ARM64_EXECUTORCH_INSTALL=1 make arm64-env" in skip_reason(entry, "arm64", env)
    assert skip_reason(entry, "x86", env) is None
    installed = tmp_path / "rootfs/opt/edgedistill/site-executorch/.installed"
    installed.parent.mkdir(parents=True)
    installed.write_text("executorch==1.5.1 torch==2.13.0")
    assert env.executorch and skip_reason(entry, "arm64", env) is None


def test_cli_parity_validate_checks_the_first_n_sentences(bundle_dir, tmp_path, monkeypatch, capsys):
    from distill import load_dataset
    from tests.cli_helpers import cli

    n_test = len(load_dataset("movie-snippets").test.texts)
    teacher = tmp_path / "teacher.npy"
    np.save(teacher, np.tile(np.array([[1.0, 0.0]], np.float32), (n_test, 1)))
    report = tmp_path / "p.json"
    code, out, _ = cli(["parity", bundle_dir, "--teacher", teacher, "--validate", "5", "--json", report], capsys, monkeypatch)
    assert code == 0, out
    got = json.loads(report.read_text())
    assert got["sentences"] == 5 and len(got["models"]) == 2
    code, _, err = cli(["parity", bundle_dir, "--teacher", teacher, "--validate", "0"], capsys, monkeypatch)
    assert code == 2 and "validate" in err
