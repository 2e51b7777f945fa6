"""kill -9 and Ctrl-C during `edgedistill distill`: the rerun resumes and ends with the same weights."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

EXE = Path(sys.executable).with_name("edgedistill")


@pytest.fixture
def small_csv(movie_csv):
    return movie_csv(2000)   # epochs long enough that an interrupt lands mid-run, even under load


def _cmd(teacher, data, out):
    return [str(EXE), "distill", "--teacher", str(teacher), "--data", str(data), "--out", str(out), "--hidden", "8",
            "--epochs", "40", "--loss", "mse", "--seed", "3"]


def _env(cache):
    # one thread and early stopping off through the epochs' count being what the run needs: fully deterministic
    return {**os.environ, "EDGEDISTILL_PROGRESS": "0", "EDGEDISTILL_CACHE": str(cache), "OMP_NUM_THREADS": "1"}


def _start_and_interrupt(cmd, env, out: Path, sig) -> subprocess.CompletedProcess:
    state = out.with_name(f".{out.name}.trainer") / "trainer_state.safetensors"
    # a shell's background jobs start with SIGINT ignored and children inherit it; a terminal's Ctrl-C does not.
    # Reset it in a small exec wrapper, not a preexec_fn: running Python between fork and exec can deadlock
    # once a threaded library (JAX, via the TFLite stack) is loaded in this process.
    reset = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
    proc = subprocess.Popen([sys.executable, "-c", reset, *cmd], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be interrupted: " + proc.stderr.read()
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def test_kill_9_then_rerun_resumes_to_the_same_weights(tiny_bert_dir, small_csv, tmp_path, cache):
    env = _env(cache)
    reference = tmp_path / "reference"
    done = subprocess.run(_cmd(tiny_bert_dir, small_csv, reference), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr

    out = tmp_path / "student"
    killed = _start_and_interrupt(_cmd(tiny_bert_dir, small_csv, out), env, out, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert not out.exists()                                   # nothing half-written at the output path
    resumed = subprocess.run(_cmd(tiny_bert_dir, small_csv, out), env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_file(str(reference / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    assert not out.with_name(f".{out.name}.trainer").exists()  # the resume state is removed once done


def test_ctrl_c_exits_cleanly_and_says_how_to_resume(tiny_bert_dir, small_csv, tmp_path, cache):
    out = tmp_path / "student"
    result = _start_and_interrupt(_cmd(tiny_bert_dir, small_csv, out), _env(cache), out, signal.SIGINT)
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and "resume" in result.stderr
    assert not out.exists()
