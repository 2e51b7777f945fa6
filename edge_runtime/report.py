"""report.json -> readable tables (terminal, Markdown) and a self-contained HTML page with plots.

The keys read are report.json's, as edge_runtime.schema.REPORT_SCHEMA defines them (docs/architecture.md);
`add_floors` adds a FLOP floor to every row. A run folder holds report.json (required) and bench.json
(the raw latency samples, for the histograms).

    >>> report = add_floors(json.load(open("runs/demo/report.json")), run_dir="runs/demo")  # doctest: +SKIP
    >>> write_markdown("runs/demo"), write_html("runs/demo")                                # doctest: +SKIP
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

from edge_runtime._rows import TEACHER_KEY, rows
from edgecore import ConfigError, DataError, atomic_write

COLUMNS = [("model", "model", "{}"), ("trained_on", "trained on", "{}"), ("format", "format", "{}"),
           ("precision", "prec.", "{}"), ("size_mb", "size MB", "{:.1f}"), ("p50", "p50 ms", "{:.2f}"),
           ("p90", "p90 ms", "{:.2f}"), ("p99", "p99 ms", "{:.2f}"), ("speedup", "x teacher", "{:.1f}x"),
           ("accuracy", "test acc", "{:.2%}"), ("agreement", "agree w/ teacher", "{:.2%}"), ("max_diff", "max |Δlogit|", "{:.2g}")]
FLOOR_COLUMNS = [("floor_ms", "floor ms", "{:.3g}"), ("x_floor", "x floor", "{:.1f}x")]


def _columns(table_rows: list[dict]) -> list[tuple[str, str, str]]:
    return COLUMNS + (FLOOR_COLUMNS if any(r.get("x_floor") for r in table_rows) else [])


def _fmt(value, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def rich_table(report: dict):
    from rich.table import Table

    data = report["data"]
    table = Table(title=f"edgedistill: {data['name']} (test {data['test']} sentences), batch 1, "
                        f"{report['machine']['threads']} thread, seq {report.get('bench', {}).get('seq_len', 64)}")
    table_rows = rows(report)
    columns = _columns(table_rows)
    for _, title, _ in columns:
        table.add_column(title, justify="left" if title in ("model", "trained on", "format", "prec.") else "right")
    for row in table_rows:
        table.add_row(*(_fmt(row[key], pattern) for key, _, pattern in columns))
    return table


def markdown_table(report: dict) -> str:
    table_rows = rows(report)
    columns = _columns(table_rows)
    lines = ["| " + " | ".join(title for _, title, _ in columns) + " |", "|" + "---|" * len(columns)]
    for row in table_rows:
        lines.append("| " + " | ".join(_fmt(row[key], pattern) for key, _, pattern in columns) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- FLOP floors

def _resolve(path: str | None, run_dir: Path | None) -> Path | None:
    """An artifact path as recorded (relative to where the demo ran), or found again under the run folder."""
    if not path:
        return None
    p = Path(path)
    if p.exists():
        return p
    if run_dir is not None:
        for k in range(len(p.parts), 0, -1):   # "runs/demo/artifacts/x.onnx" -> run_dir/"artifacts/x.onnx", ...
            candidate = run_dir.joinpath(*p.parts[-k:])
            if candidate.exists():
                return candidate
    return None


def add_floors(report: dict, run_dir: str | Path | None = None, rates=None) -> dict:
    """A copy of `report` with a FLOP floor on the teacher and every artifact, and a top-level "floors" section.

    MACs are counted at the report's benchmark shape (bench.seq_len, batch), from each ONNX graph or
    checkpoint config; TFLite / Core ML files reuse their model's PyTorch count (same arithmetic). The
    GEMM rates are measured now, on this machine: run it where the latencies were measured.
    """
    from edge_runtime.flops import FLOOR_RULE, MacCount, count_macs, floor, measure_gemm_rates

    run_dir = Path(run_dir) if run_dir is not None else None
    out = copy.deepcopy(report)
    bench = out.get("bench") or {}
    seq_len, batch = int(bench.get("seq_len", 64)), int(bench.get("batch", 1))
    threads = int(out.get("machine", {}).get("threads", 1))
    rates = rates or measure_gemm_rates()
    by_model: dict[str, MacCount] = {}

    def attach(entry: dict, path: str | None, model: str, fmt: str, precision: str, p50: float | None) -> None:
        resolved = _resolve(path, run_dir)
        try:
            if fmt in ("onnx", "pytorch"):
                if resolved is None:
                    raise ConfigError(f"{path} was not found (looked as given and under {run_dir})")
                macs = count_macs(resolved, seq_len, batch)
                if fmt == "pytorch":
                    by_model[model] = macs
            elif model in by_model:   # TFLite / Core ML: same arithmetic as the model's source
                src = by_model[model]
                int8 = precision.startswith("int8")
                macs = MacCount(0 if int8 else src.total, src.total if int8 else 0, batch, seq_len, src.source, src.by_op, src.uncounted)
            else:
                raise ConfigError(f"no PyTorch source counted for {model} to stand in for its {fmt} file")
            entry["floor"] = floor(macs, rates, p50, threads)
        except ConfigError as e:
            entry["floor"] = {"error": str(e)}

    teacher = out["teacher"]
    attach(teacher, teacher.get("path"), TEACHER_KEY, "pytorch", "fp32", teacher["latency_ms"].get("p50"))
    for student in out["students"]:   # PyTorch first: other formats of the same model reuse its count
        for art in sorted(student["artifacts"], key=lambda a: a["format"] != "pytorch"):
            attach(art, art.get("path"), student["name"], art["format"], art["precision"], (art.get("latency_ms") or {}).get("p50"))
    for art in teacher.get("artifacts", []):
        attach(art, art.get("path"), TEACHER_KEY, art["format"], art["precision"], (art.get("latency_ms") or {}).get("p50"))
    out["floors"] = {"gemm": rates.to_dict(), "seq_len": seq_len, "batch": batch, "threads": threads,
                     "note": FLOOR_RULE + "; x floor = p50 / floor. Element-wise ops, normalisation and lookups are not counted."}
    return out


# ---------------------------------------------------------------------------------------------- run folders

def load_run(run_dir: str | Path) -> tuple[dict, dict | None]:
    """(report.json, bench.json or None) of a run folder, with errors that say what is missing."""
    run_dir = Path(run_dir)
    path = run_dir / "report.json"
    if not path.is_file():
        raise DataError(f"{run_dir} has no report.json; give a folder written by `edgedistill demo`")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is not valid JSON ({e}); re-run the demo") from None
    for key in ("teacher", "students", "data", "machine"):
        if key not in report:
            raise DataError(f"{path} has no {key!r} key; it is not a report written by `edgedistill demo`")
    bench = None
    bench_path = run_dir / "bench.json"
    if bench_path.is_file():
        try:
            bench = json.loads(bench_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"{bench_path} is not valid JSON ({e}); re-run the demo or delete it") from None
    return report, bench


def _mkn(shape) -> str:
    return "x".join(str(v) for v in shape)


def markdown_report(report: dict) -> str:
    """The Markdown page: what was measured, the table, the floors' basis."""
    data, machine, bench = report["data"], report["machine"], report.get("bench", {})
    lines = [f"# edgedistill report: {data['name']}", "",
             f"Test split {data['test']} sentences (train {data['train']}, dev {data['dev']}). "
             f"Latency at batch {bench.get('batch', 1)}, sequence {bench.get('seq_len', 64)} tokens, "
             f"{machine['threads']} thread(s), {bench.get('warmup', '?')} warm-up + {bench.get('runs', '?')} runs"
             f"{', interleaved' if bench.get('interleaved') else ''}, on {machine['cpu']}.", "",
             markdown_table(report)]
    floors = report.get("floors")
    if floors:
        g = floors["gemm"]
        lines += [f"FLOP floor: measured single-core GEMM rates {g['fp32_gmacs']:.1f} GMAC/s fp32 ({_mkn(g['fp32_shape'])}) and "
                  f"{g['int8_gmacs']:.1f} GMAC/s int8 ({_mkn(g['int8_shape'])}), onnxruntime {g.get('onnxruntime', '?')} MatMul / MatMulInteger, "
                  f"best of {len(g.get('shapes', [])) or 1} shape(s); at M=1 (GEMV) {g.get('gemv_fp32_gmacs', 0):.1f} / {g.get('gemv_int8_gmacs', 0):.1f}. "
                  + floors["note"], ""]
    lines += lengths_markdown(report)
    if "wall_seconds" in report:
        lines.append(f"Whole run: {report['wall_seconds']:.0f} s.")
    return "\n".join(lines).rstrip() + "\n"


