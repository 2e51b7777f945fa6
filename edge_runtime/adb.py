"""Benchmark a bundle on an Android phone over adb: push it, run the demo app's benchmark, read its line.

The device side is android_demo/app: `BenchmarkInstrumentation`, started with
`adb shell am instrument -w -e runs N -e warmup N ...`, verifies the pushed bundle's sha256s, times
the model with onnxruntime-android (or LiteRT) and prints one JSON line made by the Java core's
BenchReport (the same statistics as `latency_stats`, proven equal by tests/android). This module
turns that line into a BenchResult, so a phone's numbers sit next to a laptop's.

The feed is the one the local benchmark uses: the bundle's own tokenizer on the benchmark passage,
real tokens at a fixed length, computed here and passed to the device as ids.

    >>> r = bench_on_device("runs/demo/bundle", serial=None, runs=200)   # doctest: +SKIP
    >>> r.latency_ms["p50"], r.info["device"]["model"]                     # doctest: +SKIP
    (0.91, 'Pixel 7')
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from edgecore import ConfigError, EdgedistillError, UnsupportedError

APP_PACKAGE = "org.edgedistill.demo"
INSTRUMENTATION = f"{APP_PACKAGE}/.BenchmarkInstrumentation"
DEVICE_DIR = "/data/local/tmp/edgedistill"   # adb's shell user can write here and the app can read it
RESULT_FORMAT = "edgedistill-bench"
APP_FORMATS = ("onnx", "tflite")              # what the app can run (Core ML is Apple-only)
STATS_KEYS = ("min", "mean", "p50", "p90", "p99", "max", "std")

# The passage edge_runtime.benchmark times when no data is given; the Java core's BenchInput.DEFAULT_TEXT
# repeats it and tests/android checks the two are the same.
from edge_runtime.benchmark import BENCH_TEXT as DEFAULT_BENCH_TEXT  # noqa: E402


class DeviceError(EdgedistillError):
    """Something between this machine and the phone is not ready; the message says what to do."""


class AdbNotFoundError(DeviceError):
    """No adb executable."""


class NoDeviceError(DeviceError):
    """No device attached, the asked-for serial is not attached, or several are and none was chosen."""


class DeviceUnauthorizedError(DeviceError):
    """The device has not accepted this computer's USB debugging key."""


class AppNotInstalledError(DeviceError):
    """The demo app (which holds the benchmark instrumentation) is not on the device."""


class DeviceBenchError(DeviceError):
    """The push or the benchmark run failed on the device."""


@dataclass(frozen=True)
class DeviceBenchConfig:
    runs: int = 100
    warmup: int = 10
    threads: int = 1
    seq_len: int = 64
    precision: str | None = None      # which model of the bundle (default: the bundle's default model)
    fmt: str | None = None
    device_dir: str = DEVICE_DIR
    timeout_s: float = 900.0          # for the whole instrumentation run
    keep: bool = False                # leave the pushed bundle on the device afterwards

    def __post_init__(self) -> None:
        if self.runs < 1 or self.warmup < 0 or self.threads < 1 or self.seq_len < 2:
            raise ConfigError(f"need runs >= 1, warmup >= 0, threads >= 1, seq_len >= 2 (got {self.runs}, {self.warmup}, {self.threads}, {self.seq_len})")
        if self.timeout_s <= 0:
            raise ConfigError(f"timeout_s must be positive (got {self.timeout_s})")
        if not self.device_dir.startswith("/") or any(c in self.device_dir for c in "'\"\\ \n"):
            raise ConfigError(f"device_dir must be an absolute path without quotes or spaces, like {DEVICE_DIR} (got {self.device_dir!r})")


def parse_device(spec: str) -> str | None:
    """`adb` -> None (the only attached device), `adb:SERIAL` -> SERIAL."""
    if spec == "adb":
        return None
    if spec.startswith("adb:") and len(spec) > 4 and not any(c.isspace() for c in spec):
        return spec[4:]
    raise ConfigError(f"--device {spec!r} is not a device; use adb (the one attached device) or adb:SERIAL (a serial from `adb devices`)")


