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
from collections.abc import Sequence
from typing import Any

from carbonguard import __version__
from carbonguard.errors import EXIT_INPUT_ERROR, CarbonguardError, InputError

EXIT_INTERNAL_ERROR = 70  # EX_SOFTWARE in sysexits.h
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader went away

# Each module defines `register(subparsers) -> None`, which adds its parser and sets `handler`,
# a callable `(args) -> int` returning the exit code. The one-line help shown by `carbonguard --help`
# is listed here too, so that a run imports and builds only the command it runs (a test checks that
# each line matches what its module registers).
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("policy", "carbonguard.cli.policy_cmd", "validate policies, print the policy JSON Schema"),
    ("gate", "carbonguard.cli.gate_cmd",
     "judge a recorded run against a policy (exit 0 pass, 1 blocked, 2 bad input)"),
    ("match", "carbonguard.cli.match_cmd",
     "match granular certificates to a run's hourly energy (exit 0 minimum met, 1 not, 2 bad input)"),
    ("audit", "carbonguard.cli.audit_cmd", "verify, checkpoint, export and report on the ledger"),
    ("meter", "carbonguard.cli.meter_cmd", "run a command and meter its energy as one stage"),
    ("intensity", "carbonguard.cli.intensity_cmd", "grid carbon intensity of a zone, with provenance"),
    ("keys", "carbonguard.cli.keys_cmd", "create, enrol and rotate ledger signing keys"),
    ("schedule", "carbonguard.cli.schedule_cmd",
     "the cleanest window and zone for a job, and its saving against running now"),
    ("estimate", "carbonguard.cli.estimate_cmd",
     "estimate a job's energy and CO2e from a job spec, before it runs (exit 0, 2 bad input)"),
    ("runs", "carbonguard.cli.runs_cmd",
     "list the runs in the ledger: time, flow, stages, energy, CO2e, last decision"),
    ("check", "carbonguard.cli.check_cmd",
     "budget check for pull requests: judge job spec estimates or recorded runs, optionally against "
     "a baseline (exit 0 pass, 1 blocked, 2 bad input)"),
    ("diff", "carbonguard.cli.diff_cmd",
     "compare two job specs, estimate/footprint JSON files or runs, per stage (exit 0, 2 bad input)"),
)


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad flags already; this keeps its message to one clear line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_INPUT_ERROR, f"{self.prog}: error: {message}\n")


class _Commands(argparse._SubParsersAction):
    """Subcommands whose modules load only when chosen.

    Each command starts as a placeholder parser carrying its name and one-line help, which is all
    `carbonguard --help` shows; choosing the command imports its module and swaps in the parser
    the module builds, before any of the command's own arguments are read. Starting a command
    then costs that command's imports, not every command's.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unloaded: dict[str, str] = {}

    def add_lazy(self, name: str, module: str, help_line: str) -> None:
        self.add_parser(name, help=help_line)
        self._unloaded[name] = module

    def load(self, name: str) -> None:
        """Replace the placeholder for `name` by its module's parser, in the same place in the help."""
        module = self._unloaded.pop(name, None)
        if module is None:
            return
        del self._name_parser_map[name]
        slot = next(i for i, a in enumerate(self._choices_actions) if a.dest == name)
        del self._choices_actions[slot]
        importlib.import_module(module).register(self)
        self._choices_actions.insert(slot, self._choices_actions.pop())

    def load_all(self) -> None:
        for name in list(self._unloaded):
            self.load(name)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        self.load(values[0])
        super().__call__(parser, namespace, values, option_string)


def build_parser(*, lazy: bool = False) -> argparse.ArgumentParser:
    """The whole CLI's parser; with `lazy`, each command's parser is built only when it is chosen."""
    parser = _Parser(prog="carbonguard", description="Meter, budget, gate and audit ML training carbon.")
    parser.add_argument("--version", action="version", version=f"carbonguard {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser,
                                       action=_Commands)
    assert isinstance(subparsers, _Commands)
    for name, module, help_line in COMMANDS:
        subparsers.add_lazy(name, module, help_line)
    if not lazy:
        subparsers.load_all()
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if sys.stdout is None:  # started with stdout closed (`>&-`): the next file opened would become fd 1
        print("carbonguard: standard output is closed; redirect it to a file or /dev/null", file=sys.stderr)
        return EXIT_INPUT_ERROR
    parser = build_parser(lazy=True)
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_INPUT_ERROR
    try:
        return int(handler(args))
    except InputError as error:  # one line per problem
        _say(*error.problems)
        return EXIT_INPUT_ERROR
    except CarbonguardError as error:  # e.g. a ledger that fails verification, a key not enrolled
        _say(error)
        return int(getattr(error, "exit_code", EXIT_INPUT_ERROR))
    except BrokenPipeError:
        # `carbonguard audit export | head`: the reader is gone; stop quietly, as `cat` would.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (silence the flush at exit)
        return EXIT_BROKEN_PIPE
    except OSError as error:  # a path given on the command line that cannot be read or written
        where = f"{error.filename}: " if error.filename else ""
        _say(f"{where}{error.strerror or error}")
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a bug: say so, keep the traceback, and never look like "blocked"
        import traceback  # only a crash needs it

        traceback.print_exc(file=sys.stderr)
        _say(f"internal error ({type(error).__name__}: {error}); this is a bug, please report it")
        return EXIT_INTERNAL_ERROR


def _say(*messages: object) -> None:
    """Each message as one `carbonguard: ` line on stderr, its control characters as spaces: what a
    user typed (a path, a URL, a command) or a store holds can drive no terminal or CI log. The
    escape is imported here, on the error path only: a command that succeeds never loads it."""
    from carbonguard.formats.escape import text_safe

    print("\n".join(f"carbonguard: {text_safe(m)}" for m in messages), file=sys.stderr)

if __name__ == "__main__":
    raise SystemExit(main())
