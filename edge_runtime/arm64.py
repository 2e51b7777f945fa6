"""Run a bundle's model files on the ARM64 builds of the runtimes (qemu-user) and on this machine's, on the same inputs.

Phones run the ARM64 kernels of onnxruntime and LiteRT, which differ from the x86 ones exactly where int8 is fragile
(u8/s8 GEMM paths, MatMulNBits' block-wise int8, the LSTM kernels). No phone is needed to run them: the environment
`make arm64-env` builds (benchmarks/arm64/setup_env.sh) is an arm64 Debian root with Python 3.11 and the aarch64
wheels of the runtimes at the project's pins, under the cache dir ($EDGEDISTILL_CACHE/arm64); edge_runtime._arm64_worker
runs in it through qemu-aarch64-static, in a private mount namespace (unshare -m) that bind-mounts the bundle, the
job folder and this project's source (the worker imports edge_runtime's own runners, which need no torch).

The host encodes the texts with the bundle's own tokenizer exactly as `Bundle.logits` does (truncation, windows,
length-sorted batches), records every batch it would run, and both workers (arm64 under qemu, x86 with this Python)
run those same batches; `Bundle.logits` then replays the logits, so windows are aggregated the same way too.
Emulation makes timing meaningless: nothing here measures latency.

>>> runs = run_bundle(Bundle.open("runs/frontier/bilstm.bundle"), texts)          # doctest: +SKIP
>>> runs["bilstm.int8.onnx"]["arm64"].shape, compare(runs["bilstm.int8.onnx"]["arm64"], runs["bilstm.int8.onnx"]["x86"])  # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecore import EdgedistillError, UnsupportedError

SETUP = "make arm64-env"          # what builds the environment (benchmarks/arm64/setup_env.sh)
INSTALL_EXECUTORCH = f"ARM64_EXECUTORCH_INSTALL=1 {SETUP}"   # adds ExecuTorch's runtime (and torch) to it: step 4 of the script
ARCHES = ("x86", "arm64")
PROJECT = Path(__file__).resolve().parent.parent    # the folder holding edge_runtime/ and edgecore/
WORKER = "edge_runtime._arm64_worker"

#: the emulated cores -> (qemu -cpu value, the /proc/cpuinfo MIDR fields and features a phone with that core shows).
#: onnxruntime and LiteRT/XNNPACK pick their ARM64 kernels from the CPU's features (dot product, i8mm, SME), so the file
#: must match the core qemu emulates: cortex-a53 (no dot product: the oldest path), cortex-a76 (dot product, fp16
#: arithmetic: most phone cores 2019-2023), max-nosme (qemu 7.2's `max` without SME: i8mm, bf16, SVE2, like the
#: Cortex-A715/X3/A720/X4 cores of 2022-2025 phones) and max (that plus SME, which the KleidiAI kernels of both
#: runtimes use: the newest cores). qemu 7.2 has no Cortex-A55/A78/X-series model.
_MAX_FEATURES = ("fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop sha3 "
                 "sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs sb paca pacg dcpodp sve2 sveaes svepmull "
                 "svebitperm svesha3 svesm4 flagm2 frint svei8mm svebf16 i8mm bf16 dgh rng bti")
CPUS = {
    "cortex-a53": ("cortex-a53", "0x0", "0xd03", "4", "fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid"),
    "cortex-a76": ("cortex-a76", "0x4", "0xd0b", "1", "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
                                                     "asimdrdm lrcpc dcpop asimddp"),
    "max-nosme": ("max,sme=off", "0x0", "0xd40", "0", _MAX_FEATURES),
    "max": ("max", "0x0", "0xd40", "0", _MAX_FEATURES + " sme smei16i64 smef64f64 smei8i32 smef16f32 smeb16f32 smef32f32 smefa64"),
}
DEFAULT_CPU = "cortex-a76"


class Arm64EnvError(EdgedistillError, RuntimeError):
    """The ARM64 environment is missing or broken, or the worker failed in it."""


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]


def check_cpu(cpu: str) -> str:
    if cpu not in CPUS:
        raise UnsupportedError(f"unknown ARM64 cpu {cpu!r}; choose one of {', '.join(CPUS)} (qemu-aarch64 CPU models)")
    return cpu


def cpuinfo(cpu: str) -> str:
    """The /proc/cpuinfo text of a one-core phone with this qemu CPU model (cpuinfo needs it to start)."""
    _, variant, part, revision, features = CPUS[check_cpu(cpu)]
    return (f"processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: {features}\nCPU implementer\t: 0x41\nCPU architecture: 8\n"
            f"CPU variant\t: {variant}\nCPU part\t: {part}\nCPU revision\t: {revision}\n\n")


@dataclass(frozen=True)
class Arm64Env:
    """The environment `make arm64-env` builds under the cache dir: an arm64 Debian root with Python 3.11 and the runtimes."""
    root: Path

    @classmethod
    def default(cls) -> Arm64Env:
        from edgecore.fsio import cache_root

        return cls(cache_root() / "arm64")

    @property
    def rootfs(self) -> Path:
        return self.root / "rootfs"

    @property
    def stamp(self) -> Path:
        return self.root / "stamp.json"

    @property
    def executorch(self) -> bool:
        """Whether ExecuTorch's runtime (and its torch) is installed in the root (optional: ARM64_EXECUTORCH_INSTALL=1)."""
        return (self.rootfs / "opt/edgedistill/site-executorch/.installed").is_file()

    def check(self) -> Arm64Env:
        """Raise Arm64EnvError naming what is missing and the command that builds it."""
        needs = [(self.stamp, "its stamp file"), (self.rootfs / "usr/bin/python3.11", "the arm64 python3.11"),
                 (self.rootfs / "usr/bin/qemu-aarch64-static", "qemu-aarch64-static in the root"),
                 (self.rootfs / "opt/edgedistill/site/.installed", "the runtimes' aarch64 wheels")]
        for path, what in needs:
            if not path.exists():
                raise Arm64EnvError(f"the ARM64 environment is not built ({what} is missing: {path}); build it with `{SETUP}` "
                                    f"(benchmarks/arm64/setup_env.sh, needs root, apt and PyPI)")
        for tool in ("unshare", "chroot"):
            if shutil.which(tool) is None:
                raise Arm64EnvError(f"{tool} is not on PATH; the ARM64 worker needs it (util-linux / coreutils)")
        return self

    def versions(self) -> dict:
        """The stamp `make arm64-env` wrote: runtime versions under qemu, the qemu version, every wheel's sha256."""
        return json.loads(self.stamp.read_text(encoding="utf-8"))

    def command(self, job: Path, bundle_root: Path, cpu: str) -> list[str]:
        """The command that runs the worker on job/request.json in the root, under qemu with this CPU model: a private
        mount namespace bind-mounts the job folder, the bundle (read-only), this project (read-only) and a cpuinfo."""
        r = self.rootfs
        site = "/opt/edgedistill/site:/opt/edgedistill/project" + (":/opt/edgedistill/site-executorch" if self.executorch else "")
        mounts = [("bind", job, r / "mnt/job", False), ("bind", bundle_root, r / "mnt/bundle", True),
                  ("bind", PROJECT, r / "opt/edgedistill/project", True), ("bind", job / "cpuinfo", r / "proc/cpuinfo", True)]
        script = ["set -e"]
        for _, src, dst, ro in mounts:
            script.append(f"mount --bind {_q(src)} {_q(dst)}")
            if ro:
                script.append(f"mount -o remount,bind,ro {_q(dst)}")
        script.append(f"exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin PYTHONPATH={site} PYTHONDONTWRITEBYTECODE=1 HOME=/tmp LANG=C.UTF-8 "
                      f"chroot {_q(r)} /usr/bin/qemu-aarch64-static -cpu {CPUS[check_cpu(cpu)][0]} /usr/bin/python3.11 -m {WORKER} "
                      f"/mnt/job/request.json")
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", "\n".join(script)]

    def prepare(self) -> None:
        """Mount points the command needs inside the root (idempotent)."""
        r = self.rootfs
        for d in ("mnt/job", "mnt/bundle", "opt/edgedistill/project", "sys/devices/system/cpu", "proc", "tmp"):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "proc/cpuinfo").touch()
        for name in ("possible", "present", "online"):   # one core: what cpuinfo parses before it reads /proc/cpuinfo
            (r / "sys/devices/system/cpu" / name).write_text("0\n")


