"""The Python API: the README's example runs as written; configs refuse bad values before any work, naming the
field; an output that overlaps an input is refused even with force; importing edgedistill stays light."""
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import edgedistill as ed

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_python_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    examples = [b for b in blocks if "import edgedistill as ed" in b]
    assert len(examples) == 1, "README.md must hold exactly one ```python block with `import edgedistill as ed`"
    return examples[0]


def test_readme_python_example_runs(tiny_bert_dir, movie_csv, cache, tmp_path, monkeypatch, capsys):
    """The example, verbatim, with a tiny teacher at runs/teacher and 200 real sentences in my.csv."""
    work = tmp_path / "user"
    (work / "runs").mkdir(parents=True)
    shutil.copytree(tiny_bert_dir, work / "runs" / "teacher")
    shutil.copy(movie_csv(200, balanced=True), work / "my.csv")
    monkeypatch.chdir(work)
    scope: dict = {}
    exec(compile(readme_python_example(), str(README), "exec"), scope)
    student, bundle, speed, check = (scope[k] for k in ("student", "bundle", "speed", "check"))
    assert isinstance(student, ed.DistillResult) and (work / "runs/student/model.safetensors").is_file()
    assert 0.0 <= student.metrics["test_accuracy"] <= 1.0
    assert bundle.passed and {(r["format"], r["precision"]) for r in bundle.rows} == {("onnx", "fp32"), ("onnx", "int8")}
    assert (work / "runs/bundle/manifest.json").is_file()
    assert speed.p50() > 0 and str(bundle.path) in speed.results
    assert check.passed and check.sentences > 0 and len(check.models) == 2
    printed = capsys.readouterr().out.split()
    assert float(printed[-2]) == student.metrics["test_accuracy"] and printed[-1] == "True"


@pytest.mark.parametrize("make, field", [
    (lambda: ed.ExportConfig(checkpoint="c", out="o", validate=0), "validate"),
    (lambda: ed.ExportConfig(checkpoint="c", out="o", formats=("tfl",)), "'tfl'"),
    (lambda: ed.ExportConfig(checkpoint="c", out="o", formats=("tflite",), precisions=("int8-static",)), "int8-static"),
    (lambda: ed.ExportConfig(checkpoint="c", out="o", smooth="1.5"), "smooth"),
    (lambda: ed.ExportConfig(checkpoint="c", out="o", buckets=(16, "x")), "buckets"),
    (lambda: ed.ExportConfig(checkpoint="c", out="o", recurrent="unrolled"), "recurrent"),
    (lambda: ed.DistillConfig(teacher="t", out="o", student="mlp"), "student"),
    (lambda: ed.DistillConfig(teacher="t", out="o", epochs=0), "epochs"),
    (lambda: ed.DistillConfig(teacher="t", out="o", lr=math.nan), "lr"),
    (lambda: ed.DistillConfig(teacher="t", out="o", temperature=math.inf), "temperature"),
    (lambda: ed.DistillConfig(teacher="t", out="o", augment=-1), "augment"),
    (lambda: ed.DistillConfig(teacher="t", out="o", student="gru", intermediate=512), "intermediate"),
    (lambda: ed.DistillConfig(teacher="t", out="o", student="bilstm", stage1_lr=1e-3), "stage1_lr"),
    (lambda: ed.DistillConfig(teacher="t", out="o", student="bilstm", method="tinybert"), "method"),
    (lambda: ed.FinetuneConfig(out="o", batch_size=-2), "batch_size"),
    (lambda: ed.BenchConfig(models=()), "models"),
    (lambda: ed.BenchConfig(models=("m.onnx",), runs=0), "runs"),
    (lambda: ed.BenchConfig(models=("m.onnx",), mode="streaming"), "mode"),
])
def test_configs_refuse_bad_values_naming_the_field(make, field):
    with pytest.raises(ed.EdgedistillError) as e:
        make()
    message = str(e.value)
    assert field in message and "\n" not in message
    assert "--" not in message, f"API errors name config fields, not CLI flags: {message}"


def test_configs_take_str_paths_and_round_trip_to_dict():
    cfg = ed.ExportConfig(checkpoint="runs/student", out="runs/bundle", formats="onnx,tflite", smooth="0.8")
    assert cfg.checkpoint == Path("runs/student") and cfg.formats == ("onnx", "tflite") and cfg.smooth == 0.8
    assert cfg.to_dict()["out"] == "runs/bundle" and cfg.to_dict()["formats"] == ["onnx", "tflite"]
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.out = Path("elsewhere")   # frozen


def test_output_overlapping_an_input_is_refused_even_with_force(student_dir, tmp_path):
    before = {p: p.read_bytes() for p in student_dir.rglob("*") if p.is_file()}
    for out in (student_dir, student_dir / "bundle", student_dir.parent):
        with pytest.raises(ed.ConfigError, match="overlaps the checkpoint"):
            ed.export_checkpoint(ed.ExportConfig(checkpoint=student_dir, out=out, force=True))
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    with pytest.raises(ed.ConfigError, match="overlaps the teacher"):
        ed.distill(ed.DistillConfig(teacher=teacher, out=teacher, force=True))
    assert {p: p.read_bytes() for p in student_dir.rglob("*") if p.is_file()} == before


def test_importing_edgedistill_loads_no_ml_library():
    code = "import sys, edgedistill; print(sorted(m for m in ('torch', 'transformers', 'onnxruntime', 'onnx', 'numpy') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_cli_flag_has_help_and_every_choice_is_listed():
    import typer.main

    from edgedistill.cli import app

    def commands(group, prefix=""):
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                yield from commands(cmd, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}", cmd

    missing, seen = [], 0
    for name, cmd in commands(typer.main.get_command(app)):
        assert cmd.help, f"`{name}` has no help"
        for param in cmd.params:
            seen += 1
            if not getattr(param, "help", None):
                missing.append(f"{name} {param.opts[0] if param.opts else param.name}")
    assert seen > 60 and not missing, f"flags without help: {missing}"
