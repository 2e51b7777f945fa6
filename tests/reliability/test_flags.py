"""Every numeric flag and config field is range-checked: NaN, inf, negative, zero where meaningless, a fraction where
a whole number is meant, absurdly large. On the CLI: exit 2, one line naming the flag, before any work. In the Python
API: ConfigError naming the field. Also: a check that FAILs never exits 0."""
from __future__ import annotations

import math
from dataclasses import asdict

import pytest
import torch
from cli_helpers import api_raises, assert_clean, cli

import edgedistill as ed
from distill import RNNStudent, RNNStudentConfig, load_student, save_student
from edgecore.limits import LIMITS
from export import BundleConfig, to_onnx, write_bundle

# command -> (argv before the flag, {flag: whole number?}); inputs are missing on purpose: a refused value must be
# reported before anything is opened, so the message names the flag and not the missing input
COMMANDS = {
    "distill": (["distill", "--teacher", "/nonexistent/teacher", "--out", "{out}"],
                {"epochs": True, "lr": False, "temperature": False, "alpha": False, "augment": True, "hidden": True, "layers": True,
                 "embed-dim": True, "min-count": True, "seed": True, "intermediate": True, "stage1-epochs": True, "stage1-lr": False}),
    "teacher finetune": (["teacher", "finetune", "--base", "/nonexistent/base", "--out", "{out}"],
                         {"epochs": False, "lr": False, "batch-size": True, "max-len": True}),
    "export": (["export", "/nonexistent/student", "--out", "{out}"], {"validate": True}),
    "bench": (["bench", "/nonexistent/model.onnx"],
              {"runs": True, "warmup": True, "threads": True, "batch": True, "seq-len": True, "min-seconds": False, "max-seconds": False}),
    "demo": (["demo", "--out", "{out}"], {"threads": True, "seq-len": True}),
    "data show": (["data", "show", "/nonexistent/data.csv"], {"n": True}),
}


def bad_values(flag: str, integer: bool) -> list[str]:
    limit = LIMITS[flag.replace("-", "_")]
    values = ["nan", "inf", "-inf", "-1", str(int(limit.high) + 1 if integer else limit.high * 10)]
    if limit.low_open or limit.low >= 1:
        values.append("0")
    if integer:
        values.append("2.5")
    return values


CASES = [(command, flag, value) for command, (_, flags) in COMMANDS.items() for flag, integer in flags.items()
         for value in bad_values(flag, integer) if not (flag == "embed-dim" and value == "0")]   # --embed-dim 0 = the teacher's width


@pytest.mark.parametrize("command, flag, value", CASES, ids=[f"{c.replace(' ', '-')}--{f}={v}" for c, f, v in CASES])
def test_cli_refuses_an_out_of_range_flag(command, flag, value, capsys, monkeypatch, tmp_path):
    before, _ = COMMANDS[command]
    out = tmp_path / "out"
    argv = [a.replace("{out}", str(out)) for a in before] + [f"--{flag}", value]
    assert_clean(*cli(argv, capsys, monkeypatch), f"--{flag}")
    assert not out.exists() and list(tmp_path.iterdir()) == []


# the Python API: config -> {field: whole number?}; every other field is left valid
API = {
    ed.DistillConfig: ({"teacher": "t", "out": "o"}, {"epochs": True, "lr": False, "temperature": False, "alpha": False, "augment": True,
                                                    "hidden": True, "layers": True, "embed_dim": True, "min_count": True, "seed": True,
                                                    "stage1_epochs": True, "stage1_lr": False}),
    ed.FinetuneConfig: ({"out": "o"}, {"epochs": False, "lr": False, "batch_size": True, "max_len": True}),
    ed.BenchConfig: ({"models": ("m.onnx",)}, {"runs": True, "warmup": True, "threads": True, "batch": True, "seq_len": True,
                                              "min_seconds": False, "max_seconds": False}),
    ed.ExportConfig: ({"checkpoint": "c", "out": "o"}, {"validate": True}),
}


def api_bad_values(name: str, integer: bool) -> list:
    limit = LIMITS[name]
    values = [math.nan, math.inf, -math.inf, -1, (int(limit.high) + 1) if integer else limit.high * 10, True, "3"]
    if limit.low_open or limit.low >= 1:
        values.append(0)
    if integer:
        values.append(2.5)
    return values


API_CASES = [(cls, name, value) for cls, (_, names) in API.items() for name, integer in names.items() for value in api_bad_values(name, integer)]