def _q(path) -> str:
    import shlex

    return shlex.quote(str(path))


class _Recorder:
    """A runner that keeps every batch Bundle.logits feeds it (and answers zeros)."""

    def __init__(self, width: int) -> None:
        self.width, self.batches = width, []

    def __call__(self, feeds: dict) -> np.ndarray:
        self.batches.append({k: np.ascontiguousarray(v) for k, v in feeds.items()})
        return np.zeros((len(feeds["input_ids"]), self.width), np.float32)


class _Replay:
    """A runner that answers the logits a worker computed for the recorded batches, in the same order."""

    def __init__(self, outputs: list[np.ndarray]) -> None:
        self.outputs = iter(outputs)

    def __call__(self, feeds: dict) -> np.ndarray:
        out = next(self.outputs)
        if len(out) != len(feeds["input_ids"]):
            raise Arm64EnvError(f"the worker returned {len(out)} rows for a batch of {len(feeds['input_ids'])}; rerun it")
        return out


def record(bundle, texts: list, tokenizer=None, batch_size: int = 32) -> list[dict]:
    """Every batch of feeds Bundle.logits runs for `texts` (the bundle's encoding, truncation and windows)."""
    recorder = _Recorder(len(bundle.labels))
    bundle.logits(recorder, texts, tokenizer, batch_size)
    return recorder.batches


