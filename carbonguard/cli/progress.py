"""Progress bars on standard error for operations that can take more than a second.

Why stderr, and only for a terminal: standard output carries the result (often piped into `jq` or
a file) and a CI log has no use for a redrawn bar. `--progress` forces a bar where stderr is not a
terminal; there rich draws it once, when the work ends, as one line. rich loads only when a bar is
drawn, so the CLI's start-up stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Progress = Callable[[int, "int | None"], None]  # (done, total or None when unknown)


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except ValueError:  # closed
        return False


@contextmanager
def progress_bar(description: str, *, force: bool = False, unit: str = "records") -> Iterator[Progress | None]:
    """A `(done, total)` callback that moves a bar on stderr; None when no bar is wanted.

    Colour follows NO_COLOR (https://no-color.org) through rich's own handling of it.
    """
    if not (force or stderr_is_terminal()):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=sys.stderr, no_color=bool(os.environ.get("NO_COLOR")) or None, highlight=False)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                   TimeElapsedColumn(), console=console, transient=False)
    task = bar.add_task(description, total=None)

    def update(done: int, total: int | None) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield update
