"""Fixtures for edge_runtime tests: a real headless chromium driven over the DevTools protocol, and a
tiny but complete run folder (report.json + bench.json) built from tiny models measured here.
"""
from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageCheck:
    """What a page did while loading in chromium: console calls, uncaught exceptions, log entries, requests."""
    console: list[dict] = field(default_factory=list)      # {"type": "error"|"warning"|"log"..., "text": str}
    exceptions: list[str] = field(default_factory=list)
    log_entries: list[dict] = field(default_factory=list)  # browser-side log: failed loads, CSP, deprecations
    requests: list[str] = field(default_factory=list)      # every URL the page asked for
    ready: str | None = None                               # document.documentElement's data-report-ready
    svg_count: int = 0
    screenshot: bytes | None = None
    value: object = None                                   # what `expression` evaluated to, after the load and the settle

    @property
    def errors(self) -> list[str]:
        return ([f"console.{c['type']}: {c['text']}" for c in self.console if c["type"] in ("error", "assert")]
                + [f"exception: {e}" for e in self.exceptions]
                + [f"log {e['level']}: {e['text']}" for e in self.log_entries if e["level"] == "error"])


class DevToolsPipe:
    """Chromium's DevTools protocol over --remote-debugging-pipe: JSON messages separated by NUL on fds 3 (in) and 4 (out)."""

    def __init__(self, user_data_dir: str, width: int = 1280, height: int = 900) -> None:
        cmd_r, cmd_w = os.pipe()   # we write commands, chromium reads them on its fd 3
        evt_r, evt_w = os.pipe()   # chromium writes replies and events on its fd 4, we read them
        lo_r, lo_w = cmd_r, evt_w  # the child's ends may be fds 3 or 4 themselves: move them to 10+ first
        cmd_r, evt_w = fcntl.fcntl(lo_r, fcntl.F_DUPFD, 10), fcntl.fcntl(lo_w, fcntl.F_DUPFD, 10)
        os.close(lo_r)
        os.close(lo_w)
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--mute-audio",
                 f"--user-data-dir={user_data_dir}", f"--window-size={width},{height}", "--remote-debugging-pipe", "about:blank"]
        # bash maps our pipe ends onto fds 3 and 4 (no preexec_fn: unsafe in a process with threads)
        self.proc = subprocess.Popen(["bash", "-c", f'exec "$@" 3<&{cmd_r} 4>&{evt_w} {cmd_r}<&- {evt_w}>&-', "bash", CHROMIUM, *flags],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=(cmd_r, evt_w))
        os.close(cmd_r)
        os.close(evt_w)
        self.out, self.inp = cmd_w, evt_r
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.out, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict:
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        while True:
            e = self._read(timeout)
            if e.get("method") == method:
                return e
            self.events.append(e)

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.events.append(self._read(left))
            except TimeoutError:
                return

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.inp], [], [], left)[0]:
                raise TimeoutError("chromium sent nothing in time")
            chunk = os.read(self.inp, 1 << 16)
            if not chunk:
                raise RuntimeError(f"chromium exited: {self.proc.stderr.read().decode(errors='replace')[-2000:]}")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.out, self.inp):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.proc.stderr:
            self.proc.stderr.close()