def replay(bundle, texts: list, outputs: list[np.ndarray], tokenizer=None, batch_size: int = 32) -> np.ndarray:
    """(N, C) logits of `texts` from a worker's per-batch logits, aggregated as Bundle.logits does."""
    return bundle.logits(_Replay(outputs), texts, tokenizer, batch_size)


def skip_reason(entry: dict, arch: str, env: Arm64Env | None) -> str | None:
    """Why a bundle entry cannot run on `arch` here (None: it can)."""
    file = entry["file"]
    if entry.get("input") == "text" or file.endswith((".text.onnx", ".mediapipe.tflite")):
        return "a raw-text file (onnxruntime-extensions / MediaPipe tokenizer ops): not in the ARM64 environment"
    if file.endswith(".mlpackage"):
        return "Core ML runs on Apple devices only"
    if file.endswith(".pte") and arch == "arm64" and env is not None and not env.executorch:
        return (f"ExecuTorch's runtime is not installed in the ARM64 environment: run {INSTALL_EXECUTORCH} (~2.5 GB: PyPI's aarch64 "
                "torch is a CUDA build whose libraries the loader needs)")
    return None


def unchecked(entry: dict, skipped: str | None) -> bool:
    """A file skipped only because an optional part of the environment is missing (a .pte without ExecuTorch in the root):
    it could be checked, so its report does not pass (raw-text and Core ML files cannot run in the root at all)."""
    return skipped is not None and entry["file"].endswith(".pte")


