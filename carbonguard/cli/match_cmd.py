"""`carbonguard match`: hourly matching of certificates to a recorded run or a consumption file.

    carbonguard match --policy FILE --certificates FILE... (--run RUN_ID | --consumption FILE)
                      [--dry-run] [--ledger URL] [-o FORMAT[=PATH]]...

Exit codes: 0 the policy's minimum CFE is met (and no matching finding blocks), 1 not, 2 bad input.
`--run` without `--dry-run` records the policy, a `match` record and the claims in the ledger (in
one transaction); `--dry-run` and `--consumption` write nothing.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from carbonguard.cli.output import add_output_arguments, emit, output_targets
from carbonguard.errors import EXIT_BLOCKED, EXIT_OK, InputError, Problem

MAX_CONSUMPTION_BYTES = 64 * 1024**2  # a year of hours is about 300 KB


def read_consumption(path: str) -> list[tuple[datetime, float]]:
    """CSV `hour_start,energy_kwh` (UTC hour starts, facility kWh), every problem located (up to 20)."""
    try:
        if Path(path).stat().st_size > MAX_CONSUMPTION_BYTES:
            raise InputError(Problem(f"larger than {MAX_CONSUMPTION_BYTES // 1024**2} MiB", source=path))
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(Problem("no such file", source=path)) from None
    except IsADirectoryError:
        raise InputError(Problem("is a directory, not a consumption CSV", source=path)) from None
    except UnicodeDecodeError:
        raise InputError(Problem("not UTF-8 text", source=path)) from None
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != ["hour_start", "energy_kwh"]:
        raise InputError(Problem(f"the header must be 'hour_start,energy_kwh', not {','.join(header or [])!r}",
                                 source=path, line=1))
    problems: list[Problem] = []
    hours: list[tuple[datetime, float]] = []
    seen: dict[datetime, int] = {}
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != 2:
            problems.append(Problem(f"expected 2 columns, found {len(row)}", source=path, line=line))
            continue
        start = _hour_start(row[0].strip(), path, line, problems)
        kwh = _energy(row[1].strip(), path, line, problems)
        if start is None or kwh is None:
            continue
        if start in seen:
            problems.append(Problem(f"hour {start:%Y-%m-%dT%H:%MZ} is already given on line {seen[start]}",
                                    source=path, line=line, field_path="hour_start"))
            continue
        seen[start] = line
        hours.append((start, kwh))
        if len(problems) >= 20:
            break
    if problems:
        raise InputError(problems[:20])
    if not hours:
        raise InputError(Problem("no hours of consumption", source=path, line=2))
    return sorted(hours)


def _hour_start(text: str, path: str, line: int, problems: list[Problem]) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        problems.append(Problem(f"{text!r} is not an ISO 8601 time", source=path, line=line, field_path="hour_start"))
        return None
    if value.tzinfo is None:
        problems.append(Problem(f"{text!r} has no UTC offset (write 2026-03-02T10:00:00Z)", source=path,
                                line=line, field_path="hour_start"))
        return None
    value = value.astimezone(timezone.utc)
    if value.minute or value.second or value.microsecond:
        problems.append(Problem(f"{text!r} is not the start of a UTC hour", source=path, line=line,
                                field_path="hour_start"))
        return None
    return value


def _energy(text: str, path: str, line: int, problems: list[Problem]) -> float | None:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        why = "is empty: no reading is not 0" if not text else f"{text!r} is not a number >= 0 (kWh)"
        problems.append(Problem(why, source=path, line=line, field_path="energy_kwh"))
        return None
    return value


def _match_consumption(loaded: Any, files: Any, path: str) -> Any:
    """Match a consumption file: location-based CO2e from the policy's intensity source, no ledger."""
    from carbonguard.assess import _policy_source
    from carbonguard.intensity.providers.embedded import residual_mix_series
    from carbonguard.models import to_label
    from carbonguard.pipeline import match_consumption, policy_zone

    hours = read_consumption(path)
    zone = policy_zone(loaded)
    start, end = hours[0][0], hours[-1][0] + timedelta(hours=1)
    points = list(_policy_source(loaded).series(zone, start, end))
    try:
        residual = residual_mix_series(zone, start, end)
    except InputError:  # no residual mix embedded for the zone: the market-based figure is absent
        residual = []
    return match_consumption(loaded, hours, files, run_id=to_label(f"file:{path}"), points=points,
                             residual=residual)


def _match(args: argparse.Namespace) -> int:
    from carbonguard.assess import assess_run, load_certificates, record_match
    from carbonguard.pipeline import judge_match
    from carbonguard.policy import load_policy
    from carbonguard.reporting.match import MatchReport

    targets = output_targets(args)
    loaded = load_policy(args.policy)
    matching = loaded.policy.spec.matching
    if matching is None:
        raise InputError(Problem("the policy has no spec.matching section (beneficiary, pinned registry keys, "
                                 "min_cfe) to judge certificates by", source=loaded.source, field_path="spec.matching"))
    files = load_certificates(loaded, args.certificates)  # every file, before any ledger is opened
    recorded: int | None = None
    ledger_url: str | None = None
    energy_known = True
    as_of = datetime.now(timezone.utc)
    if args.consumption is not None:
        result = _match_consumption(loaded, files, args.consumption)
        source = f"file {args.consumption}"
    else:
        from carbonguard.ledger import open_ledger

        with open_ledger(args.ledger, create=False) as ledger:
            assessment = assess_run(loaded, ledger, args.run, as_of=as_of, certificates=files)
            if not args.dry_run:
                assessment = record_match(ledger, loaded, assessment)
                recorded = len(assessment.match.claims) if assessment.match is not None else 0
            ledger_url = ledger.url
        result = assessment.match
        energy_known = assessment.footprint.energy_known
        source = f"run {args.run}"
    findings = judge_match(loaded, result, as_of=as_of, energy_known=energy_known)
    report = MatchReport(result=result, findings=tuple(findings), policy_name=loaded.name,
                         policy_version=loaded.version, policy_hash=loaded.content_hash, policy_file=loaded.source,
                         min_cfe=matching.min_cfe, min_hourly_cfe=matching.min_hourly_cfe, consumption_from=source,
                         claims_recorded=recorded, ledger_url=ledger_url)
    emit(targets, report)
    return EXIT_OK if report.passed else EXIT_BLOCKED


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "match",
        help="match granular certificates to a run's hourly energy (exit 0 minimum met, 1 not, 2 bad input)",
        description="Verify certificate exports against the keys the policy pins, match them hour by hour to a "
        "recorded run's energy (--run) or to a consumption CSV 'hour_start,energy_kwh' (--consumption), and print "
        "the hourly CFE score, each hour, each rejected certificate with its rule, and location- vs market-based "
        "CO2e. With --run and without --dry-run the claims are recorded in the ledger.",
    )
    parser.add_argument("--policy", required=True, metavar="FILE", help="policy YAML file with spec.matching")
    parser.add_argument("--certificates", required=True, nargs="+", metavar="FILE",
                        help="certificate exports (JSON, JSON Lines, CSV), each signed in FILE.sig")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", metavar="RUN_ID", help="a run recorded in the ledger")
    source.add_argument("--consumption", metavar="FILE",
                        help="CSV 'hour_start,energy_kwh': UTC hour starts and facility energy per hour")
    parser.add_argument("--dry-run", action="store_true", help="write nothing to the ledger")
    parser.add_argument("--ledger", metavar="URL", help="ledger path or URL (default: $CARBONGUARD_LEDGER "
                        "or .carbonguard/ledger.db)")
    add_output_arguments(parser, "match")
    parser.set_defaults(handler=_match)
