"""Entry point: builds the argument parser from one module per command and maps errors to exit codes.

Exit codes: 0 pass, 1 blocked (or a check failed), 2 usage or input error. Command modules keep
their heavy imports inside their handlers so `carbonguard --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from carbonguard import __version__
from carbonguard.errors import EXIT_INPUT_ERROR, InputError

# Each module defines `register(subparsers) -> None`, which adds its parser and sets `handler`,
# a callable `(args) -> int` returning the exit code.
COMMAND_MODULES: tuple[str, ...] = (
    "carbonguard.cli.policy_cmd",
    "carbonguard.cli.gate_cmd",
    "carbonguard.cli.audit_cmd",
    "carbonguard.cli.meter_cmd",
    "carbonguard.cli.intensity_cmd",
    "carbonguard.cli.keys_cmd",
)


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad flags already; this keeps its message to one clear line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_INPUT_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="carbonguard", description="Meter, budget, gate and audit ML training carbon.")
    parser.add_argument("--version", action="version", version=f"carbonguard {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_INPUT_ERROR
    try:
        return int(handler(args))
    except InputError as error:
        print(f"carbonguard: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
