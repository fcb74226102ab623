"""`-o FORMAT[=PATH]`: the one way every command prints a result.

Repeatable, so one run can write several formats to several files (`-o text -o json=out.json
-o markdown=comment.md`); `-` or no PATH means standard output, and at most one target may use it.
`--json` is shorthand for `-o json`; `--format FORMAT` is kept as an alias of `-o FORMAT`. Targets are
checked before the command does any work, so a typo never costs a recorded run its output.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from carbonguard.errors import InputError, Problem
from carbonguard.formats.registry import formats_for

if TYPE_CHECKING:
    from carbonguard.formats.registry import RenderOptions, Result

STDOUT = "-"


@dataclass(frozen=True)
class Target:
    format: str
    path: str = STDOUT

    @property
    def to_stdout(self) -> bool:
        return self.path == STDOUT


def add_output_arguments(parser: argparse.ArgumentParser, kind: str, *, default: str | None = "text") -> None:
    """Add `-o/--output`, `--json` and `--format` for a command whose result is of `kind`."""
    names = formats_for(kind)
    group = parser.add_argument_group("output")
    group.add_argument("-o", "--output", action="append", dest="outputs", default=[], metavar="FORMAT[=PATH]",
                       help=f"write the result as FORMAT ({', '.join(names)}) to PATH, or to standard output "
                       f"when PATH is '-' or absent; repeatable" + (f" (default: {default})" if default else ""))
    exclusive = group.add_mutually_exclusive_group()
    exclusive.add_argument("--json", action="store_true", help="same as -o json")
    exclusive.add_argument("--format", choices=names, default=None, metavar="FORMAT",
                           help=f"same as -o FORMAT ({', '.join(names)})")
    parser.set_defaults(output_kind=kind, output_default=default)


def _parse(value: str, names: tuple[str, ...]) -> Target:
    name, sep, path = value.partition("=")
    if name not in names:
        raise InputError(Problem(f"unknown format {name!r}; choose from {', '.join(names)}",
                                 source="command line", field_path="-o"))
    from carbonguard.formats.registry import FORMATS

    missing = FORMATS[name].missing()
    if missing:  # before any work is done, so a recorded run never loses its other outputs
        raise InputError(Problem(missing, source="command line", field_path="-o"))
    if sep and not path:
        raise InputError(Problem(f"{value!r} names no file after '='; write {name}=PATH or {name}",
                                 source="command line", field_path="-o"))
    if path and path != STDOUT:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise InputError(Problem(f"cannot write {path!r}: directory {parent!r} does not exist",
                                     source="command line", field_path="-o"))
        if os.path.isdir(path):
            raise InputError(Problem(f"cannot write {path!r}: it is a directory", source="command line",
                                     field_path="-o"))
    return Target(name, path or STDOUT)


def output_targets(args: argparse.Namespace, *, default_path: str | None = None) -> list[Target]:
    """The targets the user asked for, checked; the command's default when none was asked for.

    `default_path` keeps a command's older `--out FILE` flag working for its `--format`/default target.
    """
    names = formats_for(args.output_kind)
    targets = [_parse(v, names) for v in args.outputs]
    if args.json:
        targets.append(Target("json"))
    elif args.format:
        targets.append(Target(args.format))
    elif not targets and args.output_default:
        targets.append(Target(args.output_default))
    if default_path is not None:
        targets = [Target(t.format, default_path) if t.to_stdout else t for t in targets]
    if sum(t.to_stdout for t in targets) > 1:
        raise InputError(Problem("only one output may go to standard output; give the others a PATH "
                                 "(e.g. -o json=result.json)", source="command line", field_path="-o"))
    return targets


def wants_colour(stream: TextIO) -> bool:
    """Colour and tables only for a terminal, and never under NO_COLOR (https://no-color.org: set and
    not empty). Pipes, files and CI logs get the plain renderer's bytes."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def write_lines(lines: list[str], stream: TextIO) -> None:
    """Lines of plain text as a command prints them while it works: verdict words coloured at a terminal."""
    if wants_colour(stream):
        from carbonguard.formats.terminal import write_text

        write_text("".join(line + "\n" for line in lines), stream)
    else:
        stream.write("".join(line + "\n" for line in lines))
    stream.flush()


def emit(targets: list[Target], result: Result, options: RenderOptions | None = None, *,
         stream: TextIO | None = None) -> None:
    """Render `result` once per target and write it; files are written whole, UTF-8.

    `stream` replaces standard output for the target that goes there (a failed `audit verify`
    prints its text on standard error, as it always has).
    """
    from carbonguard.formats.registry import render

    for target in targets:
        if target.to_stdout:
            out = stream or sys.stdout
            if target.format == "text" and wants_colour(out):
                from carbonguard.formats.terminal import write  # rich loads only for a person at a terminal

                write(result, out, options)
            else:
                out.write(render(target.format, result, options))
            out.flush()
            continue
        text = render(target.format, result, options)
        with open(target.path, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