def check_page(path: Path, screenshot: bool = False, settle: float = 0.5, expression: str | None = None) -> PageCheck:
    """Load a local HTML file in headless chromium and report what it did (see PageCheck); `expression`: JavaScript
    evaluated in the page afterwards, its JSON-able result in `check.value`."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cdp = DevToolsPipe(profile)
        try:
            target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                cdp.send(f"{domain}.enable", session=session)
            cdp.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
            cdp.wait_for("Page.loadEventFired")
            cdp.drain(settle)   # late errors (timers, async handlers) still count
            value = None
            if expression is not None:   # before the events are read: errors it causes (e.g. in click handlers) count too
                res = cdp.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session)
                if "exceptionDetails" in res:
                    raise RuntimeError(f"the check's own expression failed: {res['exceptionDetails'].get('exception', {}).get('description')}")
                value = res["result"].get("value")
                cdp.drain(0.2)
            check = PageCheck(value=value)
            for e in cdp.events:
                method, p = e.get("method"), e.get("params", {})
                if method == "Runtime.consoleAPICalled":
                    text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                    check.console.append({"type": p.get("type"), "text": text})
                elif method == "Runtime.exceptionThrown":
                    d = p.get("exceptionDetails", {})
                    check.exceptions.append((d.get("exception") or {}).get("description") or d.get("text", ""))
                elif method == "Log.entryAdded":
                    entry = p.get("entry", {})
                    check.log_entries.append({"level": entry.get("level"), "text": entry.get("text", ""), "url": entry.get("url", "")})
                elif method == "Network.requestWillBeSent":
                    check.requests.append(p.get("request", {}).get("url", ""))
            res = cdp.send("Runtime.evaluate", {"expression": "[document.documentElement.getAttribute('data-report-ready'), "
                                                              "document.querySelectorAll('svg').length]", "returnByValue": True}, session=session)
            check.ready, check.svg_count = res["result"]["value"]
            if screenshot:
                import base64

                shot = cdp.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session)
                check.screenshot = base64.b64decode(shot["data"])
            return check
        finally:
            cdp.close()


@pytest.fixture(scope="session")
def chromium():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium): the HTML report cannot be rendered")
    return check_page


# ---------------------------------------------------------------------------------------------- a tiny run folder

@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_bert_dir, encoder, movie):
    """A run folder like the demo's, from tiny models measured here: report.json, bench.json, artifacts, students."""
    import torch
    from transformers import BertForSequenceClassification

    from distill import RNNStudent, RNNStudentConfig, save_student
    from edge_runtime import BenchConfig, TorchRunner, bench_interleaved, fixed_length_feeds, load, logits_for_texts, parity
    from edge_runtime.benchmark import bench_data_lengths
    from export import QuantConfig, quantize_onnx, to_onnx

    out = tmp_path_factory.mktemp("tiny-run")
    texts, gold = movie[0][:48], movie[1][:48]
    teacher = BertForSequenceClassification.from_pretrained(tiny_bert_dir).eval()
    torch.manual_seed(0)
    students = {"bilstm-distilled": RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=16, hidden=8, head_hidden=8)).eval(),
                "gru-labels": RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, cell="gru", embed_dim=16, hidden=8, head_hidden=8)).eval()}
    sample = encoder.encode(texts[:2])
    arts = out / "artifacts"
    t_fp32 = to_onnx(teacher, sample, arts / "teacher.fp32.onnx")
    t_int8 = quantize_onnx(t_fp32, arts / "teacher.int8.onnx", QuantConfig("int8", transformer=True))
    s_fp32 = to_onnx(students["bilstm-distilled"], sample, arts / "bilstm-distilled.fp32.onnx")
    s_int8 = quantize_onnx(s_fp32, arts / "bilstm-distilled.int8.onnx", QuantConfig("int8"))
    for name, model in students.items():
        save_student(model, out / "students" / name, encoder, ("negative", "positive"))
    runners = {"teacher/pytorch/fp32": TorchRunner(teacher), "teacher/onnx/fp32": load(t_fp32.path), "teacher/onnx/int8": load(t_int8.path),
               "bilstm-distilled/pytorch/fp32": TorchRunner(students["bilstm-distilled"]), "bilstm-distilled/onnx/fp32": load(s_fp32.path),
               "bilstm-distilled/onnx/int8": load(s_int8.path), "gru-labels/pytorch/fp32": TorchRunner(students["gru-labels"])}
    encode_np = encoder.encode_np
    config = BenchConfig(warmup=2, runs=25, seq_len=32)
    bench = bench_interleaved(runners, fixed_length_feeds(encode_np, texts[:10], 32), config)
    logits = {n: logits_for_texts(r, encode_np, texts) for n, r in runners.items()}
    teacher_logits = logits["teacher/pytorch/fp32"]

    def artifact(key: str, path, size: int) -> dict:
        model, fmt, precision = key.split("/")
        source = logits[f"{model}/pytorch/fp32"]
        rep = parity(logits[key], source, teacher_logits, gold=gold, texts=texts, fmt=fmt, precision=precision, name=key)
        lat = bench[key].latency_ms
        return {"format": fmt, "precision": precision, "path": str(path), "size_bytes": int(size),
                "latency_ms": {k: lat[k] for k in ("p50", "p90", "p99", "mean", "min", "max")}, "accuracy": rep.accuracy,
                "agreement_with_teacher": rep.agreement_with_teacher, "max_abs_logit_diff": rep.max_abs_logit_diff,
                "parity_passed": rep.passed}

    def accuracy(key: str) -> float:
        return float((logits[key].argmax(1) == np.asarray(gold)).mean())

    t_lat = bench["teacher/pytorch/fp32"].latency_ms
    report = {
        "teacher": {"name": "tiny-bert", "accuracy": accuracy("teacher/pytorch/fp32"), "params": sum(p.numel() for p in teacher.parameters()),
                    "latency_ms": {k: t_lat[k] for k in ("p50", "p90", "p99")}, "size_bytes": (tiny_bert_dir / "model.safetensors").stat().st_size,
                    "path": str(tiny_bert_dir),
                    "artifacts": [artifact("teacher/onnx/fp32", t_fp32.path, t_fp32.size_bytes), artifact("teacher/onnx/int8", t_int8.path, t_int8.size_bytes)]},
        "students": [
            {"name": "bilstm-distilled", "kind": "bilstm", "trained_on": "teacher", "accuracy": accuracy("bilstm-distilled/pytorch/fp32"),
             "params": students["bilstm-distilled"].num_parameters(),
             "artifacts": [artifact("bilstm-distilled/pytorch/fp32", out / "students" / "bilstm-distilled",
                                    (out / "students" / "bilstm-distilled" / "model.safetensors").stat().st_size),
                           artifact("bilstm-distilled/onnx/fp32", s_fp32.path, s_fp32.size_bytes),
                           artifact("bilstm-distilled/onnx/int8", s_int8.path, s_int8.size_bytes)]},
            {"name": "gru-labels", "kind": "gru", "trained_on": "labels", "accuracy": accuracy("gru-labels/pytorch/fp32"),
             "params": students["gru-labels"].num_parameters(),
             "artifacts": [artifact("gru-labels/pytorch/fp32", out / "students" / "gru-labels",
                                    (out / "students" / "gru-labels" / "model.safetensors").stat().st_size)]}],
        "data": {"name": "movie-snippets", "train": 0, "dev": 0, "test": len(texts)},
        "machine": {"cpu": "test machine", "threads": 1, "cores": len(os.sched_getaffinity(0))},
        "bench": {**config.to_dict(), "interleaved": True},
        "wall_seconds": 1.0,
        "bench_by_length": bench_data_lengths(runners, bench, config, encode_np, texts),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "bench.json").write_text(json.dumps({k: v.to_dict(with_samples=True) for k, v in bench.items()}))
    return out