def run_worker(arch: str, files: list[Path], batches: list[dict], bundle_root: Path, *, cpu: str = DEFAULT_CPU,
               env: Arm64Env | None = None, threads: int = 1, python: str | None = None,
               ort_options: list[dict | None] | None = None) -> tuple[dict, dict[int, list | str]]:
    """Run the worker on `arch` for every model file (paths inside `bundle_root`) over the recorded batches.

    Returns (the worker's platform versions, {index in `files`: [logits per batch] or the one-line error that stopped it}).
    arm64 runs under qemu in the environment (`env`, default: the cache dir's); x86 runs with `python` (default: this one).
    `ort_options`, one per file (None: the runner's own session): onnxruntime session options to run an ONNX file with
    instead (_arm64_worker.ort_session), the same file may then appear several times.
    """
    if arch not in ARCHES:
        raise UnsupportedError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHES)}")
    bundle_root = Path(bundle_root).resolve()
    if arch == "arm64":
        env = (env or Arm64Env.default()).check()
        env.prepare()
    job = Path(tempfile.mkdtemp(prefix=f"edgedistill-{arch}-"))
    try:
        np.savez(job / "feeds.npz", **{f"b{i:05d}.{name}": value for i, feeds in enumerate(batches) for name, value in feeds.items()})
        inside = (lambda p: f"/mnt/bundle/{Path(p).resolve().relative_to(bundle_root).as_posix()}") if arch == "arm64" else str
        where = "/mnt/job" if arch == "arm64" else str(job)
        request = {"inputs": f"{where}/feeds.npz", "batches": len(batches), "threads": threads,
                   "models": [{"file": inside(f), "out": f"{where}/out-{k}.npz", "key": k,
                               **({"ort_options": ort_options[k]} if ort_options and ort_options[k] else {})} for k, f in enumerate(files)]}
        (job / "request.json").write_text(json.dumps(request), encoding="utf-8")
        if arch == "arm64":
            (job / "cpuinfo").write_text(cpuinfo(cpu), encoding="utf-8")
            command = env.command(job, bundle_root, cpu)
            environ = None
        else:
            command = [python or sys.executable, "-m", WORKER, str(job / "request.json")]
            environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        done = subprocess.run(command, capture_output=True, text=True, env=environ)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            raise Arm64EnvError(f"the {arch} worker failed (exit {done.returncode}): "
                                f"{_first_line(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.stdout) or 'no output'}"
                                + (f"; rebuild the environment with `{SETUP}`" if arch == "arm64" else ""))
        result = json.loads(lines[-1])
        out: dict[int, list | str] = {}
        for k in range(len(files)):
            status = result["models"].get(str(k), {"ok": False, "error": "not run"})
            if not status["ok"]:
                out[k] = status["error"]
                continue
            with np.load(job / f"out-{k}.npz", allow_pickle=False) as z:
                out[k] = [z[f"b{i:05d}"] for i in range(len(batches))]
        return result["platform"], out
    finally:
        shutil.rmtree(job, ignore_errors=True)


def run_bundle(bundle, texts: list, tokenizer=None, *, cpu: str = DEFAULT_CPU, env: Arm64Env | None = None,
               arches=ARCHES, batch_size: int = 32) -> dict:
    """Every model of a bundle on `texts`, on each arch: {"platform": {arch: versions}, "models": {file: {arch: (N, C)
    logits} or {"skipped": why} or {arch + "_error": one line}}}. The same recorded batches go to every arch."""
    env = env or Arm64Env.default()
    if "arm64" in arches:
        env.check()
    tok = tokenizer or bundle.tokenizer()
    batches = record(bundle, texts, tok, batch_size)
    models: dict[str, dict] = {}
    platforms = {}
    for arch in arches:
        runnable = []
        for entry in bundle.manifest["models"]:
            why = skip_reason(entry, arch, env)
            if why:
                models.setdefault(entry["file"], {})["skipped"] = why
            else:
                runnable.append(entry)
        files = [bundle.resolve(e["file"]) for e in runnable]
        if not files:
            continue
        platforms[arch], outputs = run_worker(arch, files, batches, bundle.root, cpu=cpu, env=env)
        for k, entry in enumerate(runnable):
            got = outputs[k]
            slot = models.setdefault(entry["file"], {})
            if isinstance(got, str):
                slot[f"{arch}_error"] = got
            else:
                slot[arch] = replay(bundle, texts, got, tok, batch_size)
    return {"platform": platforms, "cpu": cpu, "models": models}


