"""Atomic file and folder writes, content hashing, and the cache location.

Every output is written under a temporary name in the same folder and renamed into place, so a
crash or Ctrl-C never leaves a half-written file (or bundle folder) at the path a user asked for.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgecore.errors import OutputExistsError

_CHUNK = 1 << 20


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def cache_dir(*parts: str) -> Path:
    """The cache root (`$EDGEDISTILL_CACHE`, default `~/.cache/edgedistill`), joined with `parts` and created."""
    root = Path(os.environ.get("EDGEDISTILL_CACHE") or Path.home() / ".cache" / "edgedistill")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open a temp file beside `path`; on success fsync and rename it over `path`, on error delete it.

    >>> with atomic_write("out.json", "w") as f: f.write("{}")  # doctest: +SKIP
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp makes 0600; the result should read like any file open() makes
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temp folder beside `path`; on success it replaces `path` in one rename.

    The folder appears only when complete. An existing `path` is refused unless `force`, and even then
    is only removed once the new folder is complete.
    """
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists; pass --force (force=True) to replace it, or choose another path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())   # mkdtemp makes 0700; a bundle must be readable where it is copied
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(staged: Path, path: Path) -> None:
    """Move a complete folder into place; an existing one is removed only after the new one is there."""
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
        os.replace(staged, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staged, path)


def check_writable(path: str | os.PathLike) -> None:
    """Before long work: can an output be created at `path`? Probes the nearest existing parent by creating and
    deleting a temp file there (permission bits alone say nothing for root, nor for /proc or a read-only mount)."""
    parent = Path(path).absolute().parent
    while not parent.exists():
        parent = parent.parent
    try:
        fd, probe = tempfile.mkstemp(prefix=".edgedistill-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputExistsError(f"cannot write under {parent} ({e.strerror}); choose a writable folder for --out") from None


def prepare_output_dir(path: str | os.PathLike, force: bool = False) -> Path:
    """Check an output folder before long work starts: refuse an existing non-empty one without `force`."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"{path} exists and is a file; choose a folder path for --out")
    if path.exists() and any(path.iterdir()) and not force:
        raise OutputExistsError(f"{path} already exists and is not empty; pass --force to overwrite it, or choose another --out")
    path.mkdir(parents=True, exist_ok=True)
    if not os.access(path, os.W_OK):
        raise OutputExistsError(f"{path} is not writable; choose a folder you can write to for --out")
    return path
