import json
import re

import pytest

from edge_runtime.flops import GemmRates, count_macs, measure_gemm_rates
from edge_runtime.html import linear_ticks, log_ticks, pareto_front, render_html
from edge_runtime.report import add_floors, load_run, markdown_table, rows, write_html, write_markdown, write_reports
from edge_runtime.schema import SchemaError, validate
from edgecore import DataError


@pytest.fixture(scope="module")
def rates():
    return measure_gemm_rates(((64, 256, 256),), seconds=0.05)


@pytest.fixture(scope="module")
def floored_run(tiny_run, rates, tmp_path_factory):
    """The tiny run with floors added, in its own folder (the shared tiny_run stays as the demo writes it)."""
    import shutil

    out = tmp_path_factory.mktemp("floored") / "run"
    shutil.copytree(tiny_run, out)
    report, _ = load_run(out)
    (out / "report.json").write_text(json.dumps(add_floors(report, out, rates), indent=2))
    return out


def test_rows_put_the_teacher_first_and_ratios_against_its_pytorch_p50(tiny_run):
    report, _ = load_run(tiny_run)
    table = rows(report)
    assert table[0]["model"] == "tiny-bert" and table[0]["speedup"] == 1.0 and table[0]["key"] == "teacher/pytorch/fp32"
    assert [r["key"] for r in table[1:3]] == ["teacher/onnx/fp32", "teacher/onnx/int8"]
    assert len(table) == 1 + 2 + 3 + 1
    for r in table[1:]:
        assert r["speedup"] == pytest.approx(report["teacher"]["latency_ms"]["p50"] / r["p50"])
    assert "x floor" not in markdown_table(report)        # no floors yet: no empty floor columns


def test_report_json_validates_before_and_after_floors(tiny_run, floored_run):
    validate(load_run(tiny_run)[0], "report")
    validate(load_run(floored_run)[0], "report")
    validate(load_run(tiny_run)[1], "bench-samples")


def test_schema_lists_every_mismatch(tiny_run):
    report, _ = load_run(tiny_run)
    report["teacher"]["accuracy"] = 1.7
    report["students"][0]["kind"] = "mlp"
    del report["data"]["test"]
    with pytest.raises(SchemaError, match=r"3 mismatch\(es\)") as e:
        validate(report, "report")
    assert "teacher/accuracy" in str(e.value) and "students/0/kind" in str(e.value) and "'test' is a required property" in str(e.value)
    with pytest.raises(SchemaError, match="choose one of"):
        validate(report, "nope")


def test_floors_count_every_row_and_agree_across_formats(floored_run, rates):
    report, _ = load_run(floored_run)
    teacher = report["teacher"]
    student = report["students"][0]
    by_fmt = {(a["format"], a["precision"]): a["floor"] for a in student["artifacts"]}
    # the ONNX graph count equals the count from the student's config, and int8 moves every MAC to int8 kernels
    assert by_fmt[("onnx", "fp32")]["macs"]["total"] == by_fmt[("pytorch", "fp32")]["macs"]["total"] > 0
    assert by_fmt[("onnx", "fp32")]["macs"]["source"] == "onnx-graph" and by_fmt[("pytorch", "fp32")]["macs"]["source"] == "rnn-config"
    assert by_fmt[("onnx", "int8")]["macs"]["int8"] == by_fmt[("onnx", "fp32")]["macs"]["fp32"] and by_fmt[("onnx", "int8")]["macs"]["fp32"] == 0
    # the teacher: BERT config formula == its fp32 ONNX graph
    t_onnx = {a["precision"]: a["floor"] for a in teacher["artifacts"]}
    assert t_onnx["fp32"]["macs"]["total"] == teacher["floor"]["macs"]["total"]
    assert t_onnx["int8"]["macs"]["int8"] > 0 and not t_onnx["int8"]["macs"]["uncounted"]
    for fl in [teacher["floor"], *t_onnx.values(), *by_fmt.values()]:
        assert fl["x_floor"] > 1.0, fl        # nothing beats its own floor
        expected = fl["macs"]["fp32"] / (rates.fp32_gmacs * 1e6) + fl["macs"]["int8"] / (rates.int8_gmacs * 1e6)
        assert fl["floor_ms"] == pytest.approx(expected)
    assert report["floors"]["seq_len"] == 32 and report["floors"]["gemm"]["fp32_gmacs"] == rates.fp32_gmacs
    assert "x floor" in markdown_table(report)


def test_floors_find_artifacts_moved_with_their_run_folder(tiny_run, rates, tmp_path):
    import shutil

    moved = tmp_path / "elsewhere"
    shutil.copytree(tiny_run, moved)
    report, _ = load_run(moved)
    for art in report["students"][0]["artifacts"]:
        art["path"] = "/gone/" + str(art["path"]).split(str(tiny_run) + "/", 1)[-1]   # as if recorded on another machine
    floored = add_floors(report, moved, rates)
    assert all("x_floor" in a["floor"] for a in floored["students"][0]["artifacts"])
    report["students"][0]["artifacts"][1]["path"] = "/gone/nowhere.onnx"
    assert "not found" in add_floors(report, moved, rates)["students"][0]["artifacts"][1]["floor"]["error"]


