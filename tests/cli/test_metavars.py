"""One metavar per concept: `--ledger URL` reads the same in every command's help.

Walks the whole parser, so a new command that spells a known option differently fails here.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from carbonguard.cli.main import build_parser

# Options that name the same concept under different names must share its metavar.
CONCEPTS = {
    "URL": ("--ledger",),
    "FILE": ("--policy", "--checkpoint", "--pubkey", "--jobspec"),
    "RUN_ID": ("--run", "--run-id"),
    "TIME": ("--at", "--start", "--end", "--not-before", "--deadline", "--as-of", "--since", "--until"),
    "ZONE": ("--zone",),
    "FORMAT": ("--format",),
    "FORMAT[=PATH]": ("--output",),
    "PATH": ("--out",),
}


def _shown(action: argparse.Action) -> str:
    """The metavar as help prints it (argparse falls back to {choices} or the dest in capitals)."""
    if action.metavar is not None:
        return action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar)
    if action.choices is not None:
        return "{" + ",".join(map(str, action.choices)) + "}"
    return action.dest.upper()


def option_metavars(parser: argparse.ArgumentParser, path: str = "carbonguard") -> dict[str, set[tuple[str, str]]]:
    """{option string: {(metavar, command)}} over every subcommand, recursively."""
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for option, uses in option_metavars(sub, f"{path} {name}").items():
                    found[option] |= uses
        elif action.option_strings and action.nargs != 0 and action.help != argparse.SUPPRESS:
            for option in action.option_strings:
                if option.startswith("--"):
                    found[option].add((_shown(action), path))
    return found


def test_every_option_has_one_metavar_in_every_command() -> None:
    found = option_metavars(build_parser())
    assert len(found) > 30  # the walk reached the subcommands
    mixed = {option: sorted(uses) for option, uses in found.items() if len({m for m, _ in uses}) > 1}
    assert not mixed, f"options spelled with several metavars: {mixed}"


def test_one_concept_one_metavar() -> None:
    found = option_metavars(build_parser())
    wrong = [f"{option} {metavar} in {command} (want {want})"
             for want, options in CONCEPTS.items() for option in options
             for metavar, command in found.get(option, ()) if metavar != want]
    assert not wrong, "\n".join(wrong)
    assert all(any(option in found for option in options) for options in CONCEPTS.values())


def test_the_walk_sees_a_stray_metavar() -> None:
    """Guard the guard: one command spelling --ledger differently is reported."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    stray = sub.add_parser("stray")
    stray.add_argument("--ledger", metavar="LEDGER")
    found = option_metavars(parser)
    assert ("LEDGER", "carbonguard stray") in found["--ledger"]
    assert len({m for m, _ in found["--ledger"]}) == 2
