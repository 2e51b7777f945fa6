"""SIGTERM and SIGHUP handled like Ctrl-C.

`terminate_like_interrupt()` makes those signals raise `Terminated`, a KeyboardInterrupt, in the main thread, so
every cleanup written for Ctrl-C runs for them too: atomic_write / atomic_dir remove their temporary files and
folders, `tempfile` work folders are deleted, output locks are dropped, and a training run's resume state is kept
(it is only ever replaced whole, after an epoch). The CLI then exits 128 + the signal's number (143 for SIGTERM,
129 for SIGHUP) with a one-line note. A signal the process was started with ignored (`nohup`) stays ignored.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

HANDLED = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))

_received: list[int] = []


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM or SIGHUP arrives (under `terminate_like_interrupt`)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


def received() -> int | None:
    """The first SIGTERM / SIGHUP received under `terminate_like_interrupt`, or None."""
    return _received[0] if _received else None


def exit_code(signum: int) -> int:
    """The shell's convention: 128 + the signal number (143 for SIGTERM, 129 for SIGHUP)."""
    return 128 + int(signum)


def name(signum: int) -> str:
    return signal.Signals(signum).name


def _raise(signum, frame) -> None:
    if _received:
        return   # already stopping: a second SIGTERM / SIGHUP must not cut the cleanup short (SIGKILL still ends it)
    _received.append(signum)
    raise Terminated(signum)


@contextlib.contextmanager
def terminate_like_interrupt(signals: tuple[int, ...] = HANDLED) -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `Terminated`; the previous handlers come back after it."""
    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        yield   # signal handlers can only be set from the main thread
        return
    previous = {}
    for signum in signals:
        current = signal.getsignal(signum)
        if current is signal.SIG_IGN:
            continue   # started under nohup (or told to ignore it): keep ignoring
        previous[signum] = signal.signal(signum, _raise)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
