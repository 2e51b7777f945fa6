"""Write docs/reliability.md from a run of tests/reliability: every logged case, the fuzzer's tallies, the counts.

    rm -f /tmp/cases.jsonl
    EDGEDISTILL_RELIABILITY_LOG=/tmp/cases.jsonl HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q tests/reliability \\
        --junitxml=/tmp/reliability.xml
    .venv/bin/python tests/reliability/make_table.py /tmp/cases.jsonl /tmp/reliability.xml > docs/reliability.md

Nothing in the output is written by hand except the text above the tables (HEADER below).
"""
from __future__ import annotations

import collections
import json
import re
import sys
import xml.etree.ElementTree as ET

COMMAND = """rm -f /tmp/cases.jsonl
EDGEDISTILL_RELIABILITY_LOG=/tmp/cases.jsonl HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q tests/reliability --junitxml=/tmp/reliability.xml
.venv/bin/python tests/reliability/make_table.py /tmp/cases.jsonl /tmp/reliability.xml > docs/reliability.md"""

HEADER = """# Reliability

What edgedistill promises when the input is bad or the run is disturbed, and the test run that shows it. Everything
below the first table is generated from that run (`tests/reliability/make_table.py`); regenerate it with:

```
{command}
```

## The promises

- **Bad input.** Every command that fails prints one line `error: ...` naming what is wrong and what would work,
  exits 2, and leaves nothing at `--out` (nor a hidden temporary or lock file beside it). The Python API raises a typed
  `edgecore.EdgedistillError` subclass naming the config field. A bug (an exception nobody typed) still prints one
  line, `error: internal error (...)`, exits 1 and leaves nothing half-written; `EDGEDISTILL_DEBUG=1` shows its
  traceback. Inputs and caches are never modified by a run that reads them.
- **Numeric flags.** Every numeric flag and config field has a range (`edgecore/limits.py`, shared by the CLI's
  flag callbacks and the API's `__post_init__` checks): NaN, inf, negative values, zero where it means nothing,
  fractions where a whole number is meant and absurdly large values are refused before any work starts. A training
  run whose loss becomes NaN or inf stops with `error: training diverged ...` instead of saving a NaN student.
- **Exit codes say PASS / FAIL.** 0 = done and every check passed; 2 = bad input or a failed check (`export` with a
  file over its tolerance, `parity --source` that prints FAIL, `demo` whose report shows a FAIL: its report is still
  written, and a file that failed parity is never bundled); 130 = Ctrl-C; 143 = SIGTERM; 129 = SIGHUP; 1 = a bug.
- **Signals.** SIGTERM and SIGHUP are handled like Ctrl-C (`edgecore/signals.py`): they raise a KeyboardInterrupt in
  the main thread, so every temporary file and folder (`atomic_write`, `atomic_dir`, the export's `tempfile` work
  folder) is removed, locks are dropped, a training run's resume state is kept, and the CLI exits 143 / 129 with one
  line on stderr. A signal the process was started with ignored (`nohup`) stays ignored.
- **Concurrency.** Each output folder and each cache entry is locked while it is written (`fcntl.flock` on
  `.NAME.lock` beside it, holding the writer's pid; removed on release, harmless if a killed process leaves it). A
  second writer to the same `--out` fails at once: `error: OUT is being written by another edgedistill process (pid
  N); wait for it to finish, or choose another --out`. A second writer to a cache entry waits (`edgecore.cache_lock`)
  and then reuses it. Replacing a folder swaps it in one step (`renameat2(RENAME_EXCHANGE)`) where Linux allows, so a
  reader never finds a cache entry missing.
- **Resume state.** `distill` keeps `.OUT.trainer/trainer_state.safetensors` after every epoch: tensors in
  safetensors, everything else as JSON in its metadata, a sha256 over the tensors, and a fingerprint of what decides
  the result (training config, token ids, labels and dev split, teacher logits, the initial student weights, which
  carry the teacher's embeddings, padding, and the Python / torch / numpy / safetensors / edgedistill versions). A
  state from a run that differs in any of these starts afresh with `note: ... was made by a run with a different
  config; starting afresh`; an unreadable, truncated, tampered or old-format (pickle) state is moved aside to
  `.OUT.trainer.corrupt-...` with a one-line note; nothing is ever unpickled.
- **The fuzzer** (`tests/reliability/test_fuzz.py`, Hypothesis) drives the CLI's entry point in-process with generated
  data files (CSV / TSV / JSON Lines / JSON / raw bytes), bundle manifests, truncated and bit-flipped ONNX, TFLite,
  safetensors, bundle members and bundle zips, and numeric flag values. Its property: exit code in {{0, 2, 130, 143}},
  no traceback, a failure is one `error:` line and leaves nothing new at `--out`, inputs and caches byte-identical,
  and a certainly bad input (a flag out of range, a member that no longer matches its hash, a zip whose members
  changed) never succeeds. `make test` runs it derandomized with a modest budget; `make fuzz` runs 20x the examples
  with fresh seeds (`FUZZ_SCALE=N make fuzz` for another multiple).
"""


def normalise(message: str) -> str:
    message = re.sub(r"/tmp/pytest-of-[^/\s]+/pytest-\d+/[^/\s]+?\d*(?=/|\s|$|\)|'|;|,)", "<tmp>", message)
    message = re.sub(r"/tmp/[^\s'\"),;]+", "<tmp>/...", message)
    message = re.sub(r"\bpid \d+\b", "pid N", message)
    message = re.sub(r"corrupt-\d{8}-\d{6}-\d+", "corrupt-<time>-<pid>", message)
    return message.replace("|", "\\|")


