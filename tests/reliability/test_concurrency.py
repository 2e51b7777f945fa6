"""Two processes, one output or cache entry: a second writer to an output fails at once naming the first one's pid;
a second writer to a cache entry waits and reuses it. Never do both "succeed". Real processes throughout."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from cli_helpers import _record, assert_clean, cli

from distill import RNNStudent, RNNStudentConfig, save_student
from edgecore import BusyError, atomic_dir, cache_lock, check_writable, prepare_output_dir, release_outputs
from edgecore.fsio import held_locks, lock_file

EXE = Path(sys.executable).with_name("edgedistill")
RESET = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"


def _env(cache: Path) -> dict:
    return {**os.environ, "EDGEDISTILL_PROGRESS": "0", "EDGEDISTILL_CACHE": str(cache), "OMP_NUM_THREADS": "1"}


@pytest.fixture
def student(encoder, tmp_path) -> Path:
    torch.manual_seed(0)
    model = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=8, hidden=4, head_hidden=4)).eval()
    return save_student(model, tmp_path / "student", encoder, ("negative", "positive"))


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not path.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None and path.exists(), "the first run ended before the second could start: " + proc.stderr.read()


def _second_writer_fails_at_once(argv, out: Path, env: dict) -> None:
    first = subprocess.Popen([sys.executable, "-c", RESET, str(EXE), *map(str, argv)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lock_file(out), first)
    t0 = time.time()
    second = subprocess.run([str(EXE), *map(str, argv)], env=env, capture_output=True, text=True, timeout=300)
    waited = time.time() - t0
    assert first.poll() is None, "the first writer should still be running while the second is refused"
    assert_clean(second.returncode, second.stdout, second.stderr, "being written by another edgedistill process", f"pid {first.pid}")
    assert waited < 60                                        # at once: no waiting for the first to finish
    out_first, err_first = first.communicate(timeout=900)
    assert first.returncode == 0, err_first                   # the first writer is untouched by the refused second
    assert out.is_dir()
    assert not lock_file(out).exists()                        # the lock file is removed as the writer finishes


def test_two_exports_to_one_bundle(student, tmp_path):
    out = tmp_path / "bundle"
    argv = ["export", student, "--out", out, "--format", "onnx", "--precision", "fp32,fp16,int8"]
    _second_writer_fails_at_once(argv, out, _env(tmp_path / "cache"))
    assert (out / "manifest.json").is_file()


def test_two_distills_to_one_student(tiny_bert_dir, movie_csv, tmp_path):
    out = tmp_path / "student-out"
    argv = ["distill", "--teacher", tiny_bert_dir, "--data", movie_csv(400), "--out", out, "--hidden", "8", "--epochs", "3"]
    _second_writer_fails_at_once(argv, out, _env(tmp_path / "cache"))
    assert (out / "model.safetensors").is_file()


CACHE_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from edgecore import atomic_dir, cache_lock
    target = Path(sys.argv[1])
    with cache_lock(target):
        if (target / "done").is_file():
            print("reused")
        else:
            print("building", flush=True)
            with atomic_dir(target, force=True) as tmp:
                time.sleep(float(sys.argv[2]))
                (tmp / "payload").write_text(sys.argv[3])
                (tmp / "done").write_text("1")
            print("built")
""")


def test_second_cache_writer_waits_and_reuses_the_entry(tmp_path):
    cache = tmp_path / "cache"
    target = cache / "teachers" / "abc123"
    env = _env(cache)
    first = subprocess.Popen([sys.executable, "-c", CACHE_WRITER, str(target), "3", "first"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert first.stdout.readline().strip() == "building"
    second = subprocess.run([sys.executable, "-c", CACHE_WRITER, str(target), "0", "second"], env=env, capture_output=True,
                            text=True, timeout=120)
    first.communicate(timeout=120)
    _record("both exit 0: the second waited for the first's lock, then reused the entry it built", "ok")
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert second.stdout.strip() == "reused"
    assert (target / "payload").read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["abc123"]   # no lock or temp left


REPLACER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from edgecore import atomic_dir
    target = Path(sys.argv[1])
    for i in range(40):
        with atomic_dir(target, force=True) as tmp:
            (tmp / "who").write_text(sys.argv[2])
            (tmp / "also").write_text(sys.argv[2])
    print("ok")
""")


def test_concurrent_rebuilds_of_a_cache_entry_never_break_it(tmp_path):
    """Two processes replacing one cache entry again and again: every swap is whole (no error, no mixed entry)."""
    cache = tmp_path / "cache"
    target = cache / "logits" / "entry"
    env = _env(cache)
    procs = [subprocess.Popen([sys.executable, "-c", REPLACER, str(target), name], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    results = [p.communicate(timeout=300) for p in procs]
    _record("both exit 0: 80 folder swaps, each whole (the entry never missing or mixed)", "ok")
    assert all(p.returncode == 0 for p in procs), results
    assert (target / "who").read_text() == (target / "also").read_text()
    assert sorted(p.name for p in target.parent.iterdir()) == ["entry"]


HOLDER = textwrap.dedent("""
    import shutil, sys, time
    from pathlib import Path
    from edgecore import atomic_dir, atomic_write, cache_lock
    target, payload, ready, delay = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4])
    with cache_lock(target):   # another process building the entry: it holds the lock, and the entry appears as it ends
        ready.write_text("locked")
        time.sleep(delay)
        if payload.is_dir():
            with atomic_dir(target, force=True) as tmp:
                shutil.copytree(payload, tmp, dirs_exist_ok=True)
        else:
            with atomic_write(target) as f:
                f.write(payload.read_bytes())