def compare(arm64: np.ndarray, x86: np.ndarray, fmt: str, precision: str) -> dict:
    """The ARM64 logits of one file against the same file's x86 logits: argmax agreement, max / mean |logit diff|,
    the sentences whose label differs, and the tolerance of the (format, precision) applied to this pair."""
    from dataclasses import asdict

    from edgecore.tolerances import tolerance

    a, b = np.asarray(arm64, np.float64), np.asarray(x86, np.float64)
    if a.shape != b.shape:
        raise Arm64EnvError(f"arm64 logits {a.shape} and x86 logits {b.shape} differ in shape")
    n = len(a)
    diff = np.abs(a - b)
    flips = np.flatnonzero(a.argmax(1) != b.argmax(1)) if n else np.zeros(0, np.int64)
    tol = tolerance(fmt, precision)
    out = {"agreement": float(1 - len(flips) / n) if n else 1.0, "max_abs_logit_diff": float(diff.max(initial=0.0)),
           "mean_abs_logit_diff": float(diff.mean()) if n else 0.0, "flip_count": int(len(flips)),
           "flip_indices": flips[:50].tolist(), "tolerance": asdict(tol), "failures": []}
    if out["max_abs_logit_diff"] > tol.max_abs_logit_diff:
        out["failures"].append(f"arm64 vs x86: max |logit diff| {out['max_abs_logit_diff']:.3g} > {tol.max_abs_logit_diff:g}")
    if out["agreement"] < tol.min_agreement:
        out["failures"].append(f"arm64 vs x86: agreement {out['agreement']:.4f} < {tol.min_agreement:g} ({len(flips)} flips)")
    return out


# ------------------------------------------------------------------ the parity command's ARM64 side (edgedistill parity --arch arm64)

def arm64_runs(bundle, texts: list, tokenizer, cpu: str = DEFAULT_CPU, env: Arm64Env | None = None) -> dict:
    """run_bundle on both arches, plus the environment's stamp (versions, wheel hashes): what `parity --arch arm64` reads."""
    env = (env or Arm64Env.default()).check()
    runs = run_bundle(bundle, texts, tokenizer, cpu=cpu, env=env)
    runs["environment"] = env.versions()
    return runs


def arm64_entry(runs: dict, entry: dict, report, console=None) -> dict:
    """One file's parity report (the ParityReport of its ARM64 logits, as a dict) with an "arm64" block: the qemu CPU,
    the runtime versions on both sides and `compare` against the same file on x86, whose failures join the report's.
    `report` None: the file did not run on ARM64; the dict says why (failed, or a .pte skipped for want of ExecuTorch in the
    root: not passed, so the command's exit code does not claim it was checked; a raw-text or Core ML file, which cannot run
    there at all: passed, marked skipped)."""
    file, got = entry["file"], runs["models"][entry["file"]]
    block = {"cpu": runs["cpu"], "runtime": runs["platform"].get("arm64"), "x86_runtime": runs["platform"].get("x86")}
    if report is None:
        error = got.get("arm64_error")
        skipped = got.get("skipped") if error is None else None
        failures = [f"arm64 run failed: {error}"] if error else [f"not checked on arm64 (skipped): {skipped}"] if unchecked(entry, skipped) else []
        out = {"name": file, "format": entry["format"], "precision": entry["precision"], "arch": "arm64",
               "passed": not failures, "failures": failures, "arm64": {**block, "skipped": skipped, "error": error}}
        if console is not None:
            what = "failed on arm64" if error else "skipped on arm64, not checked" if failures else "not run on arm64"
            console.print(f"{file}: {what} ({error or skipped})", soft_wrap=True, highlight=False)
        return out
    out = report.to_dict()
    out["arch"] = "arm64"
    if "x86" in got:
        block["vs_x86"] = compare(got["arm64"], got["x86"], entry["format"], entry["precision"])
        out["failures"] = out["failures"] + block["vs_x86"]["failures"]
    else:
        block["vs_x86"], block["x86_error"] = None, got.get("x86_error") or got.get("skipped")
        out["failures"] = out["failures"] + [f"x86 run failed: {block['x86_error']}"]
    out["passed"] = not out["failures"]
    out["arm64"] = block
    return out


def arm64_line(report: dict) -> str:
    """The console suffix of an ARM64 report: agreement and max |logit diff| against the same file on x86."""
    block = report.get("arm64")
    if not block:
        return ""
    vs = block.get("vs_x86")
    if vs is None:
        return f"; arm64 ({block['cpu']}): no x86 result ({block.get('x86_error')})"
    return (f"; arm64 ({block['cpu']}) vs x86: agreement {vs['agreement']:.2%}, max |Δlogit| {vs['max_abs_logit_diff']:.3g}, "
            f"{'PASS' if not vs['failures'] else 'FAIL'}")
