"""A property-based fuzzer through the CLI's entry point (in-process, as the console script runs it).

Hypothesis generates data files (CSV / TSV / JSON Lines / JSON bytes), bundle manifests, truncated and bit-flipped
model files (ONNX, TFLite, safetensors, bundle members, bundle zips) and numeric flag values. For every run:

- the exit code is 0, 2, 130 or 143, and there is no traceback;
- a failure is one line `error: ...`, and leaves nothing new at --out (nor a hidden temp or lock file beside it);
- the inputs and the cache are byte-identical afterwards;
- an input that is certainly bad (a flag out of its range, a bundle member that no longer matches its hash, a zip
  whose members changed) never succeeds.

`make test` runs a modest number of examples (derandomized, so CI is repeatable); `make fuzz` runs many more
(EDGEDISTILL_FUZZ_SCALE, random seeds). Every example is logged (EDGEDISTILL_RELIABILITY_LOG) for docs/reliability.md.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from distill import RNNStudent, RNNStudentConfig, load_student, save_student
from edgecore.limits import LIMITS
from export import BundleConfig, to_onnx, write_bundle

SCALE = float(os.environ.get("EDGEDISTILL_FUZZ_SCALE", "1"))
EXIT_OK = {0, 2, 130, 143}

#: Bugs in files this suite does not own, reported to their owners: an internal error (exit 1, one line, no
#: traceback, nothing written) whose message matches is logged as known instead of failing the run.
KNOWN_BUGS: dict[str, tuple[str, str]] = {}   # name -> (pattern of the exit-1 message, where the bug is)


def fuzz_settings(n: int):
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, derandomize=SCALE == 1, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


def log(kind: str, case: str, code, message: str) -> None:
    path = os.environ.get("EDGEDISTILL_RELIABILITY_LOG")
    if path:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0].split("::")[-1]
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"test": test, "exit": code, "message": message, "fuzz": kind, "case": case[:200]}) + "\n")


def snapshot(*roots: Path) -> dict[str, str]:
    """path -> sha256 of every file (hidden ones too) and folder under `roots`."""
    out = {}
    for root in roots:
        if root.is_file():
            out[str(root)] = hashlib.sha256(root.read_bytes()).hexdigest()
            continue
        for p in sorted(root.rglob("*")) if root.exists() else ():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def run(argv, capsys, monkeypatch, *, inputs=(), cache: Path | None = None, out: Path | None = None, kind: str = "",
        case: str = "", must_fail: bool = False, known: str | None = None) -> tuple[int, str]:
    """Run the CLI in-process and check the fuzzer's properties; returns (exit code, the stderr line)."""
    from cli_helpers import cli

    watched = [*inputs, *([cache] if cache is not None else [])]
    if os.environ.get("EDGEDISTILL_FUZZ_LAST"):   # a crash that kills the process (a segfault in a library) leaves its input here
        last = Path(os.environ["EDGEDISTILL_FUZZ_LAST"])
        shutil.rmtree(last, ignore_errors=True)
        last.mkdir(parents=True)
        (last / "argv.json").write_text(json.dumps([str(a) for a in argv]))
        for i, p in enumerate(inputs):
            if p.is_file():
                shutil.copyfile(p, last / f"input{i}{p.suffix}")
    before = snapshot(*watched)
    beside = sorted(p.name for p in out.parent.iterdir()) if out is not None and out.parent.exists() else None
    code, stdout, stderr = cli(argv, capsys, monkeypatch)
    lines = [line for line in stderr.splitlines() if line.strip()]
    message = lines[-1] if lines else ""
    assert "Traceback" not in stdout + stderr, stderr
    assert snapshot(*watched) == before, "an input or the cache changed"
    if code == 1 and known in KNOWN_BUGS and re.search(KNOWN_BUGS[known][0], message):
        log(kind, case, code, f"KNOWN BUG ({KNOWN_BUGS[known][1]}): {message}")
        code = "known"
    else:
        log(kind, case, code, message)
        assert code in EXIT_OK, stderr
    if code != 0:
        assert len(lines) == 1 and lines[0].startswith("error:"), stderr
        if out is not None:
            assert not out.exists(), f"{out} was written by a failed run"
            now = sorted(p.name for p in out.parent.iterdir()) if out.parent.exists() else None
            assert now == beside, f"left beside --out: {sorted(set(now or []) - set(beside or []))}"
    else:
        assert not must_fail, f"a certainly bad input succeeded: {case}"
    return code, message


