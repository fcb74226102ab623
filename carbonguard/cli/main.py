"""Entry point: builds the argument parser from one module per command and maps errors to exit codes.

Exit codes: 0 pass, 1 blocked (or a check failed), 2 usage or input error, 70 internal error (a
bug: never 1, so CI cannot mistake a crash for a gate decision), 141 output pipe closed. Command
modules keep their heavy imports inside their handlers so `carbonguard --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from carbonguard import __version__
from carbonguard.errors import EXIT_INPUT_ERROR, CarbonguardError, InputError

EXIT_INTERNAL_ERROR = 70  # EX_SOFTWARE in sysexits.h
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader went away

# Each module defines `register(subparsers) -> None`, which adds its parser and sets `handler`,
# a callable `(args) -> int` returning the exit code.
COMMAND_MODULES: tuple[str, ...] = (
    "carbonguard.cli.policy_cmd",
    "carbonguard.cli.gate_cmd",
    "carbonguard.cli.match_cmd",
    "carbonguard.cli.audit_cmd",
    "carbonguard.cli.meter_cmd",
    "carbonguard.cli.intensity_cmd",
    "carbonguard.cli.keys_cmd",
    "carbonguard.cli.schedule_cmd",
    "carbonguard.cli.estimate_cmd",
    "carbonguard.cli.runs_cmd",
    "carbonguard.cli.check_cmd",
    "carbonguard.cli.diff_cmd",
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
    if sys.stdout is None:  # started with stdout closed (`>&-`): the next file opened would become fd 1
        print("carbonguard: standard output is closed; redirect it to a file or /dev/null", file=sys.stderr)
        return EXIT_INPUT_ERROR
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
    except CarbonguardError as error:  # e.g. a ledger that fails verification, a key not enrolled
        print(f"carbonguard: {error}", file=sys.stderr)
        return int(getattr(error, "exit_code", EXIT_INPUT_ERROR))
    except BrokenPipeError:
        # `carbonguard audit export | head`: the reader is gone; stop quietly, as `cat` would.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (silence the flush at exit)
        return EXIT_BROKEN_PIPE
    except OSError as error:  # a path given on the command line that cannot be read or written
        where = f"{error.filename}: " if error.filename else ""
        print(f"carbonguard: {where}{error.strerror or error}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a bug: say so, keep the traceback, and never look like "blocked"
        traceback.print_exc(file=sys.stderr)
        print(f"carbonguard: internal error ({type(error).__name__}: {error}); this is a bug, please report it",
              file=sys.stderr)
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