def find_adb(adb: str | None = None) -> str:
    """The adb to use: the argument, $ADB, adb on PATH, or the SDK's platform-tools."""
    candidates = [adb, os.environ.get("ADB"), shutil.which("adb")]
    for var in ("ANDROID_HOME", "ANDROID_SDK_ROOT"):
        if os.environ.get(var):
            candidates.append(str(Path(os.environ[var]) / "platform-tools" / "adb"))
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    raise AdbNotFoundError("adb was not found (not on PATH, $ADB, or $ANDROID_HOME/platform-tools); install Android "
                           "platform-tools (Debian: apt-get install adb) or set ADB=/path/to/adb")


def _run(adb: str, args: list[str], serial: str | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess:
    cmd = [adb] + (["-s", serial] if serial else []) + args
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, errors="replace")
    except FileNotFoundError:
        raise AdbNotFoundError(f"{adb} could not be run; install Android platform-tools or set ADB=/path/to/adb") from None
    except subprocess.TimeoutExpired:
        raise DeviceBenchError(f"`adb {' '.join(args[:3])}` on {serial or 'the device'} did not finish within {timeout:.0f} s; "
                               "check the phone (screen on, not throttled) or raise the timeout") from None


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def _check_shell(result: subprocess.CompletedProcess, serial: str, what: str) -> str:
    """stdout of an adb command, or the typed error its output describes."""
    out = (result.stdout or "") + (result.stderr or "")
    low = out.lower()
    if "unauthorized" in low:
        raise DeviceUnauthorizedError(_unauthorized(serial))
    if re.search(r"device '?[^ ]*'? not found|no devices/emulators found", low):
        raise NoDeviceError(f"device {serial} is no longer attached; re-plug it and run again")
    if "offline" in low and result.returncode != 0:
        raise NoDeviceError(_offline(serial))
    if result.returncode != 0:
        raise DeviceBenchError(f"{what} failed on {serial}: {_last_line(out)}")
    return result.stdout or ""


def _unauthorized(serial: str) -> str:
    return (f"device {serial} is unauthorized: unlock it and accept the 'Allow USB debugging?' prompt "
            "(if none shows, revoke USB debugging authorizations in Developer options and re-plug), then run again")


def _offline(serial: str) -> str:
    return f"device {serial} is offline; re-plug it or run `adb reconnect`, then run again"


def list_devices(adb: str) -> list[tuple[str, str]]:
    """(serial, state) pairs from `adb devices`; state is device, unauthorized, offline, ..."""
    result = _run(adb, ["devices"], timeout=30)
    if result.returncode != 0:
        raise DeviceError(f"`adb devices` failed: {_last_line(result.stderr or result.stdout)}; try `adb kill-server` and run again")
    devices = []
    for line in result.stdout.splitlines():
        line = line.strip()
        if not line or line.startswith("*") or line.startswith("List of devices"):
            continue
        parts = line.split()
        if len(parts) >= 2:
            devices.append((parts[0], parts[1]))
    return devices


def choose_device(devices: list[tuple[str, str]], serial: str | None) -> str:
    """The serial to use, or the typed error that says why there is none."""
    if not devices:
        raise NoDeviceError("no Android device is attached (`adb devices` lists none); connect a phone with USB debugging "
                            "on, or start an emulator, then run again")
    listing = ", ".join(f"{s} ({st})" for s, st in devices)
    if serial is None:
        if len(devices) > 1:
            raise NoDeviceError(f"{len(devices)} devices are attached ({listing}); choose one with --device adb:SERIAL")
        serial, state = devices[0]
    else:
        states = dict(devices)
        if serial not in states:
            raise NoDeviceError(f"device {serial} is not attached; attached: {listing}; use --device adb:SERIAL with one of them")
        state = states[serial]
    if state == "unauthorized":
        raise DeviceUnauthorizedError(_unauthorized(serial))
    if state == "offline":
        raise NoDeviceError(_offline(serial))
    if state != "device":
        raise NoDeviceError(f"device {serial} is in state {state!r}, not ready for adb; wait for it to boot or re-plug it")
    return serial