# ---------------------------------------------------------------------------------------------
# the inputs every fuzz target starts from: built once per module

@pytest.fixture(scope="module")
def world(tmp_path_factory, encoder, base_dir):
    root = tmp_path_factory.mktemp("fuzz")
    torch.manual_seed(0)
    model = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=8, hidden=4, head_hidden=4)).eval()
    student = save_student(model, root / "student", encoder, ("negative", "positive"))
    model, _ = load_student(student)
    fp32 = to_onnx(model, encoder.encode(["a fine film", "dull"]), root / "model.onnx")
    bundle = write_bundle(root / "bundle", [fp32], base_dir, BundleConfig("tiny", ("negative", "positive"), asdict(encoder.settings), zip=True))
    from distill.data import fetch_builtin

    cache = root / "cache"
    shutil.copytree(fetch_builtin(), cache / "data" / fetch_builtin().name)   # the built-in data, as `make install` leaves it
    (cache / "marker").write_text("the cache must stay as it is")
    return {"root": root, "student": student, "onnx": root / "model.onnx", "bundle": bundle, "zip": bundle.with_suffix(".zip"),
            "cache": cache, "model": model}


@pytest.fixture
def scratch(world, monkeypatch):
    """A fresh folder per example (Hypothesis reuses the test's fixtures across examples)."""
    monkeypatch.setenv("EDGEDISTILL_CACHE", str(world["cache"]))
    made = []

    def make() -> Path:
        made.append(Path(tempfile.mkdtemp(prefix="ex-", dir=world["root"])))
        return made[-1]
    yield make
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


def corrupt(data: bytes, how: str, where: int, bit: int, count: int) -> bytes:
    """Truncate at, or flip `count` bits from, a position drawn by Hypothesis (`where` is a fraction of the length x 1e6)."""
    pos = where * max(1, len(data)) // 1_000_000
    if how == "truncate":
        return data[:pos]
    if how == "zero-tail":
        return data[:pos] + b"\0" * (len(data) - pos)
    out = bytearray(data)
    for i in range(count):
        j = (pos + i * 9973) % max(1, len(out))
        if out:
            out[j] ^= 1 << ((bit + i) % 8)
    return bytes(out)


damage = st.tuples(st.sampled_from(["truncate", "flip", "zero-tail"]), st.integers(0, 999_999), st.integers(0, 7), st.integers(1, 40))
# most structure sits in a file's first bytes: half the positions are drawn there
head_damage = st.tuples(st.sampled_from(["truncate", "flip"]), st.integers(0, 5_000), st.integers(0, 7), st.integers(1, 8))


# ---------------------------------------------------------------------------------------------
# data files

cell = st.one_of(st.text(max_size=40), st.sampled_from(["pos", "neg", "positive", "negative", "0", "1", "", " ", "nan", "null", "\ufeff"]))
label = st.one_of(st.sampled_from(["pos", "neg", "0", "1", "2", "", "-1", "1.5", "None"]), st.integers(-3, 5), st.booleans(),
                  st.none(), st.floats(allow_nan=True))
header = st.lists(st.sampled_from(["text", "label", "sentence", "review", "labels", "stars", "", "text", "\ufefftext"]), min_size=0, max_size=4)


