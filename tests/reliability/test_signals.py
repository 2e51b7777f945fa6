"""SIGTERM and SIGHUP are handled like Ctrl-C: temporary files and folders removed, resume state kept, exit 143 / 129
with one line on stderr. Each test starts the real console script, waits until it is mid-run, and signals it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from cli_helpers import _record

from distill import RNNStudent, RNNStudentConfig, save_student

EXE = Path(sys.executable).with_name("edgedistill")
# a shell's background job ignores SIGINT and a suite run under nohup ignores SIGHUP; the CLI keeps an inherited
# "ignore" by design (edgecore.signals), so each run here starts with both at their defaults, as in a terminal (a small exec wrapper)
RESET = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); signal.signal(signal.SIGHUP, signal.SIG_DFL); "
         "os.execv(sys.argv[1], sys.argv[1:])")


def _env(cache: Path) -> dict:
    return {**os.environ, "EDGEDISTILL_PROGRESS": "0", "EDGEDISTILL_CACHE": str(cache), "OMP_NUM_THREADS": "1"}


def start(argv, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", RESET, str(EXE), *map(str, argv)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def signal_when(proc: subprocess.Popen, ready, sig, timeout: float = 300) -> subprocess.CompletedProcess:
    """Send `sig` once `ready()` is true (the run is mid-way); return the finished process."""
    deadline = time.time() + timeout
    while not ready() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be signalled: " + proc.stderr.read()
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def assert_stopped(result, code: int, name: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    _record(lines[-1] if lines else "", result.returncode)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(lines) == 1 and lines[0].startswith(f"terminated ({name})"), result.stderr
    assert "nothing half-written" in lines[0]


@pytest.fixture
def student(encoder, tmp_path) -> Path:
    torch.manual_seed(0)
    model = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=8, hidden=4, head_hidden=4)).eval()
    return save_student(model, tmp_path / "inputs" / "student", encoder, ("negative", "positive"))


def _hidden_beside(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)], ids=["SIGTERM", "SIGHUP"])
def test_export_signalled_mid_run_leaves_nothing(sig, code, student, tmp_path):
    out_root = tmp_path / "outputs"
    out_root.mkdir()
    out = out_root / "bundle"
    argv = ["export", student, "--out", out, "--format", "onnx", "--precision", "fp32,fp16,int8,int8-static"]
    proc = start(argv, _env(tmp_path / "cache"))
    # mid-run: the export's work folder beside --out holds its first converted file
    mid = lambda: any(p.name.startswith(".export-") and any(p.iterdir()) for p in out_root.iterdir())
    result = signal_when(proc, mid, sig)
    assert_stopped(result, code, signal.Signals(sig).name)
    assert not out.exists()
    assert _hidden_beside(out) == []                      # no work folder, temp file or lock file left
    assert list(out_root.iterdir()) == []


def test_distill_sigterm_keeps_the_resume_state_and_resumes(tiny_bert_dir, movie_csv, tmp_path):
    data = movie_csv(2000)
    out = tmp_path / "student"
    env = _env(tmp_path / "cache")
    argv = ["distill", "--teacher", tiny_bert_dir, "--data", data, "--out", out, "--hidden", "8", "--epochs", "40", "--loss", "mse",
            "--seed", "3"]
    state = out.with_name(f".{out.name}.trainer") / "trainer_state.safetensors"
    result = signal_when(start(argv, env), state.exists, signal.SIGTERM)
    assert_stopped(result, 143, "SIGTERM")
    assert not out.exists()
    assert state.is_file()                                # the resume state is kept
    beside = _hidden_beside(out)
    assert beside == [".student.trainer"], beside         # and nothing else: no temp files, no lock
    assert not any(p.name.endswith(".tmp") for p in state.parent.iterdir())
    # the rerun resumes (no note about a different run or a corrupt state) and finishes
    done = subprocess.run([str(EXE), *map(str, argv)], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "note:" not in done.stderr, done.stderr
    assert (out / "model.safetensors").is_file() and not state.parent.exists()


def test_sigterm_ignored_under_nohup_stays_ignored(tmp_path):
    """A process started with SIGTERM ignored keeps ignoring it (the handler respects SIG_IGN)."""
    script = ("import signal, os, sys\n"
              "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
              "from edgecore.signals import terminate_like_interrupt\n"
              "with terminate_like_interrupt():\n"
              "    os.kill(os.getpid(), signal.SIGTERM)\n"
              "    print('still here')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "still here" in result.stdout, result.stderr


def test_terminated_is_a_keyboard_interrupt_so_atomic_writes_clean_up(tmp_path):
    """In-process: a Terminated raised inside atomic_dir / atomic_write removes their temporary files."""
    from edgecore import atomic_dir, atomic_write
    from edgecore.signals import Terminated

    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(tmp_path / "bundle") as tmp:
            (tmp / "half").write_bytes(b"x")
            raise Terminated(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(tmp_path / "file.json", "w") as f:
            f.write("{")
            raise Terminated(signal.SIGHUP)
    assert list(tmp_path.iterdir()) == []