def _not_installed(serial: str) -> AppNotInstalledError:
    return AppNotInstalledError(f"the edgedistill demo app ({APP_PACKAGE}) is not installed on {serial}; build and install it "
                                "with `cd android_demo && ./gradlew :app:installDebug` (see android_demo/README.md)")


def check_app_installed(adb: str, serial: str) -> None:
    out = _check_shell(_run(adb, ["shell", "pm", "list", "instrumentation"], serial, timeout=60), serial, "`pm list instrumentation`")
    for line in out.splitlines():
        target = line.strip().removeprefix("instrumentation:").split(" ")[0]
        if target.startswith(f"{APP_PACKAGE}/") and target.endswith("BenchmarkInstrumentation"):
            return
    raise _not_installed(serial)


def parse_instrument_output(text: str, serial: str = "the device") -> dict:
    """The benchmark's JSON line from `am instrument -w` output (plain, or -r raw mode), checked.

    Raises AppNotInstalledError / DeviceBenchError with what `am` or the app said instead.
    """
    found = None
    for line in text.splitlines():
        line = line.strip()
        for prefix in ("INSTRUMENTATION_RESULT: stream=", "INSTRUMENTATION_RESULT: edgedistill_json="):
            if line.startswith(prefix):
                line = line[len(prefix):]
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and obj.get("format") == RESULT_FORMAT:
            found = obj
    if found is None:
        if "Unable to find instrumentation" in text or "INSTRUMENTATION_FAILED" in text:
            raise _not_installed(serial)
        crash = re.search(r"shortMsg=(.*)", text)
        if crash:
            raise DeviceBenchError(f"the demo app crashed on {serial} during the benchmark ({crash.group(1).strip()}); "
                                   "see `adb logcat -s edgedistill AndroidRuntime`")
        raise DeviceBenchError(f"the benchmark on {serial} printed no result line (last output: {_last_line(text)}); "
                               "rebuild and reinstall android_demo/app from this checkout")
    if found.get("version") != 1:
        raise DeviceBenchError(f"the app on {serial} writes result version {found.get('version')}, this host reads 1; "
                               "reinstall android_demo/app from this checkout")
    if "error" in found:
        raise DeviceBenchError(f"the benchmark failed on {serial}: {found['error']}")
    missing = [k for k in ("runs", "latency_ms", "throughput_per_s") if k not in found]
    missing += [f"latency_ms.{k}" for k in STATS_KEYS if k not in (found.get("latency_ms") or {})]
    if missing:
        raise DeviceBenchError(f"the result line from {serial} lacks {', '.join(missing)}; reinstall android_demo/app from this checkout")
    return found


def result_from_json(d: dict, serial: str, config: DeviceBenchConfig):
    """A BenchResult from the device's line, shaped like a local one (config, info, samples)."""
    from edge_runtime.benchmark import BenchConfig, BenchResult

    bench_config = asdict(BenchConfig(warmup=int(d.get("warmup", config.warmup)), runs=int(d["runs"]),
                                      threads=int(d.get("threads", config.threads)), batch=int(d.get("batch", 1)),
                                      seq_len=int(d.get("seq_len", config.seq_len))))
    bench_config["device"] = f"adb:{serial}"
    model, device = d.get("model") or {}, d.get("device") or {}
    info = {"format": model.get("format", ""), "precision": model.get("precision", ""), "provider": model.get("runtime", ""),
            "runtime_version": model.get("runtime_version", ""), "file": model.get("file", ""), "load_ms": d.get("load_ms"),
            "transport": "adb", "serial": serial, "device": device}
    values = {"name": f"{d.get('name', 'model')} on {device.get('model', serial)}", "runs": int(d["runs"]),
              "latency_ms": {k: float(d["latency_ms"][k]) for k in STATS_KEYS},
              "throughput_per_s": float(d["throughput_per_s"]),
              "peak_rss_mb": None if d.get("peak_rss_mb") is None else float(d["peak_rss_mb"]),
              "config": bench_config, "info": info,
              "latencies_ms": [float(x) for x in d.get("latencies_ms") or []]}
    optional = {"load_ms": d.get("load_ms"),
                "workload": {"kind": "fixed", "items": 1, "batch": int(d.get("batch", 1)),
                             "tokens": {"min": int(d.get("seq_len", 0)), "mean": float(d.get("seq_len", 0)), "max": int(d.get("seq_len", 0))}}}
    names = {f.name for f in fields(BenchResult)}
    values.update({k: v for k, v in optional.items() if k in names})
    return BenchResult(**values)


