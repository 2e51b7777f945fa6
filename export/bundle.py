"""The phone bundle: model file(s) + tokenizer + labels + manifest.json, in one folder (and optional .zip).

manifest.json lists every file with its sha256 and size, the model's IO spec, the tokenizer
settings, the labels, the parity figures measured at export and the versions of the tools used.
`edge_runtime` and `android_demo` read only this folder. The folder appears only when complete.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgecore import ConfigError, OutputExistsError, atomic_dir, atomic_write, sha256_file
from export.artifact import Artifact, tool_versions

FORMAT = "edgedistill-bundle"
VERSION = 1
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
MODEL_SUFFIX = {"onnx": ".onnx", "tflite": ".tflite", "coreml": ".mlpackage", "executorch": ".pte"}


@dataclass(frozen=True)
class BundleConfig:
    """What a bundle is called and says: name, class labels in logit order, tokenizer settings, description, and a .zip too.

    >>> BundleConfig("bilstm", ("negative", "positive"), asdict(encoder.settings), zip=True)  # doctest: +SKIP
    """
    name: str = "model"
    labels: tuple[str, ...] = ()
    tokenizer: dict = field(default_factory=dict)  # max_len, lowercase, pad_id, ... (distill.text.TokenizerSettings)
    description: str = ""
    zip: bool = False
    task: dict = field(default_factory=dict)   # e.g. {"inputs": ["text", "text_pair"]}: a sentence-pair classifier

    def __post_init__(self) -> None:
        if len(self.labels) < 2:
            raise ConfigError(f"a bundle needs at least two labels (got {list(self.labels)})")
        if "max_len" not in self.tokenizer:
            raise ConfigError("tokenizer settings need max_len (and lowercase, pad_id); pass Encoder.settings as a dict")


def write_bundle(out_dir: str | Path, models: list[Artifact], tokenizer_dir: str | Path, config: BundleConfig,
                 parity: dict | None = None, force: bool = False) -> Path:
    """Write a bundle folder at `out_dir`. The first model is the default one an app loads.

    >>> write_bundle("runs/demo/bundle", [int8], teacher_dir, BundleConfig("bilstm", ("negative", "positive"),
    ...              asdict(encoder.settings)))  # doctest: +SKIP
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not force:
        raise OutputExistsError(f"{out_dir} already exists; pass --force to replace it, or choose another --out")
    if not models:
        raise ConfigError("a bundle needs at least one model artifact")
    tokenizer_dir = Path(tokenizer_dir)
    if not (tokenizer_dir / "tokenizer.json").is_file():
        raise ConfigError(f"{tokenizer_dir} lacks tokenizer.json; a bundle needs the model's tokenizer (tokenizer.save_pretrained writes it)")
    zip_path = out_dir.with_suffix(".zip")
    if config.zip and zip_path.exists() and not force:
        raise OutputExistsError(f"{zip_path} already exists; pass --force to replace it")
    with atomic_dir(out_dir, force=force) as tmp:
        entries = []
        for i, art in enumerate(models):
            suffix = _text_suffix(art) + MODEL_SUFFIX[art.format]   # a string-input / MediaPipe file beside the ids-input one
            name = f"{config.name}.{art.precision}{suffix}" if len(models) > 1 else f"model{suffix}"
            src = Path(art.path)
            (shutil.copytree if src.is_dir() else shutil.copyfile)(src, tmp / name)
            entries.append({"file": name, "format": art.format, "precision": art.precision, "sha256": art.sha256,
                            "inputs": [asdict(t) for t in art.inputs], "outputs": [asdict(t) for t in art.outputs],
                            "validation": art.validation, "metadata": art.metadata, "default": i == 0,
                            **({"input": "text", "runtime": art.metadata.get("edgedistill.runtime", "onnxruntime-extensions")}
                               if art.metadata.get("edgedistill.input") == "text" else {})})
        for name in TOKENIZER_FILES:
            if (tokenizer_dir / name).is_file():
                shutil.copyfile(tokenizer_dir / name, tmp / name)
        _runtime_tokenizer_json(tokenizer_dir, tmp / "tokenizer.json", int(config.tokenizer["max_len"]),
                                str(config.tokenizer.get("truncation_side", "right")))
        if not (tmp / "vocab.txt").is_file():
            _derive_vocab_txt(tmp / "tokenizer.json", tmp / "vocab.txt")
        (tmp / "labels.txt").write_text("\n".join(config.labels) + "\n", encoding="utf-8")
        manifest = {
            "format": FORMAT, "version": VERSION, "name": config.name, "description": config.description,
            "created_unix": int(time.time()), "labels": list(config.labels), "tokenizer": dict(config.tokenizer),
            "task": {"inputs": ["text"], **config.task},
            "models": entries, "parity": parity or {}, "tools": tool_versions("torch", "onnx", "onnxruntime", "tokenizers"),
            "files": file_list(tmp),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    if config.zip:
        with atomic_write(zip_path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
            for file in sorted(p for p in out_dir.rglob("*") if p.is_file()):
                zf.write(file, f"{out_dir.name}/{file.relative_to(out_dir).as_posix()}")
    return out_dir


def _text_suffix(art: Artifact) -> str:
    """".text" for a string-input ONNX file (export.text_input), ".mediapipe" for a MediaPipe Tasks .tflite (export.mediapipe)."""
    if art.metadata.get("edgedistill.input") != "text":
        return ""
    return ".mediapipe" if art.metadata.get("edgedistill.runtime") == "mediapipe-tasks" else ".text"


def _derive_vocab_txt(tokenizer_json: Path, out: Path) -> None:
    """tokenizer.json is the source of truth; a WordPiece vocabulary is also written as vocab.txt (one token per
    line, the line number its id) for tokenizers that read that file (the Java core's, MediaPipe's, the
    onnxruntime-extensions BertTokenizer). Other tokenizer models get no vocab.txt."""
    model = json.loads(tokenizer_json.read_text(encoding="utf-8")).get("model") or {}
    vocab = model.get("vocab")
    if model.get("type") != "WordPiece" or not isinstance(vocab, dict):
        return
    by_id = sorted(vocab.items(), key=lambda kv: kv[1])
    if [i for _, i in by_id] != list(range(len(by_id))):
        raise ConfigError(f"{tokenizer_json}'s WordPiece vocabulary has gaps or repeated ids; save the tokenizer again")
    out.write_text("".join(f"{token}\n" for token, _ in by_id), encoding="utf-8")


def _runtime_tokenizer_json(tokenizer_dir: Path, path: Path, max_len: int, side: str = "right") -> None:
    """The bundle's tokenizer.json is the pipeline transformers runs for the checkpoint (edgecore.tokenizer: e.g.
    AlbertTokenizer's lowercasing normaliser, which its tokenizer.json on disk may lack), truncating to max_len and
    not padding, as the manifest says.

    A base model's file often carries its own settings (all-MiniLM-L6-v2: pad and truncate to 128), and
    an app that loads tokenizer.json as it is would then feed 128 ids to a model checked at 64.
    """
    from edgecore.tokenizer import load_tokenizer

    spec = load_tokenizer(tokenizer_dir).spec
    spec["truncation"] = {"direction": "Left" if side == "left" else "Right", "max_length": max_len, "strategy": "LongestFirst", "stride": 0}
    spec["padding"] = None
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")


def file_list(root: Path) -> list[dict]:
    """Every file under `root` (a .mlpackage counts file by file) with sha256 and size, manifest.json excepted."""
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "manifest.json"):
        files.append({"path": path.relative_to(root).as_posix(), "sha256": sha256_file(path), "size": os.path.getsize(path)})
    return files
