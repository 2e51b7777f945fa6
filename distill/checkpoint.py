"""Student checkpoints: model.safetensors + student.json + the tokenizer files, in one folder.

Loading never unpickles: weights come from safetensors, the architecture from JSON checked by the
config dataclass.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from distill.students.cnn import CNNStudent, CNNStudentConfig
from distill.students.rnn import RNNStudent, RNNStudentConfig
from distill.students.static import StaticStudent, StaticStudentConfig
from distill.text import Encoder
from edgecore import CheckpointError, atomic_dir

FORMAT = "edgedistill-student"
KINDS = {"bilstm": (RNNStudentConfig, RNNStudent), "gru": (RNNStudentConfig, RNNStudent),
         "static": (StaticStudentConfig, StaticStudent), "cnn": (CNNStudentConfig, CNNStudent)}


def save_student(model: torch.nn.Module, out_dir: str | Path, encoder: Encoder, label_names: tuple[str, ...],
                 extra: dict | None = None, force: bool = False) -> Path:
    """Save a BiLSTM/GRU, static or CNN student to `out_dir`: safetensors weights, student.json (config, labels, max_len
    and `extra`) and the tokenizer, written atomically; `force` replaces an existing folder.

    >>> save_student(run.model, "runs/student", teacher.encoder, ds.label_names, force=True)  # doctest: +SKIP
    PosixPath('runs/student')
    """
    from safetensors.torch import save_file

    config = model.config
    with atomic_dir(out_dir, force=force) as tmp:
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
        meta = {"format": FORMAT, "version": 1, "kind": config.cell_kind, "config": config.to_dict(),   # kind: bilstm, gru, static, cnn
                "labels": list(label_names), "max_len": encoder.max_len, **(extra or {})}
        (tmp / "student.json").write_text(json.dumps(meta, indent=2))
        encoder.save(tmp)
    return Path(out_dir)


def is_student_checkpoint(path: str | Path) -> bool:
    """Whether `path` is a BiLSTM/GRU/static/CNN student folder written by `save_student` (it holds student.json).

    >>> is_student_checkpoint("runs/student")  # doctest: +SKIP
    True
    """
    return (Path(path) / "student.json").is_file()


def load_student(path: str | Path) -> tuple[torch.nn.Module, dict]:
    """Load a BiLSTM/GRU/static/CNN student: (model in eval mode, metadata) from a folder written by `save_student`.

    >>> model, meta = load_student("runs/student")  # doctest: +SKIP
    >>> meta["kind"], meta["labels"]                 # doctest: +SKIP
    ('bilstm', ['negative', 'positive'])
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; give a folder written by `edgedistill distill` or a Hugging Face model folder")
    try:
        meta = json.loads((path / "student.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} has no student.json; give a folder written by `edgedistill distill`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}/student.json is not valid JSON ({e}); re-save the student") from None
    kind = meta.get("kind")
    if meta.get("format") != FORMAT or kind not in KINDS:
        raise CheckpointError(f"{path}/student.json describes kind {kind!r}; supported student kinds: {', '.join(KINDS)}")
    config_cls, model_cls = KINDS[kind]
    fields = {k: v for k, v in meta["config"].items() if k != "kind"}
    try:
        model = model_cls(config_cls(**fields))
    except TypeError as e:
        raise CheckpointError(f"{path}/student.json has an unexpected config ({e})") from None
    try:
        state = load_file(str(path / "model.safetensors"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} has no model.safetensors") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}/model.safetensors is not a readable safetensors file ({e}); re-save the student") from None
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        detail = next((line.strip() for line in str(e).splitlines() if "size mismatch" in line), str(e).splitlines()[0])
        raise CheckpointError(f"{path}/model.safetensors does not match student.json ({detail[:160]})") from None
    if missing or unexpected:
        raise CheckpointError(f"{path}/model.safetensors does not match student.json (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.eval(), meta
