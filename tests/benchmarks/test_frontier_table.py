"""benchmarks/frontier_table.py judges the issue's targets from its rows: the fast target needs both speed ratios and the
accuracy, the static-vs-peers target compares end-to-end latency and accuracy, and the Markdown names every row."""
from benchmark_scripts import load_script

from edge_runtime.frontier import frontier_budgets, pareto_rows


def load_table():
    return load_script("frontier_table.py")


def row(name, kind, acc, p50, e2e=None, torch=60.0, int8=9.0, peer=False, size=1.0):
    return {"name": name, "kind": kind, "format": "onnx", "precision": "int8", "accuracy": acc, "agreement": acc, "size_mb": size,
            "training": "distilled", "peer": peer, "p50_ms": p50, "p50_ms_median": p50, "p50_ms_e2e": e2e or p50 + 0.05,
            "x_teacher_torch": torch / p50, "x_teacher_int8": int8 / p50}


def test_targets_need_speed_and_accuracy_and_name_the_closest_row():
    table = load_table()
    rows = [row("cnn int8", "cnn", 0.823, 0.5), row("static int8", "static", 0.80, 0.1), row("bilstm int8", "bilstm", 0.84, 1.0)]
    fast, close = table.targets(rows, teacher_acc=0.862)
    assert fast["row"] == "cnn int8" and fast["met"]            # 120x torch, 18x int8, 3.9 points under the teacher
    assert close["row"] == "bilstm int8" and not close["met"]   # 9x the teacher's int8 but 2.2 points under
    rows[0]["accuracy"] = 0.82                                   # 4.2 points under: the closest, not met
    assert not table.targets(rows, 0.862)[0]["met"]
    slow = [row("bilstm int8", "bilstm", 0.86, 1.0)]             # 9x int8 only: no row reaches the fast target
    assert table.targets(slow, 0.862)[0]["row"] is None


def test_static_must_beat_model2vec_by_two_points_at_no_more_latency():
    table = load_table()
    ours = row("static int8", "static", 0.81, 0.09, e2e=0.15)
    m2v = row("model2vec classifier", "peer", 0.7875, 0.03, e2e=0.17, peer=True)
    ft = row("fastText supervised", "peer", 0.789, 0.047, e2e=0.047, peer=True)
    verdict = table.targets([ours, m2v], 0.862)[-1]
    assert verdict["met"] and verdict["beats"] == ["model2vec classifier"]
    verdict = table.targets([ours, m2v, ft], 0.862)[-1]          # fastText is faster end to end: not beaten at equal latency
    assert not verdict["met"] and verdict["beats"] == ["model2vec classifier"]
    ours["accuracy"] = 0.80                                      # 1.25 points over model2vec: not the 2 asked
    assert table.targets([ours, m2v], 0.862)[-1]["beats"] == []


def test_markdown_lists_rows_budgets_and_targets():
    table = load_table()
    rows = [row("teacher pytorch", "teacher", 0.862, 60.0), row("teacher onnx int8", "teacher", 0.86, 9.0),
            row("cnn int8", "cnn", 0.823, 0.5), row("static int8", "static", 0.80, 0.1)]
    ours = rows[2:]
    frontier = {"title": "t", "setup": "s", "command": "python benchmarks/frontier_table.py", "wall_s": 60,
                "teacher": {"accuracy": 0.862, "p50_ms_torch": 60.0, "p50_ms_int8": 9.0}, "rows": rows,
                "budgets": frontier_budgets(ours, (0.1, 1)), "pareto": {"latency": pareto_rows(ours, "p50_ms"), "size": pareto_rows(ours, "size_mb")},
                "targets": table.targets(rows, 0.862), "students": {"cnn": {"test_accuracy": 0.823, "best_dev_accuracy": 0.83}}}
    md = table.markdown(frontier)
    assert all(f"| {r['name']} |" in md for r in rows)
    assert "| <= 0.1 ms | static int8 | 80.00% |" in md and "| <= 1 ms | cnn int8 | 82.30% |" in md
    assert ">= 50x teacher PyTorch and >= 15x teacher int8, within 4 points: met by cnn int8" in md


def test_static_target_prefers_the_same_loop_timing():
    table = load_table()
    ours = row("static int8", "static", 0.81, 0.09, e2e=0.30)          # slower than model2vec in its own run...
    m2v = row("model2vec classifier", "peer", 0.7875, 0.03, e2e=0.17, peer=True)
    assert not table.targets([ours, m2v], 0.862)[-1]["met"]
    verdict = table.targets([ours, m2v], 0.862, same_run={"p50_ms_e2e": 0.12})   # ...faster in one loop with it
    assert verdict[-1]["met"] and "one loop" in verdict[-1]["target"]


def test_warm_timings_get_their_own_verdicts():
    table = load_table()
    cnn = row("cnn int8", "cnn", 0.824, 0.5)                     # cold: 120x torch / 18x int8 ...
    cnn["x_teacher_torch"], cnn["x_teacher_int8"] = 45.0, 18.0   # ... say 45x / 18x cold
    cnn["x_teacher_torch_warm"], cnn["x_teacher_int8_warm"] = 64.0, 26.0
    verdicts = {t["target"]: t["met"] for t in table.targets([cnn], 0.862)}
    assert verdicts[">= 50x teacher PyTorch and >= 15x teacher int8, within 4 points"] is False
    assert verdicts[">= 50x teacher PyTorch and >= 15x teacher int8, within 4 points, warm"] is True