@pytest.mark.parametrize("cls, name, value", API_CASES, ids=[f"{c.__name__}.{n}={v!r}" for c, n, v in API_CASES])
def test_api_config_refuses_an_out_of_range_value(cls, name, value):
    base, _ = API[cls]
    extra = {"student": "transformer"} if name.startswith("stage1") else {}
    with api_raises(ed.ConfigError, match=name):
        cls(**base, **extra, **{name: value})


@pytest.mark.parametrize("cls, kwargs, needle", [
    (ed.DistillConfig, dict(teacher="t", out="o", student="mlp"), "student"),
    (ed.DistillConfig, dict(teacher="t", out="o", loss=3), "loss"),
    (ed.DistillConfig, dict(teacher="t", out="o", force="yes"), "force"),
    (ed.DistillConfig, dict(teacher="t", out="o", bf16=1), "bf16"),
    (ed.ExportConfig, dict(checkpoint="c", out="o", buckets=(16, 10_000)), "buckets"),
    (ed.ExportConfig, dict(checkpoint="c", out="o", buckets=(True,)), "buckets"),
    (ed.ExportConfig, dict(checkpoint="c", out="o", smooth="nan"), "smooth"),
    (ed.ExportConfig, dict(checkpoint="c", out="o", smooth=1.0), "smooth"),
    (ed.ExportConfig, dict(checkpoint="c", out="o", zip="no"), "zip"),
    (ed.BenchConfig, dict(models=("m",), min_seconds=2.0, max_seconds=1.0), "max_seconds"),
    (ed.BenchConfig, dict(models=("m",), mode=None), "mode"),
    (ed.FinetuneConfig, dict(out="o", force=None), "force"),
], ids=["student", "loss-int", "force-str", "bf16-int", "bucket-huge", "bucket-bool", "smooth-nan", "smooth-1", "zip-str",
        "max-below-min", "mode-none", "finetune-force-none"])
def test_api_config_refuses_other_bad_values(cls, kwargs, needle):
    with api_raises(ed.EdgedistillError, match=needle):
        cls(**kwargs)


def test_train_config_refuses_nan():
    from distill import TrainConfig

    for name in ("temperature", "lr", "alpha", "warmup"):
        with api_raises(ed.ConfigError, match=name):
            TrainConfig(**{name: math.nan})


def test_a_diverging_run_stops_with_one_line(encoder, tmp_path):
    """A learning rate that sends the loss to inf/NaN stops training with a ConfigError, not a NaN student."""
    from distill.trainer import TrainConfig, TrainSet, train

    torch.manual_seed(0)
    model = RNNStudent(RNNStudentConfig(vocab_size=200, embed_dim=4, hidden=4, head_hidden=4))
    ids = [[101, 5 + i % 50, 102] for i in range(40)]
    logits = torch.full((40, 2), 1e38)
    with api_raises(ed.ConfigError, match="diverged"):
        train(model, TrainSet(ids, torch.zeros(40, dtype=torch.long), logits), ids[:8], [0] * 8, encoder.pad,
              TrainConfig(lr=10.0, epochs=2), None)


# ---------------------------------------------------------------------------------------------
# exit codes say PASS / FAIL

@pytest.fixture
def two_students(encoder, base_dir, tmp_path):
    made = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=8, hidden=4, head_hidden=4)).eval()
        made.append(save_student(model, tmp_path / f"student{seed}", encoder, ("negative", "positive")))
    model, _ = load_student(made[0])
    onnx = to_onnx(model, encoder.encode(["a fine film", "dull"]), tmp_path / "m.onnx")
    bundle = write_bundle(tmp_path / "bundle", [onnx], base_dir, BundleConfig("tiny", ("negative", "positive"), asdict(encoder.settings)))
    return bundle, made


def test_parity_that_fails_exits_2(two_students, tmp_path, capsys, monkeypatch):
    """`parity --source` against a checkpoint the bundle did not come from prints FAIL and exits 2, never 0."""
    import numpy as np

    from distill import load_dataset

    bundle, (source, other) = two_students
    n = len(load_dataset("movie-snippets").test)
    np.save(tmp_path / "t.npy", np.zeros((n, 2), np.float32))
    json_out = tmp_path / "parity.json"
    code, out, err = cli(["parity", bundle, "--teacher", tmp_path / "t.npy", "--source", other, "--json", json_out], capsys, monkeypatch)
    assert "FAIL" in out
    assert_clean(code, out, err, "fails parity")
    assert code == 2
    code, out, err = cli(["parity", bundle, "--teacher", tmp_path / "t.npy", "--source", source], capsys, monkeypatch)
    assert code == 0 and "PASS" in out and "FAIL" not in out, err
