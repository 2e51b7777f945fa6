"""One progress-bar helper for long work (training, caching logits, benchmarks).

Set EDGEDISTILL_PROGRESS=0 to silence the bars (tests do); the work itself is unchanged.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


class _Bar:
    def __init__(self, progress, task) -> None:
        self._progress, self._task = progress, task

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def describe(self, text: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=text)


@contextlib.contextmanager
def bar(total: int | None, description: str) -> Iterator[_Bar]:
    if os.environ.get("EDGEDISTILL_PROGRESS", "1") == "0":
        yield _Bar(None, None)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as progress:
        yield _Bar(progress, progress.add_task(description, total=total))