def test_markdown_file_is_written(floored_run):
    text = write_markdown(floored_run).read_text()
    assert text.startswith("# edgedistill report: movie-snippets")
    assert "| model | trained on |" in text and "GMAC/s fp32" in text and text.count("\n| ") >= 8


def test_html_is_self_contained_and_carries_every_row(floored_run):
    page = write_html(floored_run).read_text()
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", page), "nothing may be loaded from outside the file"
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    report, bench = load_run(floored_run)
    for r in rows(report):
        assert f'data-key="{r["key"]}"' in page
    assert page.count('<figure data-key=') == len(bench)           # one histogram per benchmarked runner
    assert 'id="pareto"' in page and "x floor" in page
    assert "Distillation" not in page      # its students differ in kind: no like-for-like distillation gain to show


def test_distillation_card_compares_the_same_kind(tiny_run):
    report, bench = load_run(tiny_run)
    report["students"][1]["kind"] = "bilstm"
    report["students"][0]["accuracy"], report["students"][1]["accuracy"] = 0.8125, 0.75
    assert "Distillation" in render_html(report, bench) and "+6.2 pts" in render_html(report, bench)


def test_html_escapes_names(tiny_run):
    report, bench = load_run(tiny_run)
    report["students"][0]["name"] = '<script>alert("x")</script>'
    page = render_html(report, bench)
    assert '<script>alert("x")</script>' not in page and "&lt;script&gt;" in page


def test_html_without_bench_json_says_why(tiny_run):
    report, _ = load_run(tiny_run)
    assert "No bench.json" in render_html(report, None)


def test_missing_report_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no report.json"):
        write_html(tmp_path)
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        write_markdown(tmp_path)


def test_pareto_front_on_known_points():
    #            fast+bad   slow+good  dominated   fastest+worst  tie on latency, better
    points = [(1.0, 0.80), (10.0, 0.90), (5.0, 0.79), (0.5, 0.70), (1.0, 0.82)]
    assert pareto_front(points) == [3, 4, 1]


def test_axis_ticks():
    assert linear_ticks(0, 1, 5) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert linear_ticks(0.71, 0.86, 6) == pytest.approx([0.72, 0.74, 0.76, 0.78, 0.80, 0.82, 0.84, 0.86])
    assert log_ticks(0.5, 30) == [0.5, 1, 2, 5, 10, 20]


def test_html_renders_in_headless_chromium_without_errors(floored_run, chromium, tmp_path):
    page = write_html(floored_run)
    check = chromium(page, screenshot=True)
    assert check.errors == [], check.errors
    assert check.ready == "1", "the page's script did not run to its end"
    assert check.svg_count >= 5
    assert all(u.startswith(("file://", "data:")) for u in check.requests), check.requests
    assert check.screenshot[:8] == b"\x89PNG\r\n\x1a\n" and len(check.screenshot) > 20_000
    (tmp_path / "report.png").write_bytes(check.screenshot)


def test_the_browser_check_catches_errors_and_fetches(chromium, tmp_path):
    """The check above is only worth something if it fails on a broken page: this one has all three faults."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!doctype html><html><head><link rel="icon" href="data:,"></head><body><img src="http://127.0.0.1:9/x.png">'
                   '<script>console.error("boom"); setTimeout(function () { undefinedFunction(); }, 20);</script></body></html>')
    check = chromium(bad)
    assert any("boom" in e for e in check.errors)
    assert any("undefinedFunction" in e for e in check.errors)
    assert any(u.startswith("http://127.0.0.1:9/") for u in check.requests)


def test_count_macs_refuses_what_it_cannot_count(tmp_path):
    from edgecore import ConfigError

    with pytest.raises(ConfigError, match="give a .onnx file"):
        count_macs(tmp_path / "model.tflite")


def test_floor_arithmetic_with_known_rates():
    from edge_runtime.flops import MacCount, floor

    rates = GemmRates(50.0, 200.0, 50.0, 10.0, 20.0, (1, 1, 1), (1, 1, 1), ((1, 1, 1),), 0, "cpu", [], "x", 0.0)
    f = floor(MacCount(10**9, 10**9, 1, 64, "rnn-config"), rates, latency_ms=50.0, threads=1)
    assert f["floor_ms"] == pytest.approx(20.0 + 5.0) and f["x_floor"] == pytest.approx(2.0)


def test_write_reports_adds_floors_once_then_writes_both_pages(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    paths = write_reports(run)
    assert set(paths) == {"report.json", "report.md", "report.html"} and all(p.is_file() for p in paths.values())
    report, _ = load_run(run)
    validate(report, "report")
    assert report["floors"]["gemm"]["fp32_gmacs"] > 0 and report["teacher"]["floor"]["x_floor"] > 1
    before = (run / "report.json").read_bytes()
    write_reports(run)
    assert (run / "report.json").read_bytes() == before     # floors are measured once, not re-measured on every call


def test_schema_formats_and_precisions_are_the_one_table():
    from edge_runtime.schema import DEFS
    from edgecore.formats import ALL_PRECISIONS, FORMATS

    artifact = DEFS["artifact"]["properties"]
    assert artifact["format"]["enum"] == list(FORMATS) and artifact["precision"]["enum"] == list(ALL_PRECISIONS)