def _device_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "bundle"


def bench_on_device(bundle_path: str | Path, serial: str | None = None, runs: int = 100, warmup: int = 10, threads: int = 1,
                    seq_len: int = 64, precision: str | None = None, *, fmt: str | None = None, adb: str | None = None,
                    config: DeviceBenchConfig | None = None, text: str = DEFAULT_BENCH_TEXT):
    """Push a bundle to an Android device, run the demo app's benchmark there, return a BenchResult.

    `serial` None uses the only attached device. Everything about the device is checked before
    anything is pushed: adb present, device attached and authorized, app installed. A `config`, when
    given, replaces runs / warmup / threads / seq_len / precision / fmt.

    >>> r = bench_on_device("runs/demo/bundle", runs=200, warmup=20)   # doctest: +SKIP
    """
    from edge_runtime.benchmark import fixed_length_feeds
    from edge_runtime.bundle import Bundle

    config = config or DeviceBenchConfig(runs=runs, warmup=warmup, threads=threads, seq_len=seq_len, precision=precision, fmt=fmt)
    bundle = Bundle.open(bundle_path)   # verified here first: a broken bundle is not worth a push
    entry = bundle.model_entry(config.precision, config.fmt)
    if entry["format"] not in APP_FORMATS:
        raise UnsupportedError(f"the Android app runs {' and '.join(APP_FORMATS)} models; {entry['file']} is {entry['format']}; "
                               f"choose another model of the bundle with precision/format")
    adb = find_adb(adb)
    serial = choose_device(list_devices(adb), serial)
    check_app_installed(adb, serial)

    tok = bundle.tokenizer()
    ids = fixed_length_feeds(lambda t: bundle.encode(t, tokenizer=tok), [text], config.seq_len)["input_ids"][0].tolist()
    remote = f"{config.device_dir}/{_device_name(str(bundle.manifest.get('name', 'bundle')))}"
    _check_shell(_run(adb, ["shell", f"rm -rf {shlex.quote(remote)} && mkdir -p {shlex.quote(config.device_dir)}"], serial),
                 serial, f"preparing {config.device_dir}")
    try:
        _check_shell(_run(adb, ["push", str(bundle.root), remote], serial, timeout=600), serial, f"pushing {bundle.root}")
        # the app runs as another user than adb's shell: make the pushed tree readable (best effort: some
        # storage, like /sdcard, has no modes to set)
        _run(adb, ["shell", f"chmod a+rx {shlex.quote(config.device_dir)}; chmod -R a+rX {shlex.quote(remote)}; true"], serial)
        command = ["am", "instrument", "-w", "-e", "bundle", remote, "-e", "runs", str(config.runs), "-e", "warmup", str(config.warmup),
                   "-e", "threads", str(config.threads), "-e", "seq_len", str(config.seq_len), "-e", "ids", ",".join(map(str, ids)),
                   "-e", "model", entry["file"], INSTRUMENTATION]
        result = _run(adb, ["shell", shlex.join(command)], serial, timeout=config.timeout_s)
        output = (result.stdout or "") + (result.stderr or "")
        if "unauthorized" in output.lower() and RESULT_FORMAT not in output:
            raise DeviceUnauthorizedError(_unauthorized(serial))
        return result_from_json(parse_instrument_output(output, serial), serial, config)
    finally:
        if not config.keep:   # also after a failed push: leave no half-pushed bundle behind
            try:
                _run(adb, ["shell", f"rm -rf {shlex.quote(remote)}"], serial, timeout=60)
            except DeviceError:
                pass   # best effort: the next run removes it before pushing anyway
