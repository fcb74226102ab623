"""`carbonguard schedule`: the cleanest window and zone for a job, and what it saves against now.

    carbonguard schedule --zone GB --duration 6h --forecast gb.csv
    carbonguard schedule --zone GB --zone FR --duration 6h --deadline 2024-05-05T18:00Z \
        --provider uk-carbon-intensity --energy-kwh 120 -o text -o json=plan.json
    carbonguard schedule --policy policies/cloud-reschedule.yaml --duration 4h --json

Forecasts come from files (`--forecast [ZONE=]FILE`, CSV or JSON) or from the providers
(`--provider`, or the policy's spec.intensity); the embedded annual figures are flat, so with them
alone time shifting cannot be judged and only zones are compared. The CLI computes and prints; it
never talks to Prefect. Exit 0 with an answer, 2 on bad input, a deadline too tight for the job
(the message says by how much), or no figures at all.
"""

from __future__ import annotations

import argparse
import os
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from carbonguard.cli.output import add_output_arguments, emit, output_targets

PROVIDERS = ("embedded", "electricitymaps", "watttime", "uk-carbon-intensity")
DEFAULT_HORIZON_H = 48.0  # the GB Carbon Intensity API forecasts 48 h ahead; others 24-72 h
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|min|m|s)", re.IGNORECASE)
_SECONDS = {"d": 86400, "h": 3600, "min": 60, "m": 60, "s": 1}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "schedule",
        help="the cleanest window and zone for a job, and its saving against running now",
        description="Best start (lowest time-weighted mean intensity) for a job of --duration that must finish "
        "by --deadline, pause-and-resume slots, and the same search per --zone, each against running now.",
    )
    p.add_argument("--zone", action="append", default=[], metavar="ZONE",
                   help="grid zone or cloud region (aws:us-east-1); repeat to compare zones; the first is home")
    p.add_argument("--duration", required=True, metavar="DURATION", help="job duration, e.g. 6h, 90min, 1h30m")
    p.add_argument("--not-before", metavar="TIME", help="earliest start, ISO 8601 with offset (default: now)")
    p.add_argument("--deadline", metavar="TIME", help="the whole job must finish by TIME (ISO 8601 with offset)")
    p.add_argument("--energy-kwh", type=float, metavar="KWH", help="the job's energy, for savings in kg CO2e")
    p.add_argument("--energy-source", choices=("measured", "estimated", "given"), default="given",
                   help="where --energy-kwh comes from (recorded with the saving)")
    p.add_argument("--forecast", action="append", default=[], metavar="[ZONE=]FILE",
                   help="forecast file (CSV or JSON) for ZONE, or for the first --zone")
    p.add_argument("--time-column", metavar="NAME", help="forecast column with the times")
    p.add_argument("--value-column", metavar="NAME", help="forecast column with g/kWh")
    p.add_argument("--provider", action="append", choices=PROVIDERS,
                   help="provider for zones without a file, in order (default: the policy's, else embedded)")
    p.add_argument("--signal", choices=("average", "marginal"), default=None)
    p.add_argument("--policy", metavar="FILE",
                   help="policy: home zone, candidate zones, limits (max_delay_h, interruption_cost), providers")
    p.add_argument("--interruption-cost", metavar="COST",
                   help="per interruption, e.g. 10min or 50g (overrides the policy)")
    p.add_argument("--horizon-h", type=float, default=DEFAULT_HORIZON_H, metavar="HOURS",
                   help=f"without --deadline, how far providers are asked (default {DEFAULT_HORIZON_H:g} h)")
    p.add_argument("--cache-dir", metavar="DIR", help="cache directory for live answers")
    p.add_argument("--no-cache", action="store_true", help="always ask live providers")
    add_output_arguments(p, "schedule")
    p.set_defaults(handler=run)


def _bad(message: str, flag: str) -> Exception:
    from carbonguard.errors import InputError, Problem

    return InputError(Problem(message, source="command line", field_path=flag))


def parse_duration(text: str, flag: str = "--duration") -> timedelta:
    t = text.strip()
    if t.upper().startswith("PT"):  # ISO 8601 duration, time part only
        t = t[2:].lower().replace("m", "min") if "M" in t.upper() else t[2:]
    pos, total = 0, 0.0
    for m in _DURATION.finditer(t):
        if t[pos : m.start()].strip():
            break
        total += float(m.group(1)) * _SECONDS[m.group(2).lower()]
        pos = m.end()
    if pos == 0 or t[pos:].strip():
        raise _bad(f"not a duration: {text!r}; write e.g. 6h, 90min, 1h30m or 45s", flag)
    if total <= 0 or total > 366 * 86400:
        raise _bad(f"duration {text!r} must be more than 0 and at most a year", flag)
    return timedelta(seconds=total)


def parse_time(text: str, flag: str) -> datetime:
    from carbonguard.scheduling.forecast_file import parse_time as parse

    t = parse(text)
    if t is None:
        raise _bad(f"not an ISO 8601 time: {text!r}", flag)
    if t.tzinfo is None or t.utcoffset() is None:
        raise _bad(f"{text!r} has no UTC offset; write e.g. {text}Z so the hour is not a guess", flag)
    if not 1900 <= t.year <= 2200:
        raise _bad(f"{text!r} is outside the years 1900-2200", flag)
    return t.astimezone(timezone.utc)


