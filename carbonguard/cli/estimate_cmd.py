"""`carbonguard estimate JOBSPEC [-o FORMAT[=PATH]]...`: a job's footprint before it runs.

Exit codes: 0 estimated, 2 bad input (job spec, flags, ledger run). The footprint goes through the
same accounting as measured runs, with the embedded (offline) intensity data, so the command needs
no network and no Prefect. `estimate_file` is the entry point `check` and `diff` reuse.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Any

from carbonguard.errors import EXIT_OK, InputError, Problem

# Fixed synthetic start: estimates must not depend on when they are computed. Annual embedded
# figures make only the year matter; a caller who wants another can pass --start.
DEFAULT_START = "2025-01-01T00:00:00Z"


def parse_start(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(Problem(f"not an ISO 8601 time: {value!r}", "--start")) from None
    if parsed.tzinfo is None:
        raise InputError(Problem("give a timezone (e.g. 2025-01-01T00:00:00Z)", "--start"))
    return parsed.astimezone(timezone.utc)


def _records_of_run(run_id: str, ledger_url: str | None) -> list[Any]:
    """The thin ledger caller of `from_run`: verify the run's span of the chain, then read its stage records."""
    from carbonguard.assess import load_stage_records
    from carbonguard.ledger import open_ledger

    with open_ledger(ledger_url, create=False) as ledger:
        records, _judged = load_stage_records(ledger, run_id, verify=True)
    return records


def estimate_file(path: str, *, start: datetime, ledger_url: str | None = None, source: Any = None) -> Any:
    """Load, estimate and price one job spec -> `reporting.estimate.EstimateReport`.

    `source` is the intensity source (default: the embedded data, refusing unknown zones).
    """
    from carbonguard.estimate.accelerators import load_table
    from carbonguard.estimate.estimator import estimate_job
    from carbonguard.estimate.loader import load_jobspec
    from carbonguard.estimate.pricing import intensity_requests, price
    from carbonguard.estimate.scaling import estimate_from_run
    from carbonguard.intensity.errors import UnknownZoneError
    from carbonguard.intensity.providers.embedded import EmbeddedSource

    loaded = load_jobspec(path)
    spec = loaded.spec
    if spec.spec.from_run is not None:
        estimate = estimate_from_run(spec, _records_of_run(spec.spec.from_run.run_id, ledger_url), start=start)
    else:
        estimate = estimate_job(spec, start=start, table=load_table())
    source = source if source is not None else EmbeddedSource(unknown_zone="block")
    try:
        points = {zone: source.series(zone, lo, hi) for zone, lo, hi in intensity_requests(estimate)}
    except UnknownZoneError as error:
        line = loaded.line_of("spec", "location")
        raise InputError(Problem(str(error.problems[0].message), loaded.source, line,
                                 field_path="spec.location")) from None
    return price(estimate, points, jobspec_source=loaded.source, jobspec_hash=loaded.content_hash)


def _estimate(args: argparse.Namespace) -> int:
    if args.schema:
        from carbonguard.estimate.schema import jobspec_schema_text

        text = jobspec_schema_text()
        if args.out:
            with open(args.out, "w", encoding="utf-8") as handle:
                handle.write(text)
        else:
            sys.stdout.write(text)
        return EXIT_OK
    from carbonguard.cli.output import emit, output_targets

    if not args.jobspec:
        raise InputError(Problem("give a job spec file (or --schema)", "command line", field_path="JOBSPEC"))
    targets = output_targets(args)  # checked before any work
    emit(targets, estimate_file(args.jobspec, start=parse_start(args.start), ledger_url=args.ledger))
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    from carbonguard.cli.output import add_output_arguments

    parser = subparsers.add_parser(
        "estimate",
        help="estimate a job's energy and CO2e from a job spec, before it runs (exit 0, 2 bad input)",
        description="Turn a job spec (kind: TrainingJob) into estimated stage records and price them with "
        "the embedded grid intensity data. No network, no ledger (except for from_run).",
    )
    parser.add_argument("jobspec", nargs="?", metavar="JOBSPEC", help="job spec YAML file")
    add_output_arguments(parser, "estimate")
    parser.add_argument("--start", default=DEFAULT_START, metavar="TIME",
                        help=f"synthetic UTC start of the first stage (default {DEFAULT_START})")
    parser.add_argument("--ledger", metavar="URL", help="ledger for a job spec with from_run (default: "
                        "$CARBONGUARD_LEDGER or .carbonguard/ledger.db)")
    parser.add_argument("--schema", action="store_true", help="print the job spec JSON Schema instead")
    parser.add_argument("--out", metavar="PATH", help="with --schema: write to FILE")
    parser.set_defaults(handler=_estimate)
