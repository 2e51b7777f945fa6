"""Device profiles (a phone's little or big cores, approximated on this host), core pinning, machine facts.

A profile only limits *parallelism and placement*: the thread count a runner may use and the cores
the process may run on. It cannot make an x86 server core behave like a Cortex-A55: clock, cache
sizes, memory bandwidth, SIMD width (AVX-512 here vs 128-bit NEON on a phone), DVFS and thermal
throttling all stay the host's. Use a profile to see how a model scales from one constrained core to
a few, and to keep comparisons honest (everything pinned alike); use `adb` on a real phone for the
phone's own numbers.
"""
from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from edgecore import ConfigError


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    max_threads: int          # threads a runner may use (capped by the cores this process may use)
    cores: str                # "one": pin to a single core; "all": every core this process may use
    description: str

    def resolve(self) -> tuple[int, tuple[int, ...]]:
        """(threads, cpus) on this machine."""
        allowed = sorted(os.sched_getaffinity(0))
        # the last allowed core: core 0 tends to take the machine's interrupts, as a phone's little core 0 does not
        cpus = (allowed[-1],) if self.cores == "one" else tuple(allowed)
        return min(self.max_threads, len(cpus)), cpus


PROFILES: dict[str, DeviceProfile] = {
    "little": DeviceProfile("little", 1, "one",
                            "1 thread pinned to one core: a phone app's inference on one efficiency (little) core, "
                            "where Android puts background and low-priority work. Host core speed, not a Cortex-A5x's."),
    "big": DeviceProfile("big", 2, "all",
                         "up to 2 threads over all allowed cores: an app using its performance (big) cores, as "
                         "onnxruntime-android and the TFLite interpreter usually do with 2-4 threads. Host core speed."),
}


def device_profile(name: str) -> DeviceProfile:
    """The profile called `name`; an unknown name lists the choices.

    >>> device_profile("little").resolve()  # doctest: +SKIP
    (1, (1,))
    """
    if name not in PROFILES:
        raise ConfigError(f"device profile {name!r} is unknown; choose one of {', '.join(PROFILES)}")
    return PROFILES[name]


def _thread_ids() -> list[int]:
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


@contextlib.contextmanager
def pinned(cpus: tuple[int, ...] | None) -> Iterator[None]:
    """Pin every thread of this process (the caller's and any thread pool's) to `cpus`, restore on exit.

    `os.sched_setaffinity(0, ...)` on Linux moves only the calling thread; the threads onnxruntime and
    torch created earlier for their pools would keep running anywhere, so each thread is moved.
    """
    if not cpus:
        yield
        return
    previous: dict[int, set[int]] = {}
    for tid in _thread_ids():
        with contextlib.suppress(OSError):       # a thread may exit between listing and pinning
            previous[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, set(cpus))
    try:
        yield
    finally:
        for tid, mask in previous.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, mask)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The SIMD features that decide GEMM speed (fp32 FMA width, int8 dot products)."""
    wanted = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16", "asimd", "asimddp", "i8mm", "sve")
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                have = set(line.split(":", 1)[1].split())
                return [f for f in wanted if f in have]
    except OSError:
        pass
    return []


def machine_info() -> dict:
    """Facts a latency figure depends on: CPU, SIMD features, cores this process may use, library versions."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for pkg in ("onnxruntime", "numpy", "torch", "ai-edge-litert"):
        with contextlib.suppress(PackageNotFoundError):
            versions[pkg] = version(pkg)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu": cpu_name(), "machine": platform.machine(), "flags": cpu_flags(), "cores_allowed": sorted(os.sched_getaffinity(0)),
            "cores_total": os.cpu_count(), "load_avg_1min": load, "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}", "versions": versions}


def profile_dict(name: str | None) -> dict | None:
    return asdict(device_profile(name)) if name else None