@st.composite
def data_file(draw):
    fmt = draw(st.sampled_from(["csv", "tsv", "jsonl", "json", "raw", "near-valid"]))
    if fmt == "near-valid":   # the right columns and labels, any text: mostly accepted, the path past the reader runs too
        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        w.writerow(["text", "label"])
        w.writerows((draw(st.text(min_size=1, max_size=60)), draw(st.sampled_from(["pos", "neg", "pos", "neg", "neutral"])))
                    for _ in range(draw(st.integers(8, 30))))
        return ".csv", buf.getvalue().encode("utf-8", errors="surrogatepass")
    if fmt == "raw":
        return draw(st.sampled_from([".csv", ".jsonl", ".json", ".tsv", ".txt"])), draw(st.binary(max_size=600))
    if fmt in ("csv", "tsv"):
        buf = io.StringIO(newline="")
        w = csv.writer(buf, delimiter="," if fmt == "csv" else "\t")
        cols = draw(header)
        w.writerow(cols)
        for _ in range(draw(st.integers(0, 12))):
            w.writerow([draw(cell) for _ in range(draw(st.integers(0, len(cols) + 1)))])
        text = buf.getvalue()
    else:
        rows = draw(st.lists(st.fixed_dictionaries({}, optional={"text": cell, "label": label, "sentence": cell, "extra": label}),
                             max_size=10))
        rows = [r if draw(st.booleans()) else draw(st.sampled_from([[1, 2], "text", None, 3])) for r in rows]
        text = "\n".join(json.dumps(r) for r in rows) if fmt == "jsonl" else json.dumps(rows if draw(st.booleans()) else {"data": rows})
    raw = text.encode(draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"])), errors="replace")
    return "." + fmt, raw


@fuzz_settings(30)
@given(spec=data_file(), command=st.sampled_from(["show", "distill"]))
def test_fuzz_data_files(spec, command, scratch, world, capsys, monkeypatch):
    suffix, raw = spec
    work = scratch()
    path = work / f"data{suffix}"
    path.write_bytes(raw)
    out = work / "out" / "student"
    if command == "show":
        argv = ["data", "show", path, "--n", "2"]
    else:   # data is read before the teacher loads: a missing teacher ends a run whose data passed
        argv = ["distill", "--teacher", work / "no-teacher", "--data", path, "--out", out]
    code, message = run(argv, capsys, monkeypatch, inputs=[path], cache=world["cache"], out=out if command == "distill" else None,
                        kind="data file", case=f"{command} {suffix} {len(raw)} bytes: {raw[:60]!r}")
    if command == "distill":
        assert code == 2


# ---------------------------------------------------------------------------------------------
# manifests

json_value = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=False), st.text(max_size=20)),
                          lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                          max_leaves=6)


def _paths_in(obj, prefix=()):
    """Every (key path) in a JSON document."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths_in(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths_in(v, (*prefix, i))


def _set(doc, path, value):
    if not path:
        return value
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


_DELETE = object()
TRICKY = ["../model.onnx", "/etc/passwd", "model.onnx/..", "", ".", "manifest.json", "C:\\x", "\0", "a" * 300, -1, 0, 2**63, 1e308,
          float("inf"), [], {}, None, True, "int8", "tflite", "sha256", "f" * 64]


@fuzz_settings(25)
@given(data=st.data())
def test_fuzz_manifest(data, scratch, world, capsys, monkeypatch):
    work = scratch()
    bundle = work / "bundle"
    shutil.copytree(world["bundle"], bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    edits = []
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_paths_in(manifest))
        path = data.draw(st.sampled_from(paths))
        value = data.draw(st.one_of(st.sampled_from(TRICKY), json_value, st.just(_DELETE) if path else st.just(None)))
        manifest = _set(manifest, path, value)
        edits.append(f"{'/'.join(map(str, path)) or '(root)'}={'<deleted>' if value is _DELETE else repr(value)[:40]}")
        if not isinstance(manifest, (dict, list)):
            break
    text = json.dumps(manifest, allow_nan=True) if data.draw(st.booleans()) or not isinstance(manifest, dict) else \
        json.dumps(manifest)[: data.draw(st.integers(0, 4000))]
    (bundle / "manifest.json").write_text(text)
    run(["bench", bundle, "--runs", "1", "--warmup", "0"], capsys, monkeypatch, inputs=[bundle], cache=world["cache"],
        kind="manifest", case="; ".join(edits))


# ---------------------------------------------------------------------------------------------
# model files: bundle members, bare ONNX, zip, safetensors, TFLite

@fuzz_settings(15)
@given(member=st.sampled_from(["model.onnx", "tokenizer.json", "vocab.txt", "labels.txt", "tokenizer_config.json"]), how=damage)
def test_fuzz_bundle_member(member, how, scratch, world, capsys, monkeypatch):
    work = scratch()
    bundle = work / "bundle"
    shutil.copytree(world["bundle"], bundle)
    original = (bundle / member).read_bytes()
    changed = corrupt(original, *how)
    assume(changed != original)
    (bundle / member).write_bytes(changed)
    # the manifest lists every member's sha256: a changed member must never be run
    run(["bench", bundle, "--runs", "1", "--warmup", "0"], capsys, monkeypatch, inputs=[bundle], cache=world["cache"],
        kind="bundle member", case=f"{member} {how}", must_fail=True)


@fuzz_settings(15)
@given(how=st.one_of(damage, head_damage))
def test_fuzz_onnx_file(how, scratch, world, capsys, monkeypatch):
    work = scratch()
    path = work / "model.onnx"
    path.write_bytes(corrupt(world["onnx"].read_bytes(), *how))
    json_out = work / "out" / "bench.json"
    run(["bench", path, "--runs", "1", "--warmup", "0", "--json", json_out], capsys, monkeypatch, inputs=[path], cache=world["cache"],
        out=json_out, kind="onnx file", case=f"model.onnx {how}")


def _zip_members(data: bytes) -> dict[str, bytes] | None:
    """The members of a zip as Python reads it, None if it cannot be read whole."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return {i.filename: zf.read(i) for i in zf.infolist()}
    except Exception:
        return None