def lengths_markdown(report: dict) -> list[str]:
    """Lines of the p50-by-length table (report.json `bench_by_length`: the fixed length, the test data's median and
    90th-percentile token counts), or none."""
    by = report.get("bench_by_length")
    if not by:
        return []
    labels = list(by)
    lines = ["## Latency at the data's lengths", "",
             "p50 ms, batch 1, each length one interleaved run; median and p90 are the test sentences' token counts (specials included).", "",
             "| runner | " + " | ".join(f"{label} ({by[label]['tokens']} tokens)" for label in labels) + " |",
             "|---|" + "---:|" * len(labels)]
    for name in by[labels[0]]["p50_ms"]:
        lines.append(f"| {name} | " + " | ".join(f"{by[label]['p50_ms'].get(name, float('nan')):.3f}" for label in labels) + " |")
    return [*lines, ""]


def write_markdown(run_dir: str | Path) -> Path:
    """Write run_dir/report.md from run_dir/report.json; returns its path.

    >>> write_markdown("runs/demo")  # doctest: +SKIP
    PosixPath('runs/demo/report.md')
    """
    report, _ = load_run(run_dir)
    out = Path(run_dir) / "report.md"
    with atomic_write(out, "w") as f:
        f.write(markdown_report(report))
    return out


def write_html(run_dir: str | Path) -> Path:
    """Write run_dir/report.html (one self-contained file: inline SVG plots, no fetches) from report.json + bench.json,
    with the accuracy-latency frontier section when run_dir holds a frontier.json (`benchmarks/frontier_table.py --out RUN_DIR`).

    >>> write_html("runs/demo")  # doctest: +SKIP
    PosixPath('runs/demo/report.html')
    """
    from edge_runtime.frontier import check_frontier
    from edge_runtime.html import render_html

    report, bench = load_run(run_dir)
    frontier_path = Path(run_dir) / "frontier.json"
    if frontier_path.is_file():
        try:
            report["frontier"] = json.loads(frontier_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"{frontier_path} is not valid JSON ({e}); re-run benchmarks/frontier_table.py or delete it") from None
        check_frontier(report["frontier"])
    out = Path(run_dir) / "report.html"
    with atomic_write(out, "w") as f:
        f.write(render_html(report, bench))
    return out


