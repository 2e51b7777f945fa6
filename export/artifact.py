"""The one record every exporter returns."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgecore import formats, sha256_file

FORMATS = formats.FORMATS   # what Artifact.format may be: the exported formats and the PyTorch source


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of an exported file: name, dtype and shape (a str names a dynamic axis).

    >>> to_onnx(student, sample, "student.onnx").inputs[0]               # doctest: +SKIP
    TensorSpec(name='input_ids', dtype='int64', shape=('batch', 'sequence'))
    """
    name: str
    dtype: str                       # int64 | int32 | float32 | float16
    shape: tuple[int | str, ...]     # str for a dynamic axis ("batch", "sequence")


@dataclass(frozen=True)
class Artifact:
    """What every exporter returns: the file, its format, precision, sha256, size, IO, tools, metadata and validation numbers.

    >>> art = to_onnx(student, encoder.encode(["a fine film"]), "student.onnx")  # doctest: +SKIP
    >>> art.format, art.precision, art.to_dict()["validation"]["max_abs_logit_diff"] < 1e-3  # doctest: +SKIP
    ('onnx', 'fp32', True)
    """
    path: str
    format: str
    precision: str
    sha256: str
    size_bytes: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    tools: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    validation: dict = field(default_factory=dict)   # numbers measured against the source at export

    @classmethod
    def for_file(cls, path: str | Path, fmt: str, precision: str, inputs, outputs, tools=None, metadata=None, validation=None) -> Artifact:
        path = Path(path)
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size
        digest = _dir_sha256(path) if path.is_dir() else sha256_file(path)
        return cls(str(path), fmt, precision, digest, size, tuple(inputs), tuple(outputs), dict(tools or {}), dict(metadata or {}), dict(validation or {}))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["inputs"] = [asdict(t) for t in self.inputs]
        d["outputs"] = [asdict(t) for t in self.outputs]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _dir_sha256(path: Path) -> str:
    """A folder (e.g. .mlpackage) hashes as the sha256 of its sorted (relative path, file sha256) lines."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(path).as_posix()}\t{sha256_file(f)}\n".encode())
    return h.hexdigest()


def tool_versions(*names: str) -> dict[str, str]:
    """Installed versions of edgedistill and the packages named (those not installed are left out).

    >>> tool_versions("torch", "onnx")                                    # doctest: +SKIP
    {'edgedistill': '0.1.0', 'torch': '2.13.0', 'onnx': '1.19.0'}
    """
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("edgedistill", *names):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out