""")


def _hold_while_building(target: Path, payload: Path, tmp_path: Path, delay: float = 2.0) -> subprocess.Popen:
    ready = tmp_path / "holder-ready"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(target), str(payload), str(ready), str(delay)],
                              env=_env(Path(os.environ["EDGEDISTILL_CACHE"])), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(ready, holder)
    return holder


def test_teacher_logits_wait_for_the_process_computing_them_and_reuse_them(tiny_bert_dir, sentences, cache, tmp_path):
    import numpy as np
    from safetensors.numpy import save

    from distill import cached_teacher_logits, load_teacher
    from distill.teacher import logits_key

    teacher, texts = load_teacher(tiny_bert_dir), sentences[:6]
    target = cache / "logits" / f"{logits_key(teacher, texts)}.safetensors"
    payload = tmp_path / "theirs.safetensors"
    payload.write_bytes(save({"logits": np.full((6, 2), 7.0, np.float32)}))
    holder = _hold_while_building(target, payload, tmp_path)
    t0 = time.time()
    logits, hit = cached_teacher_logits(teacher, texts)
    waited = time.time() - t0
    holder.communicate(timeout=60)
    _record("the second process waited for the first's lock, then reused the logits it wrote", "ok")
    assert holder.returncode == 0 and hit and (logits == 7.0).all() and waited > 1.0
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]   # no lock or temp left


def test_teacher_fine_tune_waits_for_the_process_training_it_and_reuses_it(tiny_bert_dir, movie, cache, tmp_path, monkeypatch):
    import json
    import shutil

    from distill import SplitConfig, TeacherConfig, finetune_teacher
    from distill.data import Split, TextDataset
    from distill.teacher import teacher_key

    texts, labels = movie
    dataset = TextDataset("movie-mini", ("negative", "positive"), Split(texts[:40], labels[:40]), Split(texts[40:56], labels[40:56]),
                          Split(texts[56:72], labels[56:72]), split=SplitConfig(test=16, dev=16))
    config = TeacherConfig(base=str(tiny_bert_dir), max_steps=2, batch_size=8, max_len=32)
    target = cache / "teachers" / teacher_key(tiny_bert_dir, dataset, config)
    payload = shutil.copytree(tiny_bert_dir, tmp_path / "their-teacher")
    (payload / "metrics.json").write_text(json.dumps({"built_by": "the other process", "config": {"max_len": 32}}))
    monkeypatch.setattr("distill.teacher.train_classifier", lambda *a, **k: pytest.fail("trained while another process was training"))
    holder = _hold_while_building(target, payload, tmp_path)
    teacher = finetune_teacher(dataset, config)
    holder.communicate(timeout=60)
    _record("the second process waited for the first's lock, then reused the teacher it trained", "ok")
    assert holder.returncode == 0 and teacher.path == target and teacher.metrics["built_by"] == "the other process"
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_output_lock_is_reentrant_and_released(tmp_path):
    out = tmp_path / "a" / "b" / "out"
    check_writable(out)
    check_writable(out)                      # the same process again: fine
    assert lock_file(out) in held_locks()
    release_outputs()
    assert held_locks() == [] and not (tmp_path / "a").exists()   # parents made for the lock are removed again


def test_an_output_held_by_another_process_is_refused_in_the_api(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom edgecore import check_writable\n"
                               f"check_writable({str(out)!r})\nprint('held', flush=True)\ntime.sleep(60)\n"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for call in (lambda: check_writable(out), lambda: prepare_output_dir(out), lambda: atomic_dir(out).__enter__()):
            with pytest.raises(BusyError, match=f"pid {holder.pid}") as info:
                call()
            _record(f"BusyError: {info.value}", "exception")
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    check_writable(out)                      # the kernel dropped the dead holder's lock: the stale lock file is harmless
    release_outputs()
    assert list(tmp_path.iterdir()) == []


def test_cli_reports_a_busy_output_in_one_line(student, tmp_path, capsys, monkeypatch):
    out = tmp_path / "bundle"
    holder = subprocess.Popen([sys.executable, "-c", "import time\nfrom edgecore import check_writable\n"
                               f"check_writable({str(out)!r})\nprint('held', flush=True)\ntime.sleep(60)\n"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert_clean(*cli(["export", student, "--out", out], capsys, monkeypatch), f"pid {holder.pid}", "choose another --out")
    finally:
        holder.kill()
        holder.wait()
    assert not out.exists()


def test_cache_lock_in_one_process_is_reentrant(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEDISTILL_CACHE", str(tmp_path / "cache"))
    target = tmp_path / "cache" / "teachers" / "k"
    with cache_lock(target), atomic_dir(target, force=True) as tmp:   # atomic_dir re-enters the lock it is given
        (tmp / "x").write_text("1")
    assert sorted(p.name for p in target.parent.iterdir()) == ["k"]


def test_atomic_dir_over_an_existing_file_leaves_nothing_beside_it(tmp_path):
    """--force onto a path that holds a file: the folder takes its place and no `.NAME.old-PID` is left behind."""
    target = tmp_path / "out"
    target.write_text("a file")
    with atomic_dir(target, force=True) as tmp:
        (tmp / "x").write_text("1")
    assert (target / "x").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    _record("the folder replaced the file; nothing left beside it", "ok")
