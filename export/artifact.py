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


# What the bucketed exporters (TFLite, ExecuTorch) take: token ids and masks, token types, or a siamese pair's two sides
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids", "pair_input_ids", "pair_attention_mask")
MASKS = ("attention_mask", "pair_attention_mask")


def check_bucketed_inputs(path: Path, force: bool, sample: dict, validate_with, buckets: tuple[int, ...]) -> tuple[str, ...]:
    """The input names of `sample` in INPUT_NAMES order, after the checks every bucketed exporter makes before any
    work: `path` is new (or `force`), the inputs are ones it knows, and no sentence it validates on is longer than
    the largest bucket."""
    from edgecore import ConfigError, OutputExistsError

    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists; pass force=True (--force) to replace it")
    names = tuple(n for n in INPUT_NAMES if n in sample)
    unknown = set(sample) - set(INPUT_NAMES)
    if "input_ids" not in names or "attention_mask" not in names or unknown:
        raise ConfigError(f"sample must hold input_ids and attention_mask (+ token_type_ids, or the siamese pair_input_ids, "
                          f"pair_attention_mask); got {sorted(sample)}")
    feeds = [sample, *(validate_with or [])]
    longest = max(int(f[m].sum(1).max()) for f in feeds for m in MASKS if m in f)
    if longest > buckets[-1]:
        raise ConfigError(f"a validation sentence has {longest} tokens but the largest bucket is {buckets[-1]}; "
                          f"add a bucket >= {longest} or truncate (Encoder max_len)")
    return names


def length_buckets(max_len: int) -> tuple[int, ...]:
    """The sequence lengths a bucketed file (TFLite signatures, ExecuTorch methods, Core ML enumerated shapes) is
    built for when none are given: 16, 32, 64, ... below the model's max_len, then max_len itself, so the longest
    input the Encoder can produce always has a bucket and none is wasted past it.

    >>> length_buckets(64), length_buckets(100), length_buckets(512), length_buckets(12)
    ((16, 32, 64), (16, 32, 64, 100), (16, 32, 64, 128, 256, 512), (12,))
    """
    return tuple(sorted({16 << i for i in range(16) if (16 << i) < max_len} | {int(max_len)}))


def check_buckets(value) -> tuple[int, ...]:
    """Sequence-length buckets as a sorted tuple: distinct whole numbers in 2..4096; a ConfigError naming the fault."""
    from edgecore import ConfigError

    buckets = tuple(value) if not isinstance(value, (int, str)) else ()
    if not buckets or not all(isinstance(b, int) and not isinstance(b, bool) and 2 <= b <= 4096 for b in buckets):
        raise ConfigError(f"buckets must be sequence lengths in 2..4096, e.g. (16, 32, 64, 128); got {value!r}")
    if len(set(buckets)) != len(buckets):
        raise ConfigError(f"buckets repeat a length: {value!r}; list each length once, e.g. (16, 32, 64, 128)")
    return tuple(sorted(buckets))
