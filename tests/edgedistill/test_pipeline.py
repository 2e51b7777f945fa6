"""The demo's whole path on a tiny teacher base and a small slice of the real movie data."""
import json

from edge_runtime import Bundle
from edgedistill.pipeline import DemoConfig, DemoProfile, run_demo

TINY = DemoProfile("tiny", test=40, dev=20, max_train=80, teacher_epochs=1.0, teacher_max_steps=2, student_epochs=1,
                   bench_runs=5, bench_warmup=1, hidden=8)


def test_demo_path_writes_report_bundle_and_reuses_caches(tiny_bert_dir, cache, tmp_path):
    report = run_demo(DemoConfig(out=tmp_path / "run", profile=TINY, base=str(tiny_bert_dir)))
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert saved["data"] | {"source": None} == {"name": "movie-snippets", "train": 80, "dev": 20, "test": 40, "source": None}
    for key in ("name", "accuracy", "params", "latency_ms", "size_bytes"):
        assert key in saved["teacher"]
    assert {s["trained_on"] for s in saved["students"]} == {"teacher", "labels"}
    distilled = next(s for s in saved["students"] if s["trained_on"] == "teacher")
    assert [(a["format"], a["precision"]) for a in distilled["artifacts"]] == [("pytorch", "fp32"), ("onnx", "fp32"), ("onnx", "int8")]
    for art in distilled["artifacts"]:
        assert set(art["latency_ms"]) >= {"p50", "p90", "p99"} and 0 <= art["agreement_with_teacher"] <= 1
        assert art["size_bytes"] > 0 and art["max_abs_logit_diff"] is not None
    assert distilled["artifacts"][1]["max_abs_logit_diff"] < 1e-3
    html = (tmp_path / "run" / "report.html").read_text()
    assert "<svg" in html and "http" not in html.split("</head>")[0]          # self-contained: nothing fetched
    assert (tmp_path / "run" / "report.md").read_text().count("|") > 20
    assert "x_floor" in saved["teacher"]["floor"] and "gemm" in saved["floors"]   # FLOP floors were added
    bundle = Bundle.open(tmp_path / "run" / "bundle")
    assert bundle.model_entry()["precision"] == "int8" and bundle.manifest["parity"]["sentences"] == 40
    assert report["cache"]["teacher_logits_hit"] is False and report["cache"]["students_hit"]["bilstm-distilled"] is False

    again = run_demo(DemoConfig(out=tmp_path / "run", profile=TINY, base=str(tiny_bert_dir), force=True))
    assert again["cache"]["teacher_logits_hit"] is True
    assert again["cache"]["students_hit"] == {"bilstm-distilled": True, "bilstm-labels": True}
    assert again["teacher"]["accuracy"] == report["teacher"]["accuracy"]
    assert [s["accuracy"] for s in again["students"]] == [s["accuracy"] for s in report["students"]]


def test_demo_that_fails_parity_writes_its_report_ships_nothing_that_failed_and_raises(tiny_bert_dir, cache, tmp_path, monkeypatch):
    import pytest

    from edgecore import ParityError
    from edgedistill import pipeline

    real = pipeline._parity

    def int8_student_fails(*args, **kwargs):
        logits, reports = real(*args, **kwargs)
        reports[pipeline.SHIPPED].failures.append("agreement with source 0.5000 < 0.995 (20 flips)")
        return logits, reports

    monkeypatch.setattr(pipeline, "_parity", int8_student_fails)
    run = tmp_path / "run"
    (run / "bundle").mkdir(parents=True)          # left by an earlier run: --force replaces it, a failed file must not stay shipped
    (run / "bundle" / "manifest.json").write_text("{}")
    with pytest.raises(ParityError) as info:
        run_demo(DemoConfig(out=run, profile=TINY, base=str(tiny_bert_dir), force=True))
    message = str(info.value)
    assert "\n" not in message and "artifacts/bilstm-distilled.int8.onnx" in message and "no bundle was written" in message
    saved = json.loads((run / "report.json").read_text())        # the report is still written, and says why
    assert saved["bundle"]["path"] is None and not (run / "bundle").exists()
    assert [f["name"] for f in saved["parity_failed"]] == [pipeline.SHIPPED]
    assert json.loads((run / "parity.json").read_text())[pipeline.SHIPPED]["passed"] is False
    assert info.value.report["parity_failed"] == saved["parity_failed"]
