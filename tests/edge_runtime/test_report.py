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
        m = fl["macs"]   # the per-op-kind floor: one-row MACs (recurrences, batch-1 heads) at the GEMV rates, the rest at the GEMM rates
        expected = ((m["fp32"] - m["gemv_fp32"]) / rates.fp32_gmacs + m["gemv_fp32"] / rates.gemv_fp32_gmacs
                    + (m["int8"] - m["gemv_int8"]) / rates.int8_gmacs + m["gemv_int8"] / rates.gemv_int8_gmacs) / 1e6
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


def test_markdown_file_is_written(floored_run, encoder, movie):
    text = write_markdown(floored_run).read_text()
    assert text.startswith("# edgedistill report: movie-snippets")
    assert "| model | trained on |" in text and "GMAC/s fp32" in text and text.count("\n| ") >= 8
    # latency at the data's own lengths beside the fixed one: every benchmarked runner at each, the lengths as the data has them
    report, bench = load_run(floored_run)
    by = report["bench_by_length"]
    assert list(by) == ["fixed", "median", "p90"] and set(by["median"]["p50_ms"]) == set(bench)
    counts = sorted(int(n) for n in encoder.encode_np(movie[0][:48])["attention_mask"].sum(1))   # the run's 48 test sentences
    assert by["fixed"]["tokens"] == report["bench"]["seq_len"]
    assert (by["median"]["tokens"], by["p90"]["tokens"]) == (counts[23], counts[-(-90 * 48 // 100) - 1])   # nearest rank
    assert "## Latency at the data's lengths" in text and f"median ({by['median']['tokens']} tokens)" in text


def test_html_is_self_contained_and_carries_every_row(floored_run):
    page = write_html(floored_run).read_text()
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", page), "nothing may be loaded from outside the file"
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    report, bench = load_run(floored_run)
    for r in rows(report):
        assert f'data-key="{r["key"]}"' in page
    assert page.count('<figure data-key=') == len(bench)           # one histogram per benchmarked runner
    assert 'id="pareto"' in page and "x floor" in page
    assert page.count('<table class="lengths">') == 1 and "Latency at the data's lengths" in page
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


def test_a_frontier_json_beside_the_report_joins_its_page(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert 'id="frontier-latency"' not in write_html(run).read_text()
    (run / "frontier.json").write_text(json.dumps(_frontier()))
    assert 'id="frontier-latency"' in write_html(run).read_text()
    (run / "frontier.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(DataError, match="frontier has no"):
        write_html(run)


def test_schema_formats_and_precisions_are_the_one_table():
    from edge_runtime.schema import DEFS
    from edgecore.formats import ALL_PRECISIONS, FORMATS

    artifact = DEFS["artifact"]["properties"]
    assert artifact["format"]["enum"] == list(FORMATS) and artifact["precision"]["enum"] == list(ALL_PRECISIONS)


# ---------------------------------------------------------------------------------------------- the frontier (issue #23)

def _frontier() -> dict:
    """Nine rows whose fronts and budget picks are worked out by hand in the tests below."""
    def row(name, kind, fmt, prec, acc, p50, size, peer=False, training="distilled, aug"):
        return {"name": name, "kind": kind, "format": fmt, "precision": prec, "accuracy": acc, "p50_ms": p50, "p50_ms_median": p50 * 0.6,
                "size_mb": size, "x_teacher_torch": 30.0 / p50, "x_teacher_int8": 9.0 / p50, "peer": peer, "training": training}

    rows_ = [row("static fp32", "static", "onnx", "fp32", 0.780, 0.05, 4.0),
             row("static int8", "static", "onnx", "int8", 0.775, 0.04, 1.1),
             row("cnn int8", "cnn", "onnx", "int8", 0.800, 0.30, 2.0),
             row("bilstm int8", "bilstm", "onnx", "int8", 0.8175, 1.37, 2.1),
             row("bigru fp32", "bigru", "onnx", "fp32", 0.810, 2.5, 8.0, training="label-only"),
             row("transformer int8", "transformer", "onnx", "int8", 0.8475, 2.7, 14.6, training="assistant"),
             row("teacher int8", "teacher", "onnx", "int8", 0.863, 9.0, 23.0, training="fine-tuned"),
             row("fasttext", "peer", "fasttext", "fp32", 0.790, 0.05, 40.0, peer=True, training="label-only"),
             row("<model2vec>", "peer", "model2vec", "fp32", 0.760, 0.02, 30.0, peer=True, training="label-only")]
    from edge_runtime.frontier import frontier_budgets

    return {"title": "Every student kind on movie-snippets", "setup": "movie-snippets test 2,000; 1 thread, batch 1, seq 64",
            "teacher": {"name": "teacher", "accuracy": 0.862, "p50_ms_torch": 30.0, "p50_ms_int8": 9.0},
            "rows": rows_, "budgets": frontier_budgets(rows_, [0.01, 0.1, 0.5, 1, 3, 10])}


LATENCY_FRONT = ["<model2vec>", "static int8", "fasttext", "cnn int8", "bilstm int8", "transformer int8", "teacher int8"]
SIZE_FRONT = ["static int8", "cnn int8", "bilstm int8", "transformer int8", "teacher int8"]


def test_pareto_rows_on_latency_and_on_size():
    from edge_runtime.frontier import pareto_rows

    rows_ = _frontier()["rows"]
    # static fp32 ties fasttext on latency but is less accurate; bigru is slower and worse than bilstm
    assert pareto_rows(rows_, "p50_ms") == LATENCY_FRONT
    assert pareto_rows(rows_, "size_mb") == SIZE_FRONT
    twins = [{"name": "a", "accuracy": 0.8, "p50_ms": 1.0}, {"name": "b", "accuracy": 0.8, "p50_ms": 1.0}, {"name": "c", "accuracy": 0.7, "p50_ms": None}]
    assert pareto_rows(twins, "p50_ms") == ["a", "b"]      # equal points: neither beats the other; no latency: not on it
    assert pareto_rows([], "p50_ms") == []


def test_frontier_budgets_pick_the_most_accurate_row_within_each_budget():
    from edge_runtime.frontier import frontier_budgets

    picks = frontier_budgets(_frontier()["rows"], [0.01, 0.1, 0.5, 1, 1.37, 3, 10])
    assert [p["ship"] for p in picks] == [None, "fasttext", "cnn int8", "cnn int8", "bilstm int8", "transformer int8", "teacher int8"]
    assert picks[0] == {"ms": 0.01, "ship": None, "accuracy": None, "p50_ms": None, "size_mb": None}   # empty budget
    assert picks[1]["accuracy"] == 0.79 and picks[4]["p50_ms"] == 1.37          # a row exactly at the budget fits it


def test_frontier_budgets_break_ties_by_speed_then_size():
    from edge_runtime.frontier import frontier_budgets

    rows_ = [{"name": "slow", "accuracy": 0.8, "p50_ms": 0.9, "size_mb": 1.0}, {"name": "fast", "accuracy": 0.8, "p50_ms": 0.4, "size_mb": 5.0},
             {"name": "fast-small", "accuracy": 0.8, "p50_ms": 0.4, "size_mb": 2.0}, {"name": "worse", "accuracy": 0.7, "p50_ms": 0.1, "size_mb": 0.5}]
    assert [p["ship"] for p in frontier_budgets(rows_, [0.2, 1])] == ["worse", "fast-small"]
    assert [p["ship"] for p in frontier_budgets(rows_[:2], [1])] == ["fast"]
    assert frontier_budgets([], [1])[0]["ship"] is None


def test_frontier_rejects_bad_budgets_and_rows():
    from edge_runtime.frontier import check_frontier, frontier_budgets
    from edgecore import ConfigError

    with pytest.raises(ConfigError, match="budget -1 is not a positive number"):
        frontier_budgets([], [1, -1])
    with pytest.raises(ConfigError, match="'3'"):
        frontier_budgets([], ["3"])
    with pytest.raises(DataError, match="no 'name'"):
        frontier_budgets([{"accuracy": 0.8, "p50_ms": 1.0}], [1])
    bad = _frontier()
    del bad["rows"][2]["p50_ms"]
    with pytest.raises(DataError, match=r"row 2 has no 'p50_ms'"):
        check_frontier(bad)
    bad = _frontier()
    bad["rows"][1]["name"] = "static fp32"
    with pytest.raises(DataError, match="unique.*static fp32 repeat"):
        check_frontier(bad)
    with pytest.raises(DataError, match="no 'budgets'"):
        check_frontier({k: v for k, v in _frontier().items() if k != "budgets"})


def test_frontier_page_is_self_contained_and_escapes_names():
    from edge_runtime.html import render_frontier_html

    page = render_frontier_html(_frontier())
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", page)
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    assert "<model2vec>" not in page and "&lt;model2vec&gt;" in page
    assert 'id="frontier-latency"' in page and 'id="frontier-size"' in page and 'id="frontier-budgets"' in page


# what the browser reports about a frontier page: point / front counts per plot, table rows, and the effect of a click
FRONTIER_PROBE = """(function () {
  function plot(id) {
    var svg = document.getElementById(id);
    return {points: svg.querySelectorAll("g.pt").length, front: svg.querySelectorAll("g.pt.on-front").length,
            filled: Array.prototype.filter.call(svg.querySelectorAll("g.pt.on-front > :not(title)"),
                                                function (m) { return m.getAttribute("fill") !== "#fff"; }).length,
            steps: svg.querySelectorAll("path.front").length, refs: svg.querySelectorAll("g.refline").length,
            peers: svg.querySelectorAll("g.pt > polygon").length,
            front_keys: Array.prototype.map.call(svg.querySelectorAll("g.pt.on-front"), function (g) { return g.getAttribute("data-key"); })};
  }
  var table = document.getElementById("frontier-rows"), heads = table.tHead.rows[0].cells, acc = null;
  for (var i = 0; i < heads.length; i++) if (heads[i].textContent === "test acc") acc = heads[i];
  acc.click(); acc.click();   // descending
  var main = document.getElementById("rows");
  return {latency: plot("frontier-latency"), size: plot("frontier-size"),
          budgets: Array.prototype.map.call(document.querySelectorAll("#frontier-budgets tbody tr"),
                                            function (r) { return r.cells[1].textContent; }),
          rows: table.tBodies[0].rows.length, first_by_accuracy: table.tBodies[0].rows[0].cells[0].textContent,
          sort_state: acc.getAttribute("aria-sort"), main_rows: main ? main.tBodies[0].rows.length : null,
          width: document.getElementById("frontier-latency").getBoundingClientRect().width};
})()"""


def _check_frontier_probe(value: dict, main_rows: int | None) -> None:
    def keys(names):
        return [f"frontier:{n}" for n in names]

    assert value["latency"]["points"] == 9 and value["size"]["points"] == 9
    assert value["latency"]["front"] == value["latency"]["filled"] == len(LATENCY_FRONT)
    assert sorted(value["latency"]["front_keys"]) == sorted(keys(LATENCY_FRONT))
    assert value["size"]["front"] == value["size"]["filled"] == len(SIZE_FRONT) and sorted(value["size"]["front_keys"]) == sorted(keys(SIZE_FRONT))
    assert value["latency"]["steps"] == value["size"]["steps"] == 1
    assert value["latency"]["refs"] == 3 and value["size"]["refs"] == 1     # teacher accuracy (+ its torch and int8 p50)
    assert value["latency"]["peers"] == value["size"]["peers"] == 2         # the two peers' diamonds; ours are circles
    assert value["budgets"] == ["nothing measured runs this fast", "fasttext", "cnn int8", "cnn int8", "transformer int8", "teacher int8"]
    assert value["rows"] == 9 and value["first_by_accuracy"] == "teacher int8" and value["sort_state"] == "descending"
    assert value["main_rows"] == main_rows and value["width"] > 500


def test_frontier_page_renders_in_headless_chromium(chromium, tmp_path):
    from edge_runtime.html import render_frontier_html

    path = tmp_path / "frontier.html"
    path.write_text(render_frontier_html(_frontier()))
    check = chromium(path, settle=0.2, expression=FRONTIER_PROBE)
    assert check.errors == [], check.errors
    assert check.ready == "1", "the page's script did not run to its end"
    assert all(u.startswith(("file://", "data:")) for u in check.requests), check.requests
    _check_frontier_probe(check.value, None)


def test_report_with_a_frontier_key_carries_the_section(chromium, tmp_path):
    """render_html adds the frontier section when report.json has "frontier"; both tables still sort in one page."""
    report = {"teacher": {"name": "teacher", "accuracy": 0.862, "params": 22_700_000, "latency_ms": {"p50": 30.0, "p90": 31.0, "p99": 33.0},
                          "size_bytes": 90_900_000},
              "students": [{"name": "bilstm", "kind": "bilstm", "trained_on": "teacher", "accuracy": 0.8175, "params": 1_000_000,
                            "artifacts": [{"format": "onnx", "precision": "int8", "path": "x.onnx", "size_bytes": 2_100_000,
                                           "latency_ms": {"p50": 1.37, "p90": 1.5, "p99": 1.9}, "accuracy": 0.8175,
                                           "agreement_with_teacher": 0.83, "max_abs_logit_diff": 0.01}]}],
              "data": {"name": "movie-snippets", "train": 7041, "dev": 1000, "test": 2000}, "machine": {"cpu": "x", "threads": 1}}
    assert 'id="frontier-latency"' not in render_html(report)
    report["frontier"] = _frontier()
    path = tmp_path / "report.html"
    path.write_text(render_html(report))
    check = chromium(path, settle=0.2, expression=FRONTIER_PROBE)
    assert check.errors == [] and check.ready == "1", check.errors
    assert all(u.startswith(("file://", "data:")) for u in check.requests), check.requests
    _check_frontier_probe(check.value, 2)
