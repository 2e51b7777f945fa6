"""report.json -> a readable table (terminal and Markdown). The keys are those listed in DESIGN.md."""
from __future__ import annotations


def rows(report: dict) -> list[dict]:
    """One flat row per (model, format, precision), teacher first; ratios are vs the teacher's PyTorch p50."""
    teacher = report["teacher"]
    base = teacher["latency_ms"]["p50"]
    out = [{"model": teacher["name"], "trained_on": "labels", "format": "pytorch", "precision": "fp32",
            "size_mb": teacher["size_bytes"] / 1e6, "p50": base, "p90": teacher["latency_ms"]["p90"],
            "p99": teacher["latency_ms"]["p99"], "speedup": 1.0, "accuracy": teacher["accuracy"],
            "agreement": 1.0, "max_diff": 0.0}]
    for art in teacher.get("artifacts", []):
        out.append(_row(teacher["name"], "labels", art, base))
    for student in report["students"]:
        for art in student["artifacts"]:
            out.append(_row(student["name"], student["trained_on"], art, base))
    return out


def _row(name: str, trained_on: str, art: dict, base: float) -> dict:
    lat = art.get("latency_ms") or {}
    p50 = lat.get("p50")
    return {"model": name, "trained_on": trained_on, "format": art["format"], "precision": art["precision"],
            "size_mb": art["size_bytes"] / 1e6, "p50": p50, "p90": lat.get("p90"), "p99": lat.get("p99"),
            "speedup": base / p50 if p50 else None, "accuracy": art.get("accuracy"),
            "agreement": art.get("agreement_with_teacher"), "max_diff": art.get("max_abs_logit_diff")}


COLUMNS = [("model", "model", "{}"), ("trained_on", "trained on", "{}"), ("format", "format", "{}"),
           ("precision", "prec.", "{}"), ("size_mb", "size MB", "{:.1f}"), ("p50", "p50 ms", "{:.2f}"),
           ("p90", "p90 ms", "{:.2f}"), ("p99", "p99 ms", "{:.2f}"), ("speedup", "x teacher", "{:.1f}x"),
           ("accuracy", "test acc", "{:.2%}"), ("agreement", "agree w/ teacher", "{:.2%}"), ("max_diff", "max |Δlogit|", "{:.2g}")]


def _fmt(value, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def rich_table(report: dict):
    from rich.table import Table

    data = report["data"]
    table = Table(title=f"edgedistill: {data['name']} (test {data['test']} sentences), batch 1, "
                        f"{report['machine']['threads']} thread, seq {report.get('bench', {}).get('seq_len', 64)}")
    for _, title, _ in COLUMNS:
        table.add_column(title, justify="left" if title in ("model", "trained on", "format", "prec.") else "right")
    for row in rows(report):
        table.add_row(*(_fmt(row[key], pattern) for key, _, pattern in COLUMNS))
    return table


def markdown_table(report: dict) -> str:
    lines = ["| " + " | ".join(title for _, title, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows(report):
        lines.append("| " + " | ".join(_fmt(row[key], pattern) for key, _, pattern in COLUMNS) + " |")
    return "\n".join(lines) + "\n"
