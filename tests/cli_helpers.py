"""Run the CLI in-process as its console script does and check a clean failure (shared by the reliability tests)."""
from __future__ import annotations

import contextlib
import json
import os
import sys

import pytest


def cli(argv, capsys, monkeypatch):
    """Run `edgedistill ARGV` in-process; return (exit code, stdout, stderr)."""
    from edgedistill import cli as cli_mod

    monkeypatch.setattr(sys, "argv", ["edgedistill", *map(str, argv)])
    with pytest.raises(SystemExit) as exit_info:
        cli_mod.main()
        raise SystemExit(0)
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def _record(line: str, code) -> None:
    """With EDGEDISTILL_RELIABILITY_LOG=FILE, append (test, exit code, message) as a JSON line: the issue note's case list."""
    log = os.environ.get("EDGEDISTILL_RELIABILITY_LOG")
    if log:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0].split("::")[-1]
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"test": test, "exit": code, "message": line}) + "\n")


@contextlib.contextmanager
def api_raises(cls, match=None):
    """pytest.raises that also records the message (API cases: a typed exception, not an exit code)."""
    with pytest.raises(cls, match=match) as info:
        yield info
    _record(f"{type(info.value).__name__}: {info.value}", "exception")


def assert_clean(code, out, err, *needles):
    _record(err.strip(), code)
    assert code not in (0, None), out + err
    assert "Traceback" not in out + err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for needle in needles:
        assert needle.lower() in lines[0].lower(), lines[0]
