"""The training resume state: safetensors + JSON with a fingerprint of everything that decides the result.

A state from a different run (config, data, teacher, initial model, versions) starts afresh with a one-line note;
an unreadable or tampered one is set aside with a note, never a traceback; nothing is ever unpickled.
"""
from __future__ import annotations

import ast
import json
import pickle
import re
from pathlib import Path

import pytest
import torch
from cli_helpers import _record, cli

from distill.trainer import STATE_FILE, TrainConfig, TrainSet, save_state, train

ROOT = Path(__file__).resolve().parents[2]


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(30, 6)
        self.head = torch.nn.Linear(6, 2)

    def forward(self, input_ids, attention_mask):
        return self.head((self.embed(input_ids) * attention_mask[..., None]).sum(1))


def pad(ids):
    width = max(len(x) for x in ids)
    feeds = {"input_ids": torch.zeros(len(ids), width, dtype=torch.long), "attention_mask": torch.zeros(len(ids), width, dtype=torch.long)}
    for i, row in enumerate(ids):
        feeds["input_ids"][i, : len(row)] = torch.tensor(row)
        feeds["attention_mask"][i, : len(row)] = 1
    return feeds


def make_data(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    ids = [torch.randint(1, 30, (int(torch.randint(1, 7, (1,), generator=g)),), generator=g).tolist() for _ in range(120)]
    labels = torch.tensor([row[0] % 2 for row in ids])
    return ids, labels, torch.randn(120, 2, generator=g)


def run(folder, config=TrainConfig(epochs=4, patience=0, batch_size=16), data=None, model_seed=0):
    ids, labels, logits = data or make_data()
    torch.manual_seed(model_seed)
    model = Tiny()
    result = train(model, TrainSet(ids, labels, logits), ids[:40], labels[:40].tolist(), pad, config, folder)
    return model, result


def same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def notes(capsys) -> list[str]:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    for line in lines:
        _record(line, "note")
    return lines


def test_resume_after_an_interrupted_run_gives_the_same_weights(tmp_path, capsys):
    reference, _ = run(None)
    short = TrainConfig(epochs=4, patience=0, batch_size=16, max_steps=16)   # stops after 2 of the 4 epochs
    run(tmp_path / "state", short)
    # max_steps is part of the config: a state from the shortened run is not resumed by the full one
    model, _ = run(tmp_path / "state")
    assert same(model, reference)
    assert any("different config" in line for line in notes(capsys))
    model, result = run(tmp_path / "state")          # a finished state: resumes at its end, the same weights
    assert same(model, reference) and result.epochs_run == 4
    assert notes(capsys) == []


def test_an_interrupt_mid_run_then_resume_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    reference, _ = run(None)
    import distill.trainer as trainer

    real_save, calls = trainer.save_state, []

    def save_then_stop(*args, **kwargs):
        real_save(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt   # Ctrl-C (or SIGTERM) right after the second epoch's state was written
    monkeypatch.setattr(trainer, "save_state", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "state")
    monkeypatch.setattr(trainer, "save_state", real_save)
    model, result = run(tmp_path / "state")
    assert same(model, reference) and result.epochs_run == 4


@pytest.mark.parametrize("change, part", [
    (dict(config=TrainConfig(epochs=4, patience=0, batch_size=16, lr=2e-3)), "config"),
    (dict(config=TrainConfig(epochs=4, patience=0, batch_size=16, seed=1)), "config"),
    (dict(data="labels"), "data"),
    (dict(data="ids"), "data"),
    (dict(data="teacher"), "teacher"),
    (dict(model_seed=5), "model"),
], ids=["lr", "seed", "labels", "token-ids", "teacher-logits", "initial-model"])
def test_a_state_from_a_different_run_is_not_resumed(change, part, tmp_path, capsys):
    run(tmp_path / "state")
    notes(capsys)
    ids, labels, logits = make_data()
    if change.get("data") == "labels":
        labels = 1 - labels
    elif change.get("data") == "ids":
        ids = [row[:-1] or row for row in ids]
    elif change.get("data") == "teacher":
        logits = logits + 0.5
    kwargs = {k: v for k, v in change.items() if k != "data"}
    model, result = run(tmp_path / "state", data=(ids, labels, logits), **kwargs)
    fresh, fresh_result = run(None, data=(ids, labels, logits), **kwargs)
    lines = notes(capsys)
    assert len(lines) == 1 and lines[0].startswith("note:") and f"different {part}" in lines[0] and "afresh" in lines[0], lines
    assert same(model, fresh) and result.history == fresh_result.history


def test_versions_are_part_of_the_fingerprint(tmp_path, capsys, monkeypatch):
    run(tmp_path / "state")
    monkeypatch.setattr(torch, "__version__", "0.0.1-other")
    run(tmp_path / "state")
    assert any("different versions" in line for line in notes(capsys))


def _corruptions(path: Path) -> dict:
    good = path.read_bytes()
    flipped = bytearray(good)
    flipped[len(good) - 7] ^= 0x10        # a bit in the tensor data: caught by the checksum, not by safetensors
    header_len = int.from_bytes(good[:8], "little")
    header_flip = bytearray(good)
    header_flip[8 + header_len // 2] ^= 0x01
    digit = re.search(rb'\\"epoch\\": (\d)', good)   # a digit of the JSON state (epoch 1 -> 0): valid JSON, caught by the checksum
    digit_flip = bytearray(good)
    digit_flip[digit.start(1)] ^= 0x01
    renamed = good.replace(b"__tensor__", b"__tensxr__", 1)   # a tensor reference broken, valid JSON still
    meta = json.loads(good[8: 8 + header_len])
    meta["__metadata__"]["state"] = "{not json"
    bad_meta = json.dumps(meta).encode()
    bad_meta += b" " * (-len(bad_meta) % 8)
    return {
        "empty": b"",
        "truncated-header": good[:5],
        "truncated-data": good[: len(good) // 2],
        "bit-flip-data": bytes(flipped),
        "bit-flip-header": bytes(header_flip),
        "random-bytes": bytes(range(256)) * 8,
        "pickle": pickle.dumps({"model": {}}),
        "malformed-metadata": len(bad_meta).to_bytes(8, "little") + bad_meta + good[8 + header_len:],
        "huge-header-length": (2**62).to_bytes(8, "little") + good[8:],
        "digit-in-state": bytes(digit_flip),
        "tensor-reference": renamed,
    }


CORRUPTIONS = ["empty", "truncated-header", "truncated-data", "bit-flip-data", "bit-flip-header", "random-bytes", "pickle",
               "malformed-metadata", "huge-header-length", "digit-in-state", "tensor-reference"]


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_corrupt_state_is_set_aside_with_a_note(how, tmp_path, capsys):
    folder = tmp_path / "state"
    run(folder, TrainConfig(epochs=4, patience=0, batch_size=16, max_steps=8))
    (folder / STATE_FILE).write_bytes(_corruptions(folder / STATE_FILE)[how])
    notes(capsys)
    model, result = run(folder, TrainConfig(epochs=4, patience=0, batch_size=16, max_steps=8))
    reference, _ = run(None, TrainConfig(epochs=4, patience=0, batch_size=16, max_steps=8))
    lines = notes(capsys)
    assert len(lines) == 1 and "unusable" in lines[0] and "afresh" in lines[0], lines
    assert same(model, reference)
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("state.corrupt-")]
    assert len(aside) == 1 and (aside[0] / STATE_FILE).is_file()   # kept for a look, out of the way


def test_a_state_that_is_a_folder_or_an_old_pickle_is_set_aside(tmp_path, capsys):
    folder = tmp_path / "state"
    (folder / STATE_FILE).mkdir(parents=True)
    torch.save({"x": torch.zeros(1)}, folder / "trainer_state.pt")    # the old pickle format: never loaded
    run(folder)
    lines = notes(capsys)
    assert len(lines) == 2 and all("unusable" in line for line in lines), lines
    assert "pickle" in lines[0]


def test_a_state_that_does_not_fit_the_model_is_set_aside(tmp_path, capsys):
    """A well-formed state whose fingerprint matches but whose tensors do not fit (hand-made): set aside, not fatal."""
    folder = tmp_path / "state"
    ids, labels, logits = make_data()
    torch.manual_seed(0)
    model = Tiny()
    from distill.trainer import run_fingerprint

    fingerprint = run_fingerprint(model, TrainSet(ids, labels, logits), ids[:40], labels[:40].tolist(), pad,
                                  TrainConfig(epochs=4, patience=0, batch_size=16))
    other = torch.nn.Linear(3, 3)
    optimizer = torch.optim.AdamW(other.parameters())
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    state = {"epoch": 1, "step": 8, "best_acc": 0.5, "best_epoch": 1, "history": [], "seconds": 1.0, "best_weights": None}
    folder.mkdir()
    save_state(folder / STATE_FILE, other, optimizer, schedule, torch.Generator(), state, fingerprint)
    notes(capsys)
    model, _ = run(folder)
    reference, _ = run(None)
    lines = notes(capsys)
    assert len(lines) == 1 and "does not fit" in lines[0], lines
    assert same(model, reference)


def test_a_corrupt_state_on_the_cli_is_a_note_not_an_error(tiny_bert_dir, movie_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EDGEDISTILL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "student"
    folder = out.with_name(f".{out.name}.trainer")
    folder.mkdir()
    (folder / STATE_FILE).write_bytes(b"\x00" * 100)
    code, stdout, stderr = cli(["distill", "--teacher", tiny_bert_dir, "--data", movie_csv(60, balanced=True), "--out", out,
                                "--hidden", "4", "--epochs", "1"], capsys, monkeypatch)
    _record(stderr.strip(), "note")
    assert code == 0, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("note:") and "unusable" in lines[0], stderr
    assert (out / "model.safetensors").is_file() and not folder.exists()


def test_nothing_is_ever_unpickled():
    """No torch.load without weights_only=True, no pickle.load(s), no np.load with allow_pickle=True in the packages."""
    offenders = []
    for path in sorted(p for pkg in ("edgecore", "edge_runtime", "export", "distill", "edgedistill") for p in (ROOT / pkg).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            kw = {k.arg: ast.unparse(k.value) for k in node.keywords}
            if name.endswith("torch.load") or name == "load" and "weights_only" in kw:
                if kw.get("weights_only") != "True":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {name} without weights_only=True")
            if re.fullmatch(r"(pickle|cPickle|dill|joblib)\.loads?", name) or name == "pickle.Unpickler":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
            if name.endswith("np.load") and kw.get("allow_pickle") not in (None, "False"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} np.load(allow_pickle={kw['allow_pickle']})")
    assert offenders == []
    trainer = (ROOT / "distill" / "trainer.py").read_text()
    assert "torch.load" not in trainer and "torch.save" not in trainer   # the resume state is safetensors + JSON
