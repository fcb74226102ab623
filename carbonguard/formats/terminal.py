"""The text format as a terminal shows it: outcome words in colour and tables drawn by `rich`.

Only for a person at a terminal: `cli.output.emit` loads this module when standard output is a
TTY and `NO_COLOR` is unset, and writes the plain `text` renderer's bytes everywhere else, so pipes,
files and CI logs never see an escape sequence. Every user string was escaped by `text` already and
reaches rich as `Text` (never markup), so a stage called `[red]x` prints as typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from carbonguard.formats import text as plain
from carbonguard.formats.registry import RenderOptions

if TYPE_CHECKING:
    from carbonguard.reporting.run import RunReport
    from carbonguard.reporting.runs import RunList

# Verdict words of every command, as the plain renderers print them.
STYLES = (
    (re.compile(r"\b(ALLOW|allow|ok|intact|active)\b"), "bold green"),
    (re.compile(r"\b(WARN|warn|warning|not gated|retired)\b"), "bold yellow"),
    (re.compile(r"\b(RESCHEDULE|reschedule)\b"), "bold cyan"),
    (re.compile(r"\b(BLOCK|block|blocked|error|edited|deleted|reordered|bad signature|truncated|untrusted key|"
                r"unsigned|FAILED VERIFICATION)\b"), "bold red"),
)


def coloured(line: str) -> Text:
    """One line of plain text with its verdict words styled; the characters are unchanged."""
    out = Text(line)
    for pattern, style in STYLES:
        out.highlight_regex(pattern, style)
    return out


def _lines(lines: Iterable[str]) -> list[RenderableType]:
    return [coloured(line) for line in lines]


def _table(header: Iterable[str], rows: Iterable[Iterable[str]], right: set[int]) -> Table:
    table = Table(header_style="bold", box=None, pad_edge=False, show_edge=False)
    for i, name in enumerate(header):
        table.add_column(name, justify="right" if i in right else "left", no_wrap=i in right)
    for row in rows:
        table.add_row(*(coloured(cell) for cell in row))
    return table


def run(result: RunReport) -> RenderableType:
    parts: list[RenderableType] = _lines(plain.run_head_lines(result))
    rows = plain.run_stage_rows(result)
    if rows:
        parts.append(_table(("stage", "energy (facility)", "CO2e (location-based)", "records"), rows, {1, 2, 3}))
    parts += _lines(plain.run_tail_lines(result))
    return Group(*parts)


def runs(result: RunList) -> RenderableType:
    table = _table(plain.RUNS_HEADER, plain.runs_rows(result), {3, 4, 5})
    return Group(table, Text(plain.runs_footer(result), style="dim"))


TERMINAL_RENDERERS: dict[str, Callable[[Any], RenderableType]] = {"run": run, "runs": runs}


def write(result: Any, stream: TextIO, options: RenderOptions | None = None) -> None:
    """Print `result` to the terminal `stream`: a table where the kind has one, else coloured text."""
    console = Console(file=stream, markup=False, emoji=False, highlight=False, soft_wrap=False)
    renderer = TERMINAL_RENDERERS.get(result.kind)
    if renderer is not None:
        console.print(renderer(result))
    else:
        write_text(plain.RENDERERS[result.kind](result, options or RenderOptions()), stream)


def write_text(text: str, stream: TextIO) -> None:
    """Plain text (already escaped by its renderer) with its verdict words coloured."""
    console = Console(file=stream, markup=False, emoji=False, highlight=False, soft_wrap=True)
    console.print(Group(*_lines(text.splitlines())))
