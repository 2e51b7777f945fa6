"""edge_runtime.adb against a FAKE `adb` on PATH that replays transcripts, never a real device.

The transcripts are written in the formats adb, `am instrument` (AOSP cmds/am Instrument.java) and
the demo app's BenchReport print; they were not captured from a phone (none is attached to this
project's machines). Every test that drives the fake says so in its name.
"""
from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from edge_runtime.adb import (
    DEFAULT_BENCH_TEXT,
    INSTRUMENTATION,
    AdbNotFoundError,
    AppNotInstalledError,
    DeviceBenchConfig,
    DeviceBenchError,
    DeviceUnauthorizedError,
    NoDeviceError,
    bench_on_device,
    parse_device,
    parse_instrument_output,
)
from edgecore import ConfigError, EdgedistillError, UnsupportedError

FAKE_ADB = f"""#!{sys.executable}
# A fake adb: logs its arguments, then replays the first recorded output whose pattern matches them.
import json, os, re, sys, time
args = sys.argv[1:]
serial = None
if args[:1] == ["-s"]:
    serial, args = args[1], args[2:]
entry = {{"serial": serial, "args": args}}
if args[:1] == ["push"]:
    entry["pushed_files"] = sorted(os.listdir(args[1])) if os.path.isdir(args[1]) else []
with open(os.environ["FAKE_ADB_LOG"], "a") as f:
    f.write(json.dumps(entry) + "\\n")
for rule in json.load(open(os.environ["FAKE_ADB_SCENARIO"])):
    if re.search(rule["match"], " ".join(args)) and rule.get("serial") in (None, serial):
        time.sleep(rule.get("sleep", 0))
        sys.stdout.write(rule.get("stdout", ""))
        sys.stderr.write(rule.get("stderr", ""))
        sys.exit(rule.get("rc", 0))
sys.stderr.write("fake adb: no recorded output for " + " ".join(args) + "\\n")
sys.exit(1)
"""

DEVICES_ONE = "List of devices attached\nemulator-5554\tdevice\n\n"
DEVICES_TWO = "List of devices attached\nemulator-5554\tdevice\nR58M41XYZAB\tdevice\n\n"
DEVICES_NONE = "List of devices attached\n\n"
DEVICES_UNAUTHORIZED = "List of devices attached\nR58M41XYZAB\tunauthorized\n\n"
DEVICES_OFFLINE = "List of devices attached\nemulator-5554\toffline\n\n"
DAEMON_START = "* daemon not running; starting now at tcp:5037\n* daemon started successfully\n"
PM_WITH_APP = ("instrumentation:com.android.shell/androidx.test.runner.AndroidJUnitRunner (target=com.android.shell)\n"
               "instrumentation:org.edgedistill.demo/.BenchmarkInstrumentation (target=org.edgedistill.demo)\n")
PM_WITHOUT_APP = "instrumentation:com.android.shell/androidx.test.runner.AndroidJUnitRunner (target=com.android.shell)\n"
PUSHED = "/tmp/bundle/: 9 files pushed, 0 skipped. 41.3 MB/s (3207452 bytes in 0.074s)\n"
SAMPLES = [0.912, 0.884, 0.901, 0.95, 0.873, 0.889, 1.204, 0.897, 0.905, 0.879]
RESULT_LINE = json.dumps({
    "format": "edgedistill-bench", "version": 1, "name": "tiny/int8", "runs": 10, "warmup": 3, "threads": 1, "batch": 1, "seq_len": 64,
    "latency_ms": {"min": 0.873, "mean": 0.9194, "p50": 0.899, "p90": 0.9754, "p99": 1.18114, "max": 1.204, "std": 0.0935},
    "throughput_per_s": 1087.66, "peak_rss_mb": 88.4, "load_ms": 41.7,
    "model": {"file": "tiny.int8.onnx", "format": "onnx", "precision": "int8", "runtime": "onnxruntime-android", "runtime_version": "1.27.0"},
    "device": {"manufacturer": "Google", "model": "sdk_gphone64_x86_64", "sdk": 34, "abi": "x86_64"},
    "latencies_ms": SAMPLES}, separators=(",", ":"))
CRASHED = ("INSTRUMENTATION_RESULT: shortMsg=Process crashed.\nINSTRUMENTATION_CODE: 0\n")
NO_INSTRUMENTATION = ("INSTRUMENTATION_STATUS: id=ActivityManagerService\n"
                      "INSTRUMENTATION_STATUS: Error=Unable to find instrumentation info for: ComponentInfo{org.edgedistill.demo/"
                      "org.edgedistill.demo.BenchmarkInstrumentation}\nINSTRUMENTATION_STATUS_CODE: -1\n"
                      "android.util.AndroidException: INSTRUMENTATION_FAILED: org.edgedistill.demo/org.edgedistill.demo.BenchmarkInstrumentation\n"
                      "\tat com.android.commands.am.Instrument.run(Instrument.java:519)\n")