def surface(record: dict) -> str:
    code = record["exit"]
    if code == "exception":
        return "API"
    if code == "note":
        return "note"
    return "CLI"


def code(text: str) -> str:
    """A Markdown code span that may hold backticks itself."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def expected(record: dict) -> str:
    status, message = record["exit"], normalise(record["message"])
    if status == "exception":
        return f"raises {code(message)}"
    if status == "note":
        return f"carries on, printing {code(message)}"
    if status == "ok":
        return message
    return f"exit {status}: {code(message)}" if message else f"exit {status}"


def main(log_path: str, junit_path: str | None = None) -> None:
    records = [json.loads(line) for line in open(log_path, encoding="utf-8") if line.strip()]
    named = [r for r in records if "fuzz" not in r]
    fuzz = [r for r in records if "fuzz" in r]

    rows = collections.OrderedDict()
    for r in named:
        key = (r["test"], normalise(r["message"]), str(r["exit"]))
        rows.setdefault(key, r)
    cases = list(rows.values())

    junit, xfails = {}, {}
    if junit_path:
        suite = ET.parse(junit_path).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        junit = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
        for case in suite.iter("testcase"):
            for skipped in case.findall("skipped"):
                if "xfail" in skipped.get("type", "") + skipped.get("message", ""):
                    xfails[case.get("name")] = re.sub(r"^xfail:?\s*", "", skipped.get("message", "")).strip()
        junit["xfailed"] = len(xfails)

    tracebacks = sum("Traceback" in r["message"] for r in records)
    known = [r for r in fuzz if r["message"].startswith("KNOWN BUG")]
    silent = sum(1 for r in cases if r["exit"] == 0)
    clean = sum(1 for r in cases if r["exit"] in ("exception", "note", 2, 129, 130, 143)) + \
        sum(1 for r in fuzz if r["exit"] == 2)
    fuzz_ok = sum(1 for r in fuzz if r["exit"] == 0)

    out = [HEADER.format(command=COMMAND)]
    out.append("## The counts\n")
    out.append("| what | count |\n|---|---|")
    out.append(f"| named cases (the table at the end: distinct test x message) | {len(cases)} |")
    out.append(f"| fuzzer examples | {len(fuzz)} |")
    out.append(f"| cases tried (both) | {len(cases) + len(fuzz)} |")
    out.append(f"| clean errors (exit 2 / 129 / 130 / 143 with one `error:` or `terminated` line, a typed API exception, or a one-line note) | {clean} |")
    out.append(f"| fuzzer examples that were valid input and succeeded (exit 0) | {fuzz_ok} |")
    out.append(f"| tracebacks | {tracebacks} |")
    out.append(f"| silent successes (a bad input that exited 0) | {silent} |")
    if junit:
        lost = junit["failures"] + junit["errors"]
        out.append(f"| data lost (a case whose inputs, caches or outputs were not intact: any failed test) | {lost} |")
        out.append(f"| tests run / failed / errors / skipped (xfailed: known bugs below) | {junit['tests']} / {junit['failures']} / "
                   f"{junit['errors']} / {junit['skipped']} ({junit['xfailed']}) |")
    out.append(f"| fuzzer examples that hit a known bug in another package (exit 1, one line, nothing written) | {len(known)} |")
    out.append("")

    out.append("## The fuzzer, by target\n")
    out.append("| target | examples | exit 0 (valid) | exit 2 (clean error) | known bug (exit 1) |\n|---|---|---|---|---|")
    by_kind = collections.defaultdict(collections.Counter)
    for r in fuzz:
        by_kind[r["fuzz"]]["known" if r["message"].startswith("KNOWN BUG") else r["exit"]] += 1
    for kind, c in sorted(by_kind.items()):
        out.append(f"| {kind} | {sum(c.values())} | {c[0]} | {c[2]} | {c['known']} |")
    out.append("")

    out.append("## Known bugs in files this suite does not own\n")
    if not xfails and not known:
        out.append("None open. Each bug the fuzzer found is pinned by the input that showed it in "
                   "`tests/reliability/test_known_bugs.py`, now a plain regression test (a new one starts there as a strict "
                   "xfail with a `KNOWN_BUGS` entry in `test_fuzz.py`, and loses both once fixed).\n")
    else:
        out.append("Found by the fuzzer, pinned as strict xfails in `tests/reliability/test_known_bugs.py` (each fails loudly once "
                   "fixed, so its mark can go). Until then the CLI turns each into one line `error: internal error (...)`, exit 1, "
                   "nothing written.\n")
        out.append("| known bug (test) | what happens |\n|---|---|")
    for name, reason in xfails.items():
        out.append(f"| `{name}` | {reason.replace('|', '/')} |")
    bugs = collections.Counter(re.match(r"KNOWN BUG \((.*?)\):", r["message"]).group(1) for r in known)
    if xfails or known:
        out.append("")
    for text, n in bugs.items():
        out.append(f"- fuzzer examples that hit `{text.split(':')[0]}` in this run: {n}")
    if bugs:
        out.append("")

    out.append("## Every named case\n")
    out.append("| # | case (test) | where | expected behaviour |\n|---|---|---|---|")
    for i, r in enumerate(cases, 1):
        out.append(f"| {i} | `{r['test']}` | {surface(r)} | {expected(r)} |")
    out.append("")
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
