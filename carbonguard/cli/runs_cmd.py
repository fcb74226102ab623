"""`carbonguard runs`: the runs in a ledger, newest first, with their energy, CO2e and last decision.

A listing to find a run id, not an audit: it reads records without verifying the chain (use
`carbonguard audit verify`, or `audit report`, which verifies before it reports).
"""

from __future__ import annotations

import argparse

from carbonguard.cli.output import add_output_arguments, emit, output_targets


def _runs(args: argparse.Namespace) -> int:
    from carbonguard.errors import InputError, Problem
    from carbonguard.ledger import open_ledger
    from carbonguard.reporting.runs import RunList, summarize_runs

    targets = output_targets(args)
    if args.limit is not None and args.limit < 1:
        raise InputError(Problem("must be at least 1", source="command line", field_path="--limit"))
    with open_ledger(args.ledger, create=False) as ledger:
        runs = summarize_runs(ledger.records())
        url = ledger.url
    if args.flow:
        runs = [r for r in runs if r.flow_name == args.flow]
    shown = runs[: args.limit] if args.limit else runs
    emit(targets, RunList(url, tuple(shown), len(runs)))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "runs", help="list the runs in the ledger: time, flow, stages, energy, CO2e, last decision",
        description="List runs, newest first, from the ledger's stage, footprint and decision records.")
    parser.add_argument("--ledger", metavar="URL", help="ledger path or URL (default: $CARBONGUARD_LEDGER "
                        "or .carbonguard/ledger.db)")
    parser.add_argument("--flow", metavar="NAME", help="only runs of this flow")
    parser.add_argument("--limit", type=int, metavar="N", default=20, help="show at most N runs (default 20)")
    add_output_arguments(parser, "runs")
    parser.set_defaults(handler=_runs)