def _happy(devices: str = DEVICES_ONE, instrument_out: str = RESULT_LINE + "\n", **overrides) -> list[dict]:
    rules = {"devices": {"match": r"^devices$", "stdout": devices},
             "pm": {"match": r"^shell pm list instrumentation$", "stdout": PM_WITH_APP},
             "prepare": {"match": r"^shell rm -rf \S+ && mkdir -p ", "stdout": ""},
             "push": {"match": r"^push ", "stdout": PUSHED},
             "chmod": {"match": r"^shell chmod a\+rx ", "stdout": ""},
             "instrument": {"match": r"^shell am instrument ", "stdout": instrument_out},
             "cleanup": {"match": r"^shell rm -rf \S+$", "stdout": ""}}
    rules.update(overrides)
    return list(rules.values())


@pytest.fixture
def fake_adb(tmp_path, monkeypatch):
    """Put a fake adb first on PATH; returns (set_scenario, read_log)."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    adb = bin_dir / "adb"
    adb.write_text(FAKE_ADB)
    adb.chmod(adb.stat().st_mode | stat.S_IXUSR)
    scenario, log = tmp_path / "scenario.json", tmp_path / "adb-log.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("ADB", raising=False)
    monkeypatch.setenv("FAKE_ADB_SCENARIO", str(scenario))
    monkeypatch.setenv("FAKE_ADB_LOG", str(log))

    def set_scenario(rules: list[dict]) -> None:
        scenario.write_text(json.dumps(rules))

    def calls() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return set_scenario, calls


@pytest.fixture(scope="module")
def exported_bundle(encoder, base_dir, movie, tmp_path_factory):
    import torch

    from distill import RNNStudent, RNNStudentConfig
    from export import BundleConfig, QuantConfig, quantize_onnx, to_onnx, write_bundle

    torch.manual_seed(0)
    student = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=16, hidden=8, head_hidden=8)).eval()
    tmp = tmp_path_factory.mktemp("adb-bundle")
    fp32 = to_onnx(student, encoder.encode(movie[0][:2]), tmp / "s.onnx")
    int8 = quantize_onnx(fp32, tmp / "s.int8.onnx", QuantConfig("int8"))
    return write_bundle(tmp / "bundle", [int8, fp32], base_dir, BundleConfig("tiny", ("negative", "positive"), asdict(encoder.settings)))


@pytest.fixture
def bundle(exported_bundle, tmp_path):
    """A private copy per test (some tests break it on purpose)."""
    import shutil

    return Path(shutil.copytree(exported_bundle, tmp_path / "bundle"))


def test_fake_adb_bench_returns_a_bench_result_and_pushes_then_cleans_up(fake_adb, bundle, encoder):
    set_scenario, calls = fake_adb
    set_scenario(_happy(devices=DAEMON_START + DEVICES_ONE))
    result = bench_on_device(bundle, runs=10, warmup=3)
    assert result.runs == 10 and result.latencies_ms == SAMPLES
    assert result.latency_ms["p50"] == 0.899 and set(result.latency_ms) == {"min", "mean", "p50", "p90", "p99", "max", "std"}
    assert result.throughput_per_s == 1087.66 and result.peak_rss_mb == 88.4
    assert result.info["device"]["model"] == "sdk_gphone64_x86_64" and result.info["serial"] == "emulator-5554"
    assert result.info["provider"] == "onnxruntime-android" and result.info["precision"] == "int8"
    assert result.config["runs"] == 10 and result.config["warmup"] == 3 and result.config["device"] == "adb:emulator-5554"
    assert "latencies_ms" not in result.to_dict() and result.to_dict(with_samples=True)["latencies_ms"] == SAMPLES

    log = calls()
    assert [c["args"][0] if c["args"][0] != "shell" else " ".join(" ".join(c["args"][1:]).split()[:2]) for c in log] == \
        ["devices", "pm list", "rm -rf", "push", "chmod a+rx", "am instrument", "rm -rf"]
    assert all(c["serial"] == "emulator-5554" for c in log[1:])
    push = log[3]
    assert push["args"][1] == str(bundle) and push["args"][2] == "/data/local/tmp/edgedistill/tiny"
    assert set(push["pushed_files"]) >= {"manifest.json", "vocab.txt", "tokenizer.json", "tiny.int8.onnx", "labels.txt"}
    assert "chmod -R a+rX /data/local/tmp/edgedistill/tiny" in log[4]["args"][1]   # the app's user must read the push
    command = log[5]["args"][1]
    assert command.startswith("am instrument -w ") and command.endswith(INSTRUMENTATION)
    for flag in ("-e bundle /data/local/tmp/edgedistill/tiny", "-e runs 10", "-e warmup 3", "-e threads 1", "-e seq_len 64",
                 "-e model tiny.int8.onnx"):
        assert flag in command
    ids = [int(x) for x in command.split("-e ids ")[1].split(" ")[0].split(",")]
    from edge_runtime.benchmark import fixed_length_feeds

    expected = fixed_length_feeds(lambda t: encoder.encode(t), [DEFAULT_BENCH_TEXT], 64)["input_ids"][0].tolist()
    assert ids == expected and len(ids) == 64   # the same real-token feed the local benchmark times


def test_fake_adb_serial_picks_one_of_several_devices(fake_adb, bundle):
    set_scenario, calls = fake_adb
    set_scenario(_happy(devices=DEVICES_TWO))
    result = bench_on_device(bundle, serial="R58M41XYZAB", runs=10, warmup=3, precision="fp32")
    assert result.info["serial"] == "R58M41XYZAB"
    assert all(c["serial"] == "R58M41XYZAB" for c in calls()[1:])
    assert "-e model tiny.fp32.onnx" in calls()[5]["args"][1]


def test_fake_adb_several_devices_without_serial_is_an_error(fake_adb, bundle):
    set_scenario, calls = fake_adb
    set_scenario(_happy(devices=DEVICES_TWO))
    with pytest.raises(NoDeviceError, match=r"2 devices are attached \(emulator-5554 \(device\), R58M41XYZAB \(device\)\); choose one with --device adb:SERIAL"):
        bench_on_device(bundle)
    assert [c["args"] for c in calls()] == [["devices"]]   # nothing pushed


def test_fake_adb_no_device(fake_adb, bundle):
    set_scenario, calls = fake_adb
    set_scenario(_happy(devices=DEVICES_NONE))
    with pytest.raises(NoDeviceError, match=r"no Android device is attached .*connect a phone with USB debugging on, or start an emulator"):
        bench_on_device(bundle)
    assert [c["args"] for c in calls()] == [["devices"]]


def test_fake_adb_unknown_serial(fake_adb, bundle):
    set_scenario, _ = fake_adb
    set_scenario(_happy())
    with pytest.raises(NoDeviceError, match=r"device XYZ is not attached; attached: emulator-5554 \(device\)"):
        bench_on_device(bundle, serial="XYZ")


def test_fake_adb_unauthorized_device(fake_adb, bundle):
    set_scenario, calls = fake_adb
    set_scenario(_happy(devices=DEVICES_UNAUTHORIZED))
    with pytest.raises(DeviceUnauthorizedError, match=r"R58M41XYZAB is unauthorized: unlock it and accept the 'Allow USB debugging\?' prompt"):
        bench_on_device(bundle)
    assert len(calls()) == 1


def test_fake_adb_unauthorized_while_running(fake_adb, bundle):
    set_scenario, _ = fake_adb
    set_scenario(_happy(pm={"match": r"^shell pm list", "rc": 1, "stderr": "error: device unauthorized.\nThis adb server's "
                            "$ADB_VENDOR_KEYS is not set\nTry 'adb kill-server' if that seems wrong.\n"}))
    with pytest.raises(DeviceUnauthorizedError, match="emulator-5554 is unauthorized"):
        bench_on_device(bundle)


def test_fake_adb_offline_device(fake_adb, bundle):
    set_scenario, _ = fake_adb
    set_scenario(_happy(devices=DEVICES_OFFLINE))
    with pytest.raises(NoDeviceError, match=r"emulator-5554 is offline; re-plug it or run `adb reconnect`"):
        bench_on_device(bundle)


def test_fake_adb_app_not_installed(fake_adb, bundle):
    set_scenario, calls = fake_adb
    set_scenario(_happy(pm={"match": r"^shell pm list", "stdout": PM_WITHOUT_APP}))
    with pytest.raises(AppNotInstalledError, match=r"org\.edgedistill\.demo\) is not installed on emulator-5554; build and install it "
                                                   r"with `cd android_demo && \./gradlew :app:installDebug`"):
        bench_on_device(bundle)
    assert not any(c["args"][0] == "push" for c in calls())   # checked before anything is pushed


def test_fake_adb_instrumentation_missing_at_run_time(fake_adb, bundle):
    set_scenario, calls = fake_adb
    set_scenario(_happy(instrument_out=NO_INSTRUMENTATION))
    with pytest.raises(AppNotInstalledError, match="is not installed on emulator-5554"):
        bench_on_device(bundle)
    assert calls()[-1]["args"][:2] == ["shell", "rm -rf /data/local/tmp/edgedistill/tiny"]   # cleaned up anyway


def test_fake_adb_app_crash(fake_adb, bundle):
    set_scenario, _ = fake_adb
    set_scenario(_happy(instrument_out=CRASHED))
    with pytest.raises(DeviceBenchError, match=r"crashed on emulator-5554 during the benchmark \(Process crashed\.\); see `adb logcat"):
        bench_on_device(bundle)


def test_fake_adb_device_side_error_is_reported(fake_adb, bundle):
    set_scenario, _ = fake_adb
    line = json.dumps({"format": "edgedistill-bench", "version": 1, "error": "tiny.int8.onnx in /data/local/tmp/edgedistill/tiny was "
                       "modified after export (sha256 mismatch); re-export the bundle"})
    set_scenario(_happy(instrument_out=line + "\n"))
    with pytest.raises(DeviceBenchError, match=r"failed on emulator-5554: tiny\.int8\.onnx .* \(sha256 mismatch\)"):
        bench_on_device(bundle)


def test_fake_adb_push_failure(fake_adb, bundle):
    set_scenario, calls = fake_adb
    set_scenario(_happy(push={"match": r"^push ", "rc": 1, "stderr": "adb: error: failed to copy 'tiny.fp32.onnx' to "
                              "'/data/local/tmp/edgedistill/tiny/tiny.fp32.onnx': remote No space left on device\n"}))
    with pytest.raises(DeviceBenchError, match=r"pushing .* failed on emulator-5554: .*No space left on device"):
        bench_on_device(bundle)
    assert calls()[-1]["args"] == ["shell", "rm -rf /data/local/tmp/edgedistill/tiny"]   # no half-pushed bundle left


def test_fake_adb_silent_instrumentation(fake_adb, bundle):
    set_scenario, _ = fake_adb
    set_scenario(_happy(instrument_out="INSTRUMENTATION_CODE: -1\n"))
    with pytest.raises(DeviceBenchError, match=r"printed no result line \(last output: INSTRUMENTATION_CODE: -1\)"):
        bench_on_device(bundle)


def test_fake_adb_timeout(fake_adb, bundle):
    set_scenario, _ = fake_adb
    set_scenario(_happy(instrument={"match": r"^shell am instrument ", "sleep": 3, "stdout": RESULT_LINE + "\n"}))  # replaces the rule
    with pytest.raises(DeviceBenchError, match=r"did not finish within 1 s"):
        bench_on_device(bundle, config=DeviceBenchConfig(timeout_s=1.0))


def test_missing_adb_is_a_clear_error(bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for var in ("ADB", "ANDROID_HOME", "ANDROID_SDK_ROOT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(AdbNotFoundError, match=r"adb was not found .*install Android platform-tools \(Debian: apt-get install adb\) or set ADB="):
        bench_on_device(bundle)


def test_broken_bundle_fails_before_adb(bundle, tmp_path, monkeypatch):
    from edgecore import IntegrityError

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with open(bundle / "tiny.int8.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(IntegrityError, match="modified after export"):
        bench_on_device(bundle)


def test_coreml_model_is_refused(bundle, monkeypatch):
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["models"][0]["format"] = "coreml"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UnsupportedError, match="the Android app runs onnx and tflite models"):
        bench_on_device(bundle)


def test_instrument_output_parsing_plain_and_raw():
    plain = parse_instrument_output(RESULT_LINE + "\n")
    raw = parse_instrument_output(f"INSTRUMENTATION_RESULT: stream={RESULT_LINE}\nINSTRUMENTATION_CODE: -1\n")
    assert plain == raw and plain["runs"] == 10
    broken = json.loads(RESULT_LINE)
    del broken["latency_ms"]["p99"]
    with pytest.raises(DeviceBenchError, match=r"lacks latency_ms\.p99; reinstall android_demo/app"):
        parse_instrument_output(json.dumps(broken))
    with pytest.raises(DeviceBenchError, match="writes result version 2"):
        parse_instrument_output(json.dumps({**json.loads(RESULT_LINE), "version": 2}))


def test_device_spec_and_config_validation():
    assert parse_device("adb") is None
    assert parse_device("adb:emulator-5554") == "emulator-5554"
    for bad in ("usb", "adb:", "adb: x", "ADB"):
        with pytest.raises(ConfigError, match="use adb .* or adb:SERIAL"):
            parse_device(bad)
    with pytest.raises(ConfigError, match="runs >= 1"):
        DeviceBenchConfig(runs=0)
    with pytest.raises(ConfigError, match="device_dir must be an absolute path"):
        DeviceBenchConfig(device_dir="tmp/x")


def test_device_errors_are_one_line_edgedistill_errors():
    for cls in (AdbNotFoundError, NoDeviceError, DeviceUnauthorizedError, AppNotInstalledError, DeviceBenchError):
        assert issubclass(cls, EdgedistillError) and cls("x").exit_code == 2