def parse_interruption_cost(text: str) -> Any:
    from carbonguard.policy.models import InterruptionCost

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(g|g_co2e|gco2e|min|minutes|m)\s*", text, re.IGNORECASE)
    if not m:
        raise _bad(f"not an interruption cost: {text!r}; write e.g. 10min or 50g", "--interruption-cost")
    unit = "g_co2e" if m.group(2).lower().startswith("g") else "minutes"
    return InterruptionCost(value=float(m.group(1)), unit=unit)


def run(args: argparse.Namespace) -> int:
    targets = output_targets(args)
    duration = parse_duration(args.duration)
    not_before = parse_time(args.not_before, "--not-before") if args.not_before else datetime.now(timezone.utc)
    deadline = parse_time(args.deadline, "--deadline") if args.deadline else None
    energy = args.energy_kwh
    if energy is not None and not (0 < energy < 1e12):
        raise _bad("--energy-kwh must be a positive number", "--energy-kwh")

    from carbonguard.intensity.zones import canonical_zone, resolve_zone
    from carbonguard.scheduling.window import check_deadline

    check_deadline(not_before, deadline, duration)
    policy = None
    if args.policy:
        from carbonguard.policy.loader import load_policy

        policy = load_policy(args.policy).policy
    scheduling = policy.spec.scheduling if policy else None

    requested: dict[str, str] = {}
    zones: list[str] = []
    typed = list(args.zone)
    if not typed and policy is not None:
        loc = policy.spec.location
        typed = [loc.zone] if loc.zone else [f"{loc.cloud.provider}:{loc.cloud.region}"]  # type: ignore[union-attr]
    if not typed:
        raise _bad("give --zone (or --policy with spec.location)", "--zone")
    allowed: set[str] | None = None
    if policy is not None:
        allowed = set()
        for z in scheduling.candidate_zones if scheduling else ():
            code = resolve_zone(z, None, None)
            allowed.add(code)
            typed.append(z)
    for z in typed:
        code = resolve_zone(z, None, None)
        if code not in requested:
            requested[code] = z
            zones.append(code)
    home = zones[0]

    files: dict[str, str] = {}
    for spec in args.forecast:
        zone_part, sep, path = spec.partition("=")
        if sep and canonical_zone(zone_part) in zones:
            target = canonical_zone(zone_part)
        elif sep and zone_part and not os.path.exists(spec):
            raise _bad(f"--forecast {spec!r}: zone {zone_part!r} is not one of the --zone values", "--forecast")
        else:
            target, path = home, spec
        if target in files:
            raise _bad(f"two forecast files for zone {target}", "--forecast")
        files[target] = path

    from carbonguard.scheduling.forecast_file import read_forecast

    forecasts: dict[str, list] = {}
    file_notes = []
    for zone, path in files.items():
        f = read_forecast(path, zone, time_column=args.time_column, value_column=args.value_column)
        forecasts[zone] = list(f.points)
        file_notes.append(
            f"{zone}: {path} (time column {f.time_column!r}, g/kWh column {f.value_column!r}, {f.interval})"
        )
    rest = [z for z in zones if z not in forecasts]
    provider_errors: list[str] = []
    if rest:
        from carbonguard.cli.progress import RetryProgress
        from carbonguard.intensity import build_source
        from carbonguard.intensity.settings import IntensitySettings

        base = policy.spec.intensity if policy else IntensitySettings()
        update: dict[str, Any] = {}
        if args.provider:
            update["providers"] = tuple(args.provider)
        if args.signal:
            update["signal"] = args.signal
        if args.no_cache:
            update["cache_ttl_s"] = 0
        settings = base.model_copy(update=update)
        end = deadline or (not_before + timedelta(hours=args.horizon_h) + duration)
        with RetryProgress() as on_retry:
            source = build_source(settings, cache_dir=args.cache_dir, on_retry=on_retry)
            for zone in rest:
                forecasts[zone] = source.series(zone, not_before, end)
                provider_errors += [str(e) for e in getattr(source, "errors", [])]

    cost = parse_interruption_cost(args.interruption_cost) if args.interruption_cost else (
        scheduling.interruption_cost if scheduling else None
    )
    from carbonguard.scheduling.zones import plan

    result = plan(
        {z: forecasts[z] for z in zones},
        home,
        duration,
        not_before,
        deadline,
        energy_kwh=energy,
        energy_source=args.energy_source if energy is not None else None,
        interruption_cost=cost,
        scheduling=scheduling,
        policy_checked=policy is not None,
        allowed_zones=allowed,
        requested=requested,
    )
    if result.best is None and result.run_now is None:
        from carbonguard.errors import InputError, Problem

        why = "; ".join(n for s in result.searches for n in s.notes)
        raise InputError(Problem(f"no figures cover a {args.duration} job for any zone: {why}", source="schedule"))
    from carbonguard.reporting.schedule import ScheduleReport

    emit(targets, ScheduleReport(result, tuple(file_notes), tuple(provider_errors), args.policy))
    return 0