def write_reports(run_dir: str | Path, floors: bool = True) -> dict[str, Path]:
    """Everything `edgedistill report RUN_DIR` makes: FLOP floors into report.json (once), then report.md and report.html.

    >>> write_reports("runs/demo")  # doctest: +SKIP
    {'report.json': PosixPath('runs/demo/report.json'), 'report.md': ..., 'report.html': ...}
    """
    run_dir = Path(run_dir)
    report, _ = load_run(run_dir)
    if floors and "floors" not in report:
        with atomic_write(run_dir / "report.json", "w") as f:
            json.dump(add_floors(report, run_dir), f, indent=2)
    return {"report.json": run_dir / "report.json", "report.md": write_markdown(run_dir), "report.html": write_html(run_dir)}


def bench_lengths_table(payload: dict):
    """A terminal table of a bench over several lengths: p50 per model (rows) and length (columns), with its ratio to
    the first model at that length."""
    from rich.table import Table

    by = payload["by_length"]
    table = Table(title="p50 ms by length (fixed mode; x = ratio to the first model at that length)")
    table.add_column("model", justify="left")
    for label, entry in by.items():
        table.add_column(label if label == str(entry["seq_len"]) else f"{label} ({entry['seq_len']})", justify="right")
    for name in next(iter(by.values()))["results"]:
        table.add_row(name, *(f"{e['results'][name]['latency_ms']['p50']:.3f} ({e['ratios_p50_vs_baseline'][name]:.2f}x)" for e in by.values()))
    return table


def bench_rich_table(run: dict):
    """A terminal table of a `bench_files(...).to_dict()` document: load, latency, RSS, ratio to the baseline, floor."""
    from rich.table import Table

    cfg, mode = run["config"], run["mode"]
    profile = f", profile {cfg['profile']}" if cfg.get("profile") else ""
    pins = f", cores {cfg['cpus']}" if cfg.get("cpus") else ""
    seq = f", seq {cfg['seq_len']}" if mode == "fixed" else ""
    table = Table(title=f"{mode}: batch {cfg['batch']}{seq}, {cfg['threads']} thread(s){profile}{pins}, "
                        f"{cfg['warmup']} warm-up + {cfg['runs']} runs, interleaved")
    floors = any((r.get("floor") or {}).get("x_floor") for r in run["results"].values())
    e2e = any(r.get("tokenize_ms") for r in run["results"].values())
    cols = ["model", "format", "prec.", "load ms", "+RSS MB", "1st run", "min", "p50", "p90", "p99", "max", "per s", f"vs {Path(run['baseline']).name}"]
    cols += ["tokenize p50"] if e2e else []
    cols += ["floor ms", "x floor"] if floors else []
    for c in cols:
        table.add_column(c, justify="left" if c in ("model", "format", "prec.") else "right")
    for name, r in run["results"].items():
        lat, info, fl = r["latency_ms"], r.get("info") or {}, r.get("floor") or {}
        cells = [name, info.get("format", ""), info.get("precision", ""), _fmt(r.get("load_ms"), "{:.0f}"),
                 _fmt((r.get("memory") or {}).get("rss_load_delta_mb"), "{:.1f}"), _fmt(r.get("first_run_ms"), "{:.3f}"),
                 *(f"{lat[k]:.3f}" for k in ("min", "p50", "p90", "p99", "max")),
                 f"{r['throughput_per_s']:.0f}", f"{r['vs_baseline']['p50_ratio']:.2f}x"]
        cells += [_fmt((r.get("tokenize_ms") or {}).get("p50"), "{:.3f}")] if e2e else []
        x = fl.get("x_floor")
        cells += [_fmt(fl.get("floor_ms"), "{:.4f}"), "-" if x is None else f"{x:.1f}x" if x < 10 else f"{x:.0f}x"] if floors else []
        table.add_row(*cells)
    return table
