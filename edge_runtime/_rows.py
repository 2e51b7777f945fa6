"""The flat rows of a report.json: one per (model, format, precision), teacher first.

Both the text tables (report.py) and the HTML page (html.py) are built from these rows; they live in
their own module so that report.py can import html.py without html.py importing report.py back.
"""
from __future__ import annotations

TEACHER_KEY = "teacher"   # the model name the demo uses for the teacher in bench.json keys


def rows(report: dict) -> list[dict]:
    """One flat row per (model, format, precision), teacher first; ratios are vs the teacher's PyTorch p50."""
    teacher = report["teacher"]
    base = teacher["latency_ms"]["p50"]
    first = {"model": teacher["name"], "trained_on": "labels", "format": "pytorch", "precision": "fp32",
             "size_mb": teacher["size_bytes"] / 1e6, "p50": base, "p90": teacher["latency_ms"]["p90"],
             "p99": teacher["latency_ms"]["p99"], "speedup": 1.0, "accuracy": teacher["accuracy"],
             "agreement": 1.0, "max_diff": 0.0}
    out = [{**first, **_extra(teacher, True, "pytorch", "fp32")}]
    for art in teacher.get("artifacts", []):
        out.append(_row(teacher["name"], "labels", art, base, True))
    for student in report["students"]:
        for art in student["artifacts"]:
            out.append(_row(student["name"], student["trained_on"], art, base, False))
    return out


def _extra(entry: dict, is_teacher: bool, fmt: str, precision: str, model: str = TEACHER_KEY) -> dict:
    fl = entry.get("floor") or {}
    return {"key": f"{TEACHER_KEY if is_teacher else model}/{fmt}/{precision}", "is_teacher": is_teacher,
            "floor_ms": fl.get("floor_ms"), "x_floor": fl.get("x_floor"), "parity_passed": entry.get("parity_passed"),
            "macs": (fl.get("macs") or {}).get("total")}


def _row(name: str, trained_on: str, art: dict, base: float, is_teacher: bool = False) -> dict:
    lat = art.get("latency_ms") or {}
    p50 = lat.get("p50")
    return {"model": name, "trained_on": trained_on, "format": art["format"], "precision": art["precision"],
            "size_mb": art["size_bytes"] / 1e6, "p50": p50, "p90": lat.get("p90"), "p99": lat.get("p99"),
            "speedup": base / p50 if p50 else None, "accuracy": art.get("accuracy"),
            "agreement": art.get("agreement_with_teacher"), "max_diff": art.get("max_abs_logit_diff"),
            **_extra(art, is_teacher, art["format"], art["precision"], name)}
