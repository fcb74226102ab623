"""`carbonguard intensity`: show the grid carbon intensity of a zone, with where every figure came from.

    carbonguard intensity DE                       # embedded annual figure, now
    carbonguard intensity GB --start 2024-05-04T12:00Z --end 2024-05-04T18:00Z \
        --provider uk-carbon-intensity --provider embedded
    carbonguard intensity --cloud-provider aws --cloud-region eu-west-1 --json
    carbonguard intensity --list-zones

Offline unless a live `--provider` is named. Exit 0 on success, 2 on bad input or when no source
could answer (the message names the provider, URL and field).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

PROVIDERS = ("embedded", "electricitymaps", "watttime", "uk-carbon-intensity")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "intensity",
        help="grid carbon intensity of a zone, with provenance",
        description="Grid carbon intensity (gCO2e/kWh) of a zone at a time or over a window, with the "
        "source, year, dataset hash and fallbacks of every figure. "
        "Offline unless --provider names a live API.",
    )
    p.add_argument("zone", nargs="?", help="zone code (DE, US-CAMX, AU-NSW, gcp:europe-west4) or alias")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--at", metavar="T", help="instant, ISO 8601 with offset (default: now)")
    when.add_argument("--start", metavar="T", help="window start, ISO 8601 with offset (needs --end)")
    p.add_argument("--end", metavar="T", help="window end, ISO 8601 with offset")
    p.add_argument(
        "--provider",
        action="append",
        choices=PROVIDERS,
        help="provider to ask, in order; repeat for a fallback chain (default: embedded)",
    )
    p.add_argument("--signal", choices=("average", "marginal"), default="average")
    p.add_argument("--unknown-zone", choices=("block", "warn"), default="block", dest="unknown_zone")
    p.add_argument("--cloud-provider", metavar="NAME", help="aws, gcp or azure (with --cloud-region)")
    p.add_argument("--cloud-region", metavar="REGION", help="cloud region, e.g. us-east-1")
    p.add_argument("--cache-dir", metavar="DIR", help="cache directory for live answers")
    p.add_argument("--no-cache", action="store_true", help="always ask live providers")
    p.add_argument("--list-zones", action="store_true", help="list embedded zones with figures and sources")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=run)


def _parse_time(text: str, flag: str) -> datetime:
    from carbonguard.errors import InputError, Problem

    if text.strip().lower() == "now":
        return datetime.now(timezone.utc)
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            Problem(f"not an ISO 8601 time: {text!r}", source="command line", field_path=flag)
        ) from None
    if not 1900 <= parsed.year <= 2200:  # grid data exists for neither; also keeps date arithmetic in range
        raise InputError(
            Problem(f"{text!r} is outside the years 1900-2200", source="command line", field_path=flag)
        )
    if parsed.tzinfo is None:
        raise InputError(
            Problem(
                f"{text!r} has no UTC offset; write e.g. {text}Z so the hour is not a guess",
                source="command line",
                field_path=flag,
            )
        )
    return parsed.astimezone(timezone.utc)


def _list_zones(as_json: bool) -> int:
    from carbonguard.intensity.dataset import load_dataset

    data = load_dataset()
    rows = [
        {
            "zone": f.zone,
            "name": f.name,
            "year": f.year,
            "intensity_g_per_kwh": f.intensity_g_per_kwh,
            "quality": f.quality,
            "source": f.source,
        }
        for f in sorted(data.annual.values(), key=lambda f: f.zone)
    ]
    if as_json:
        print(
            json.dumps(
                {"dataset_version": data.version, "dataset_hash": data.sha256, "zones": rows}, indent=2
            )
        )
        return 0
    print(f"{'zone':<10} {'intensity_g_per_kwh':>19}  {'year':>4}  {'quality':<19} name")
    for r in rows:
        print(
            f"{r['zone']:<10} {r['intensity_g_per_kwh']:>19.1f}  {r['year']:>4}  "
            f"{r['quality']:<19} {r['name']}"
        )
    print(
        f"\n{len(rows)} zones, {len(data.aliases)} aliases, {len(data.cloud_regions)} cloud regions; "
        f"dataset {data.version} sha256 {data.sha256}"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    from carbonguard.errors import InputError, Problem

    if args.list_zones:
        return _list_zones(args.json)
    if args.end and not args.start:
        raise InputError(Problem("--end needs --start", source="command line", field_path="--end"))
    if args.start and not args.end:
        raise InputError(Problem("--start needs --end", source="command line", field_path="--start"))

    from carbonguard.intensity import build_source
    from carbonguard.intensity.settings import IntensitySettings
    from carbonguard.intensity.timeseries import weighted_average
    from carbonguard.intensity.zones import resolve_zone

    zone_arg = args.zone
    if zone_arg and zone_arg.lower().startswith(("aws:", "gcp:", "azure:")):
        zone = zone_arg  # the embedded source can use the cloud provider's own published figure
        resolve_zone(zone_arg, None, None)  # validates the region
    else:
        zone = resolve_zone(zone_arg, args.cloud_provider, args.cloud_region)
    if args.start:
        start, end = _parse_time(args.start, "--start"), _parse_time(args.end, "--end")
        if end <= start:
            raise InputError(
                Problem("--end must be after --start", source="command line", field_path="--end")
            )
    else:
        start = _parse_time(args.at, "--at") if args.at else datetime.now(timezone.utc)
        end = start + timedelta(seconds=1)

    settings = IntensitySettings(
        providers=tuple(args.provider or ("embedded",)),
        signal=args.signal,
        unknown_zone=args.unknown_zone,
        cache_ttl_s=0 if args.no_cache else IntensitySettings().cache_ttl_s,
    )
    source = build_source(settings, cache_dir=args.cache_dir)
    points = source.series(zone, start, end)
    avg = weighted_average(points, start, end)
    errors = [str(e) for e in getattr(source, "errors", [])]
    if args.json:
        print(json.dumps(_as_json(zone, start, end, avg, points, errors), indent=2))
    else:
        _print_text(zone, start, end, avg, points, errors, instant=not args.start)
    return 0


def _as_json(zone: str, start: datetime, end: datetime, avg: Any, points: list, errors: list[str]) -> dict:
    return {
        "zone": zone,
        "start": start.isoformat().replace("+00:00", "Z"),
        "end": end.isoformat().replace("+00:00", "Z"),
        "intensity_g_per_kwh": avg.intensity_g_per_kwh,
        "covered_s": avg.covered_s,
        "window_s": avg.window_s,
        "gaps": [{"start": g.start.isoformat(), "end": g.end.isoformat()} for g in avg.gaps],
        "points": [p.model_dump(mode="json") for p in points],
        "provider_errors": errors,
    }


def _figure_when(p: Any) -> str:
    """When a figure applies, worded so an annual average is never read as a measurement of that year.

    An embedded annual figure is served for the requested calendar year but was measured in its data
    year (e.g. 2021); printing only the interval start (2026-01-01) would suggest a 2026 measurement.
    """
    if p.kind == "annual":
        data_year = f"data year {p.year}" if p.year else "data year unknown"
        return f"annual average, {data_year} (applied to {p.start.year})"
    return f"{p.start.strftime('%Y-%m-%dT%H:%MZ')}  duration_s={p.duration_s}"


def _print_text(
    zone: str, start: datetime, end: datetime, avg: Any, points: list, errors: list[str], *, instant: bool
) -> None:
    out = sys.stdout
    when = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    if not instant:
        when += " .. " + end.strftime("%Y-%m-%dT%H:%M:%SZ")
    value = "unknown" if avg.intensity_g_per_kwh is None else f"{avg.intensity_g_per_kwh:.1f}"
    label = "intensity_g_per_kwh" if instant else "intensity_g_per_kwh (time-weighted)"
    print(f"zone: {zone}", file=out)
    print(f"time: {when}", file=out)
    print(f"{label}: {value}", file=out)
    if avg.gaps:
        print(f"not covered: {sum(g.duration_s for g in avg.gaps):.0f} s in {len(avg.gaps)} gap(s)", file=out)
    print("figures:", file=out)
    shown = points if len(points) <= 48 else points[:24] + points[-24:]
    for p in shown:
        print(
            f"  {_figure_when(p)}  "
            f"intensity_g_per_kwh={p.intensity_g_per_kwh:.1f}  {p.kind}/{p.signal.value}  "
            f"{p.provider} ({p.origin.value})"
            + (f"  fallback_from={p.fallback_from}" if p.fallback_from else ""),
            file=out,
        )
    if len(points) > len(shown):
        print(f"  ... {len(points) - len(shown)} more (use --json for all)", file=out)
    for src in dict.fromkeys((p.source, p.year) for p in points):
        print(f"source: {src[0]}" + (f" (data year {src[1]})" if src[1] else ""), file=out)
    for ds in dict.fromkeys((p.dataset_version, p.dataset_hash) for p in points if p.dataset_hash):
        print(f"dataset: {ds[0]} sha256 {ds[1]}", file=out)
    flags = list(dict.fromkeys(f for p in points for f in p.flags))
    if flags:
        print(f"flags: {', '.join(flags)}", file=out)
    for e in errors:
        print(f"provider error: {e}", file=out)
