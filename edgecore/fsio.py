"""Atomic file and folder writes, output and cache locks, content hashing, and the cache location.

Every output is written under a temporary name in the same folder and renamed into place, so a
crash or Ctrl-C never leaves a half-written file (or bundle folder) at the path a user asked for.

Two processes never write the same output or cache entry at once: each holds an exclusive `flock` on a lock
file beside the target (`.NAME.lock`, holding the writer's pid, removed when released). A second writer to an
output folder fails at once naming the first one's pid (`BusyError`); a second writer to a cache entry waits for
the first and then finds the entry built (`cache_lock`). Locks are per process and re-entrant within it; the
kernel drops them when a process dies, so a lock file left by `kill -9` is harmless.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edgecore.errors import BusyError, OutputExistsError

try:
    import fcntl
except ImportError:   # Windows: no flock; locks are no-ops there
    fcntl = None

_CHUNK = 1 << 20


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def cache_root() -> Path:
    """The cache root: `$EDGEDISTILL_CACHE`, default `~/.cache/edgedistill` (not created)."""
    return Path(os.environ.get("EDGEDISTILL_CACHE") or Path.home() / ".cache" / "edgedistill")


def cache_dir(*parts: str) -> Path:
    """The cache root (`$EDGEDISTILL_CACHE`, default `~/.cache/edgedistill`), joined with `parts` and created."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _in_cache(path: Path) -> bool:
    try:
        return Path(path).absolute().resolve().is_relative_to(cache_root().absolute().resolve())
    except OSError:
        return False


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# Locks

@dataclass
class _Held:
    fd: int
    lockfile: Path
    created: list[Path] = field(default_factory=list)   # parent folders made for the lock, removed again if left empty
    count: int = 0


_HELD: dict[Path, _Held] = {}
_REGISTRY = threading.Lock()


def lock_file(target: str | os.PathLike) -> Path:
    """The lock file of an output or cache entry: `.NAME.lock` beside it."""
    target = Path(target).absolute()
    return target.with_name(f".{target.name}.lock")


def _distributed_follower() -> bool:
    """Under torchrun every rank runs the same command; rank 0 alone writes outputs, so it alone locks them."""
    return os.environ.get("RANK", "0") not in ("", "0")


def _make_parents(folder: Path) -> list[Path]:
    """mkdir -p that returns the folders it created (outermost first)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    created = []
    for d in reversed(missing):
        try:
            d.mkdir()
            created.append(d)
        except FileExistsError:
            pass
    return created


def _open_locked(lockfile: Path, wait: bool) -> int | None:
    """An fd holding an exclusive flock on `lockfile`, or None when another process holds it and not `wait`."""
    while True:
        fd = os.open(lockfile, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666 & ~_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        # the previous holder unlinks the file as it releases: make sure the file we locked is still the one at the path
        try:
            same = os.stat(lockfile).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _holder_pid(lockfile: Path) -> str:
    for _ in range(20):   # the holder writes its pid right after it locks: give it a moment
        with contextlib.suppress(OSError):
            text = lockfile.read_text().strip()
            if text:
                return text.split()[0]
        time.sleep(0.01)
    return "unknown"


def _acquire(target: Path, wait: bool, what: str) -> Path | None:
    """Take (or re-enter) the lock of `target`; returns the lock's key, None where locks do not apply."""
    if fcntl is None:
        return None
    lockfile = lock_file(target)
    with _REGISTRY:
        held = _HELD.get(lockfile)
        if held is not None:
            held.count += 1
            return lockfile
    created = _make_parents(lockfile.parent)
    try:
        fd = _open_locked(lockfile, wait)
    except BaseException:
        _remove_empty(created)
        raise
    if fd is None:
        pid = _holder_pid(lockfile)
        _remove_empty(created)
        raise BusyError(f"{target} is being written by another edgedistill process (pid {pid}); wait for it to finish, "
                        f"or choose another {what}")
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    with _REGISTRY:
        _HELD[lockfile] = _Held(fd, lockfile, created, 1)
    return lockfile


def _remove_empty(folders: list[Path]) -> None:
    for d in reversed(folders):
        try:
            d.rmdir()
        except OSError:
            break


def _release(key: Path | None, everything: bool = False) -> None:
    if key is None:
        return
    with _REGISTRY:
        held = _HELD.get(key)
        if held is None:
            return
        held.count = 0 if everything else held.count - 1
        if held.count > 0:
            return
        del _HELD[key]
    with contextlib.suppress(OSError):
        os.unlink(held.lockfile)   # while still locked: a waiter re-checks the inode and locks a fresh file
    os.close(held.fd)
    _remove_empty(held.created)


