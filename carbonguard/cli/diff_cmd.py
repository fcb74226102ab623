"""`carbonguard diff --base A --head B [-o FORMAT[=PATH]]...`: what changed, per stage and in total.

A and B are each a job spec (estimated with the embedded data, as `carbonguard estimate` does), a
JSON file from `carbonguard estimate`, `check` or `gate` (or a bare footprint), or a run id whose
latest recorded footprint is read from the verified ledger. Energy and CO2e, absolute and percent,
the stage that moved most first. Exit codes: 0 compared, 2 bad input, 70 a bug.
"""

from __future__ import annotations

import argparse

from carbonguard.errors import EXIT_OK


def _diff(args: argparse.Namespace) -> int:
    from carbonguard.cli.estimate_cmd import parse_start
    from carbonguard.cli.figures import load_side
    from carbonguard.cli.output import emit, output_targets
    from carbonguard.formats.registry import RenderOptions
    from carbonguard.reporting.check import DiffReport

    targets = output_targets(args)  # checked before any work
    start = parse_start(args.start)
    base = load_side(args.base, label=args.base_label, start=start, ledger_url=args.ledger)
    head = load_side(args.head, label=args.head_label, start=start, ledger_url=args.ledger)
    emit(targets, DiffReport.compare(base, head), RenderOptions(tag=args.tag))
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    from carbonguard.cli.estimate_cmd import DEFAULT_START
    from carbonguard.cli.output import add_output_arguments

    parser = subparsers.add_parser(
        "diff",
        help="compare two job specs, estimate/footprint JSON files or runs, per stage (exit 0, 2 bad input)",
        description="Energy and CO2e of base and head, per stage and in total, absolute and percent, "
        "the stage that moved most first.",
    )
    parser.add_argument("--base", required=True, metavar="FILE_OR_RUN", help="job spec, JSON file or run id")
    parser.add_argument("--head", required=True, metavar="FILE_OR_RUN", help="job spec, JSON file or run id")
    parser.add_argument("--base-label", metavar="NAME", help="name of the base side (default: as given)")
    parser.add_argument("--head-label", metavar="NAME", help="name of the head side (default: as given)")
    add_output_arguments(parser, "diff")
    parser.add_argument("--tag", metavar="TAG", help="hidden marker tag for a markdown PR comment")
    parser.add_argument("--ledger", metavar="URL", help="ledger for run ids (read only; default: "
                        "$CARBONGUARD_LEDGER or .carbonguard/ledger.db)")
    parser.add_argument("--start", default=DEFAULT_START, metavar="TIME",
                        help=f"synthetic UTC start of estimates (default {DEFAULT_START})")
    parser.set_defaults(handler=_diff)