@fuzz_settings(15)
@given(how=st.one_of(damage, head_damage))
def test_fuzz_bundle_zip(how, scratch, world, capsys, monkeypatch):
    work = scratch()
    path = work / "bundle.zip"
    original = world["zip"].read_bytes()
    changed = corrupt(original, *how)
    path.write_bytes(changed)
    # success is fine only when every member still reads back exactly as exported
    intact = _zip_members(changed) == _zip_members(original)
    run(["bench", path, "--runs", "1", "--warmup", "0"], capsys, monkeypatch, inputs=[path], cache=world["cache"],
        kind="bundle zip", case=f"bundle.zip {how}", must_fail=not intact)


@fuzz_settings(6)
@given(how=st.one_of(head_damage, damage))
def test_fuzz_student_safetensors(how, scratch, world, capsys, monkeypatch):
    work = scratch()
    student = work / "student"
    shutil.copytree(world["student"], student)
    weights = student / "model.safetensors"
    weights.write_bytes(corrupt(weights.read_bytes(), *how))
    out = work / "out" / "bundle"
    run(["export", student, "--out", out, "--format", "onnx", "--precision", "fp32", "--validate", "4"], capsys, monkeypatch,
        inputs=[student], cache=world["cache"], out=out, kind="safetensors", case=f"student model.safetensors {how}")


@pytest.fixture(scope="module")
def tflite_file(world, encoder, tmp_path_factory):
    from export.tflite import TFLiteConfig, to_tflite

    path = tmp_path_factory.mktemp("fuzz-tflite") / "model.tflite"
    to_tflite(world["model"], encoder.encode(["a fine film", "dull"]), path, TFLiteConfig(buckets=(16,)))
    return path


@fuzz_settings(8)
@given(how=st.one_of(head_damage, damage))
def test_fuzz_tflite_file(how, tflite_file, scratch, world, capsys, monkeypatch):
    work = scratch()
    path = work / "model.tflite"
    path.write_bytes(corrupt(tflite_file.read_bytes(), *how))
    run(["bench", path, "--runs", "1", "--warmup", "0", "--seq-len", "8"], capsys, monkeypatch, inputs=[path], cache=world["cache"],
        kind="tflite file", case=f"model.tflite {how}")


# ---------------------------------------------------------------------------------------------
# numeric flags: the oracle is edgecore.limits (the same table the code uses, checked here independently)

FLAGS = {
    "bench": {"runs": True, "warmup": True, "threads": True, "batch": True, "seq-len": True, "min-seconds": False, "max-seconds": False},
    "distill": {"epochs": True, "lr": False, "temperature": False, "alpha": False, "augment": True, "hidden": True, "layers": True,
                "min-count": True, "seed": True, "stage1-lr": False, "stage1-epochs": True, "intermediate": True},
    "teacher finetune": {"epochs": False, "lr": False, "batch-size": True, "max-len": True},
    "export": {"validate": True},
}
SPECIAL = ["nan", "-nan", "inf", "-inf", "1e309", "-0", "0", "-1", "1e-320", "0x10", "1_000", " 3", "", "٣", "1e3", "3.0", "2.5",
           "9" * 30, "-9" * 5, "true", "NaN", "Infinity"]


