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
from contextlib import ExitStack, contextmanager

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


class RetryProgress:
    """`on_retry` for the intensity providers: from a provider's first retry, a bar of its attempts.

    Retries back off exponentially (up to a minute a wait), so a person at a terminal sees which
    provider is being waited for rather than a silent pause. Use as a context manager; nothing is
    drawn where stderr is not a terminal (unless `force`), nor when no call is retried.
    """

    def __init__(self, *, force: bool = False) -> None:
        self.force = force
        self._stack = ExitStack()
        self._bars: dict[str, Progress | None] = {}

    def __call__(self, provider: str, attempts_made: int, attempts_allowed: int, wait_s: float) -> None:
        if provider not in self._bars:
            self._bars[provider] = self._stack.enter_context(
                progress_bar(f"{provider}: retrying", force=self.force, unit="attempts"))
        bar = self._bars[provider]
        if bar is not None:
            bar(attempts_made, attempts_allowed)

    def __enter__(self) -> RetryProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
