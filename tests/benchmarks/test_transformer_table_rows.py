"""benchmarks/transformer_table.py keeps finished student rows keyed by their full settings; a config
field added later (at a default that keeps the old behaviour) must not orphan the rows already trained."""
import json

from benchmark_scripts import load_script

from distill.students.transformer import TransformerStudentConfig
from distill.transformer_trainer import TransformerDistillConfig


def load_table():
    return load_script("transformer_table.py")


def old_style_key(s_cfg, d_cfg, dropped: tuple[str, ...]) -> str:
    """The key as an older version of the configs (without the `dropped` fields) wrote it."""
    d = {k: v for k, v in d_cfg.to_dict().items() if k not in dropped}
    return f"student|s|{json.dumps(s_cfg.to_dict(), sort_keys=True)}|{json.dumps(d, sort_keys=True)}|aug4|teacher123"


def test_rows_written_before_a_field_existed_are_found_under_todays_key(tmp_path):
    table = load_table()
    s_cfg = TransformerStudentConfig(layers=2, intermediate=768)
    d_cfg = TransformerDistillConfig(matches="none", epochs=3, lr=2e-4)
    path = tmp_path / "rows.json"
    path.write_text(json.dumps({old_style_key(s_cfg, d_cfg, ("bf16", "logit_loss")): {"test_accuracy": 0.85},
                                "teacher-int8|teacher123": {"ms": 1.0}}))

    rows = table.Rows(path, fresh=False)

    assert rows.get(table.student_key("s", s_cfg, d_cfg, 4, "teacher123")) == {"test_accuracy": 0.85}
    assert rows.get("teacher-int8|teacher123") == {"ms": 1.0}
    # a setting that changes the run still misses: bf16 and MSE rows are different students
    assert rows.get(table.student_key("s", s_cfg, TransformerDistillConfig(matches="none", epochs=3, lr=2e-4, bf16=True), 4, "teacher123")) is None
    assert rows.get(table.student_key("s", s_cfg, TransformerDistillConfig(matches="none", epochs=3, lr=2e-4, logit_loss="mse"), 4, "teacher123")) is None
    assert rows.get(table.student_key("s", s_cfg, d_cfg, 8, "teacher123")) is None


def test_upgraded_keys_are_written_back_with_the_next_row(tmp_path):
    table = load_table()
    s_cfg, d_cfg = TransformerStudentConfig(layers=2), TransformerDistillConfig(matches="none")
    path = tmp_path / "rows.json"
    path.write_text(json.dumps({old_style_key(s_cfg, d_cfg, ("bf16",)): {"test_accuracy": 0.8}}))

    rows = table.Rows(path, fresh=False)
    rows.put("teacher-int8|t", {"ms": 2.0})

    on_disk = json.loads(path.read_text())
    assert set(on_disk) == {table.student_key("s", s_cfg, d_cfg, 4, "teacher123"), "teacher-int8|t"}
    assert table.Rows(path, fresh=True).get("teacher-int8|t") is None   # --fresh starts from nothing