def _valid(name: str, text: str, integer: bool) -> bool | None:
    """Whether `text` must be accepted (True) or refused (False) for the flag; None where the command line parser's own
    reading decides (non-ASCII digits, hex, underscores, "3.0" for a whole number): then a refusal must still name it."""
    t = text.strip()
    if not t.isascii() or any(c in t.lower() for c in "x_") or (integer and re.search(r"[.eE]", t)):
        return None
    try:
        value = int(t) if integer else float(t)
    except ValueError:
        return False
    limit = LIMITS[name.replace("-", "_")]
    return math.isfinite(value) and (value > limit.low if limit.low_open else value >= limit.low) and value <= limit.high


@fuzz_settings(40)
@given(data=st.data())
def test_fuzz_numeric_flags(data, scratch, world, capsys, monkeypatch):
    command = data.draw(st.sampled_from(sorted(FLAGS)))
    flag, integer = data.draw(st.sampled_from(sorted(FLAGS[command].items())))
    name = flag.replace("-", "_")
    limit = LIMITS[name]
    small = st.integers(int(limit.low), min(int(limit.low) + 3, int(limit.high))).map(str)
    text = data.draw(st.one_of(st.sampled_from(SPECIAL), small, st.integers(-10**12, 10**12).map(str),
                               st.floats(allow_nan=True, allow_infinity=True).map(repr),
                               st.just(str(limit.high)), st.just(str(int(limit.high) + 1)), st.just(str(limit.low))))
    if command == "bench" and _valid(name, text, integer) is not False:
        # a valid value runs for real: keep it quick
        text = str(min(int(text), 4) if integer and _valid(name, text, integer) else min(float(text), 0.05)) if _valid(name, text, integer) \
            else "4"
    work = scratch()
    out = work / "out" / "result"
    argv = {"bench": ["bench", world["bundle"], "--runs", "1", "--warmup", "0"],
            "distill": ["distill", "--teacher", work / "no-teacher", "--out", out, "--student",
                        "transformer" if flag in ("stage1-lr", "stage1-epochs", "intermediate") else "bilstm"],
            "teacher finetune": ["teacher", "finetune", "--base", work / "no-base", "--out", out],
            "export": ["export", work / "no-checkpoint", "--out", out]}[command]
    argv = [*argv, f"--{flag}", text]
    valid = _valid(name, text, integer)
    code, message = run(argv, capsys, monkeypatch, inputs=[world["bundle"]], cache=world["cache"], out=out if command != "bench" else None,
                        kind="flag", case=f"{command} --{flag} {text!r}", must_fail=valid is False)
    if valid is False or (valid is None and f"'--{flag}'" in message):
        assert code == 2 and f"--{flag}" in message, message          # named, and refused before any work
    else:
        assert f"'--{flag}'" not in message, message                  # a valid value is never blamed
        if command != "bench":
            assert code == 2 and "does not exist" in message, message  # it got as far as the missing input


@fuzz_settings(10)
@given(values=st.lists(st.one_of(st.integers(-5, 70_000).map(str), st.sampled_from(["", "x", "16.5", "nan", " 16", "0x10"])),
                       min_size=0, max_size=5))
def test_fuzz_buckets_and_cpus(values, scratch, world, capsys, monkeypatch):
    work = scratch()
    out = work / "out" / "bundle"
    text = ",".join(values)
    run(["export", work / "no-checkpoint", "--out", out, "--buckets", text], capsys, monkeypatch, cache=world["cache"], out=out,
        kind="flag", case=f"export --buckets {text!r}", must_fail=True)
    run(["bench", world["bundle"], "--runs", "1", "--warmup", "0", "--cpus", text or "x"], capsys, monkeypatch, inputs=[world["bundle"]],
        cache=world["cache"], kind="flag", case=f"bench --cpus {text!r}")
