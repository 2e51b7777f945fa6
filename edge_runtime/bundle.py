"""Read a bundle folder (or .zip): verify every file against manifest.json, tokenize like the app will."""
from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from edgecore import IntegrityError, UnsupportedError, sha256_file

FORMAT = "edgedistill-bundle"


@dataclass
class Bundle:
    """A bundle folder (or .zip) read back: its manifest, its model files, labels, and the tokenizer an app uses.

    >>> bundle = Bundle.open("runs/demo/bundle")                          # doctest: +SKIP
    >>> bundle.labels, bundle.model_path("int8", "onnx").name             # doctest: +SKIP
    (['negative', 'positive'], 'bilstm.int8.onnx')
    """
    root: Path
    manifest: dict

    @classmethod
    def open(cls, path: str | Path, verify: bool = True) -> Bundle:
        """Open a bundle folder or zip. With `verify`, every file's sha256 and size must match the manifest.

        >>> bundle = Bundle.open("runs/demo/bundle")  # doctest: +SKIP
        >>> bundle.encode(["a fine film"])["input_ids"].shape  # doctest: +SKIP
        (1, 5)
        """
        path = Path(path)
        if path.suffix == ".zip" and path.is_file():
            path = extract_zip(path)
        manifest_path = path / "manifest.json"
        if not manifest_path.is_file():
            raise UnsupportedError(f"{path} is not a bundle (no manifest.json); give a folder written by `edgedistill export` or the demo")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise IntegrityError(f"{manifest_path} is not valid JSON ({e}); re-export the bundle") from None
        if manifest.get("format") != FORMAT:
            raise UnsupportedError(f"{manifest_path} has format {manifest.get('format')!r}, expected {FORMAT!r}")
        bundle = cls(path, manifest)
        if verify:
            bundle.verify()
        return bundle

    def verify(self) -> None:
        """Raise IntegrityError naming the first file that is missing, resized or modified since export."""
        root = self.root.resolve()
        for entry in self.manifest.get("files", []):
            file = (root / entry["path"]).resolve()
            if root not in file.parents:
                raise IntegrityError(f"manifest entry {entry['path']!r} points outside the bundle; refusing it")
            if not file.is_file():
                raise IntegrityError(f"{entry['path']} is listed in manifest.json but missing from {self.root}; re-export the bundle")
            if file.stat().st_size != entry["size"] or sha256_file(file) != entry["sha256"]:
                raise IntegrityError(f"{entry['path']} in {self.root} was modified after export (sha256 mismatch); re-export the bundle")

    @property
    def labels(self) -> list[str]:
        return list(self.manifest["labels"])

    @property
    def max_len(self) -> int:
        return int(self.manifest["tokenizer"]["max_len"])

    def model_entry(self, precision: str | None = None, fmt: str | None = None) -> dict:
        models = self.manifest["models"]
        for entry in models:
            if (precision is None or entry["precision"] == precision) and (fmt is None or entry["format"] == fmt):
                if precision or fmt or entry.get("default"):
                    return entry
        if precision is None and fmt is None and models:
            return models[0]
        have = ", ".join(f"{m['format']}/{m['precision']}" for m in models)
        raise UnsupportedError(f"bundle {self.root} has no {fmt or 'any format'}/{precision or 'any precision'} model; it has {have}")

    def model_path(self, precision: str | None = None, fmt: str | None = None) -> Path:
        return self.root / self.model_entry(precision, fmt)["file"]

    def tokenizer(self):
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self.root / "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(self.max_len)
        return tok

    def encode(self, texts: list[str], pad_to: int | None = None, tokenizer=None) -> dict[str, np.ndarray]:
        """int64 input_ids / attention_mask (B, T), right-padded to the longest text or to `pad_to`."""
        tok = tokenizer or self.tokenizer()
        return pad_ids([e.ids for e in tok.encode_batch(list(texts))], int(self.manifest["tokenizer"].get("pad_id", 0)), pad_to)


def pad_ids(ids: list[list[int]], pad_id: int = 0, pad_to: int | None = None) -> dict[str, np.ndarray]:
    width = pad_to or max(len(x) for x in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for i, row in enumerate(ids):
        row = row[:width]
        input_ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def extract_zip(path: Path) -> Path:
    """Extract a bundle zip into a fresh temp folder, refusing any member that would land outside it."""
    out = Path(tempfile.mkdtemp(prefix="edgedistill-bundle-"))
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            name = PurePosixPath(info.filename)
            if name.is_absolute() or ".." in name.parts or "\\" in info.filename:
                raise IntegrityError(f"{path} holds {info.filename!r}, a path that escapes its folder; refusing the archive")
        zf.extractall(out)
    folders = [p for p in out.iterdir() if p.is_dir()]
    return folders[0] if len(folders) == 1 and not (out / "manifest.json").exists() else out
