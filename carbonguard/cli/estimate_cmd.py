"""`carbonguard estimate JOBSPEC [-o FORMAT[=PATH]]...`: a job's footprint before it runs.

Exit codes: 0 estimated, 2 bad input (job spec, flags, ledger run). The footprint goes through the
same accounting as measured runs, with the embedded (offline) intensity data, so the command needs
no network and no Prefect. Text and JSON only for now; the shared formats registry and `-o` helper
replace the small renderers here once they land.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime, timezone
from typing import Any

from carbonguard.errors import EXIT_OK, InputError, Problem

# Fixed synthetic start: estimates must not depend on when they are computed. Annual embedded
# figures make only the year matter; a caller who wants another can pass --start.
DEFAULT_START = "2025-01-01T00:00:00Z"
OUTPUT_FORMATS = ("text", "json")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _safe(text: object) -> str:
    """Anything a user typed, stripped of control characters before it reaches a terminal."""
    return _CONTROL.sub("?", str(text))


def parse_output(value: str) -> tuple[str, str | None]:
    """`FORMAT` or `FORMAT=PATH` (`-` is standard output)."""
    fmt, sep, path = value.partition("=")
    fmt = fmt.strip().lower()
    if fmt not in OUTPUT_FORMATS:
        raise argparse.ArgumentTypeError(f"unknown format {fmt!r}; choose from {', '.join(OUTPUT_FORMATS)}")
    if sep and not path:
        raise argparse.ArgumentTypeError(f"-o {value}: give a path after '=' (or '-' for standard output)")
    return fmt, (None if not sep or path == "-" else path)


def parse_start(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(Problem(f"not an ISO 8601 time: {value!r}", "--start")) from None
    if parsed.tzinfo is None:
        raise InputError(Problem("give a timezone (e.g. 2025-01-01T00:00:00Z)", "--start"))
    return parsed.astimezone(timezone.utc)


def _fmt(value: float | None, unit: str) -> str:
    return "unknown" if value is None else f"{value:.4g} {unit}"


def render_text(result: Any) -> str:
    est = result.estimate
    lines = [f"carbonguard estimate: {_safe(est.job)} ({len(est.stages)} stages; every figure is an estimate)"]
    for s in est.stages:
        r = s.record
        priced = result.stage_footprint(r.stage)
        sf = priced[1] if priced else None
        band = sum(c.uncertainty_kwh for c in r.components)
        lines.append(
            f"  {_safe(r.stage)}: {r.duration_s / 3600:.3g} h at {_safe(s.location)} (PUE {s.pue:g}); "
            f"IT energy {r.energy_kwh:.4g} ± {band:.2g} kWh; "
            f"energy {_fmt(sf.energy_kwh if sf else None, 'kWh')}; "
            f"co2e {_fmt(sf.co2e_kg if sf else None, 'kg')} (upper {_fmt(sf.co2e_upper_kg if sf else None, 'kg')})"
        )
    co2e, upper = result.co2e_kg, result.co2e_upper_kg
    lines.append(
        f"total: energy_kwh {result.energy_kwh:.4g} (upper {result.energy_upper_kwh:.4g}); "
        f"co2e_kg {'unknown' if co2e is None else f'{co2e:.4g}'} "
        f"(upper {'unknown' if upper is None else f'{upper:.4g}'})"
    )
    from carbonguard.formats.common import intensity_provenance

    seen: set[str] = set()
    for footprint in result.footprints:
        for line in intensity_provenance(footprint):
            if line not in seen:
                seen.add(line)
                lines.append(f"intensity: {_safe(line)}")
    rows = sorted({c.source.split("; ", 1)[1] for r in est.records for c in r.components
                   if c.component == "gpu" and "; " in c.source})
    lines += [f"power: {_safe(row)}" for row in rows]
    return "\n".join(lines) + "\n"


def render_json(result: Any) -> str:
    return json.dumps(result.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n"


def _records_of_run(run_id: str, ledger_url: str | None) -> list[Any]:
    """The thin ledger caller of `from_run`: verify the chain, then read the run's stage records."""
    from carbonguard.assess import load_stage_records, verified
    from carbonguard.ledger import open_ledger

    with open_ledger(ledger_url, create=False) as ledger:
        records, _hashes = load_stage_records(verified(ledger), run_id)
    return records