def hold_output(path: str | os.PathLike) -> None:
    """Lock an output folder or file for this process until it is written (or `release_outputs`).

    Raises BusyError, naming the other writer's pid, when another process holds it."""
    if not _distributed_follower():
        _acquire(Path(path), wait=False, what="--out")


def release_output(path: str | os.PathLike) -> None:
    """Drop this process's lock on an output, however often it was taken."""
    _release(lock_file(path), everything=True)


def release_outputs() -> None:
    """Drop every lock this process holds (the CLI does this as it exits; the kernel does it when a process dies)."""
    for key in list(_HELD):
        _release(key, everything=True)


def held_locks() -> list[Path]:
    """The lock files this process holds (for tests and diagnostics)."""
    return sorted(_HELD)


@contextlib.contextmanager
def cache_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold the lock of a cache entry, waiting while another process holds it: check for the entry inside, and build it
    only if it is still missing, so a second process reuses what the first built.

    >>> with cache_lock(target):                                   # doctest: +SKIP
    ...     if not (target / "metrics.json").is_file(): build(target)
    """
    key = _acquire(Path(path), wait=True, what="cache entry")
    try:
        yield Path(path)
    finally:
        _release(key)


# ---------------------------------------------------------------------------------------------
# Atomic writes

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
def atomic_dir(path: str | os.PathLike, force: bool = False, wait: bool | None = None) -> Iterator[Path]:
    """Yield a temp folder beside `path`; on success it replaces `path` in one rename.

    The folder appears only when complete. An existing `path` is refused unless `force`, and even then
    is only removed once the new folder is complete. The target is locked while it is written: another process
    writing it makes this fail at once (BusyError), or, with `wait` (the default for cache entries), wait for it.
    """
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists; pass --force (force=True) to replace it, or choose another path")
    path.parent.mkdir(parents=True, exist_ok=True)
    wait = _in_cache(path) if wait is None else wait
    key = None if (_distributed_follower() and not wait) else _acquire(path, wait=wait, what="path")
    try:
        if path.exists() and not force:   # written by another process while we waited
            raise OutputExistsError(f"{path} already exists; pass --force (force=True) to replace it, or choose another path")
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            yield tmp
            os.chmod(tmp, 0o777 & ~_umask())   # mkdtemp makes 0700; a bundle must be readable where it is copied
            replace_dir(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    except BaseException:
        _release(key)
        raise
    _release(key)
    if not wait:
        release_output(path)   # the output is complete: another process may write it now


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where the system or filesystem cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_dir(staged: Path, path: Path) -> None:
    """Move a complete folder into place; an existing one is removed only after the new one is there.

    The swap is one atomic step where the system allows it, so a reader never finds `path` missing."""
    if path.is_dir() and not path.is_symlink() and _exchange(staged, path):
        shutil.rmtree(staged, ignore_errors=True)   # `staged` now holds the old folder
    elif path.exists() or path.is_symlink():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
        try:
            os.replace(staged, path)
        except BaseException:
            os.replace(old, path)   # put the old folder back rather than leave nothing at `path`
            raise
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)   # a file (or link) that stood at `path`
    else:
        os.replace(staged, path)


def check_writable(path: str | os.PathLike) -> None:
    """Before long work: can an output be created at `path`? Probes the nearest existing parent by creating and
    deleting a temp file there (permission bits alone say nothing for root, nor for /proc or a read-only mount).
    Then locks the output for this process (BusyError when another process is writing it)."""
    parent = Path(path).absolute().parent
    while not parent.exists():
        parent = parent.parent
    try:
        fd, probe = tempfile.mkstemp(prefix=".edgedistill-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputExistsError(f"cannot write under {parent} ({e.strerror}); choose a writable folder for --out") from None
    try:
        hold_output(path)
    except OSError as e:
        raise OutputExistsError(f"cannot write under {Path(path).absolute().parent} ({e.strerror}); choose a writable folder for --out") from None


def prepare_output_dir(path: str | os.PathLike, force: bool = False) -> Path:
    """Check an output folder before long work starts: refuse an existing non-empty one without `force`, and lock it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"{path} exists and is a file; choose a folder path for --out")
    if path.exists() and any(path.iterdir()) and not force:
        raise OutputExistsError(f"{path} already exists and is not empty; pass --force to overwrite it, or choose another --out")
    key = None if _distributed_follower() else _acquire(path, wait=False, what="--out")
    try:
        if path.exists() and any(path.iterdir()) and not force:   # filled by another process before we locked it
            raise OutputExistsError(f"{path} already exists and is not empty; pass --force to overwrite it, or choose another --out")
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK):
            raise OutputExistsError(f"{path} is not writable; choose a folder you can write to for --out")
    except BaseException:
        _release(key)
        raise
    return path