def estimate_file(path: str, *, start: datetime, ledger_url: str | None = None) -> Any:
    """Load, estimate and price one job spec: the entry point `check` and `diff` reuse."""
    from carbonguard.estimate.accelerators import load_table
    from carbonguard.estimate.estimator import estimate_job
    from carbonguard.estimate.loader import load_jobspec
    from carbonguard.estimate.result import price
    from carbonguard.estimate.scaling import estimate_from_run
    from carbonguard.intensity.errors import UnknownZoneError
    from carbonguard.intensity.providers.embedded import EmbeddedSource

    loaded = load_jobspec(path)
    spec = loaded.spec
    if spec.spec.from_run is not None:
        estimate = estimate_from_run(spec, _records_of_run(spec.spec.from_run.run_id, ledger_url), start=start)
    else:
        estimate = estimate_job(spec, start=start, table=load_table())
    try:
        return price(estimate, EmbeddedSource(unknown_zone="block"), jobspec_source=loaded.source,
                     jobspec_hash=loaded.content_hash)
    except UnknownZoneError as error:
        line = loaded.line_of("spec", "location")
        raise InputError(Problem(str(error.problems[0].message), loaded.source, line,
                                 field_path="spec.location")) from None


def _write(text: str, path: str | None) -> None:
    if path is None:
        sys.stdout.write(text)
        return
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _estimate(args: argparse.Namespace) -> int:
    if args.schema:
        from carbonguard.estimate.schema import jobspec_schema_text

        _write(jobspec_schema_text(), args.out)
        return EXIT_OK
    if not args.jobspec:
        raise InputError(Problem("give a job spec file (or --schema)", "estimate", field_path="JOBSPEC"))
    outputs = list(args.output or [])
    if args.json:
        outputs.append(("json", None))
    if not outputs:
        outputs = [("text", None)]
    if sum(1 for _, p in outputs if p is None) > 1:
        raise InputError(Problem("only one output may go to standard output; give the others a path", "-o"))
    result = estimate_file(args.jobspec, start=parse_start(args.start), ledger_url=args.ledger)
    for fmt, path in outputs:
        _write(render_json(result) if fmt == "json" else render_text(result), path)
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "estimate",
        help="estimate a job's energy and CO2e from a job spec, before it runs (exit 0, 2 bad input)",
        description="Turn a job spec (kind: TrainingJob) into estimated stage records and price them with "
        "the embedded grid intensity data. No network, no ledger (except for from_run).",
    )
    parser.add_argument("jobspec", nargs="?", metavar="JOBSPEC", help="job spec YAML file")
    parser.add_argument("-o", "--output", action="append", type=parse_output, metavar="FORMAT[=PATH]",
                        help=f"output format ({', '.join(OUTPUT_FORMATS)}), optionally to a file; repeatable")
    parser.add_argument("--json", action="store_true", help="same as -o json")
    parser.add_argument("--start", default=DEFAULT_START, metavar="ISO",
                        help=f"synthetic UTC start of the first stage (default {DEFAULT_START})")
    parser.add_argument("--ledger", metavar="URL", help="ledger for a job spec with from_run (default: "
                        "$CARBONGUARD_LEDGER or .carbonguard/ledger.db)")
    parser.add_argument("--schema", action="store_true", help="print the job spec JSON Schema instead")
    parser.add_argument("--out", metavar="FILE", help="with --schema: write to FILE")
    parser.set_defaults(handler=_estimate)
