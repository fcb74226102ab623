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
from datetime import datetime, timedelta, timezone
from typing import Any

from carbonguard.cli.output import add_output_arguments, emit, output_targets

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
    when.add_argument("--at", metavar="TIME", help="instant, ISO 8601 with offset (default: now)")
    when.add_argument("--start", metavar="TIME", help="window start, ISO 8601 with offset (needs --end)")
    p.add_argument("--end", metavar="TIME", help="window end, ISO 8601 with offset")
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
    add_output_arguments(p, "intensity")
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


def _zone_catalogue() -> Any:
    from carbonguard.intensity.dataset import load_dataset
    from carbonguard.reporting.intensity import ZoneCatalogue, ZoneFigure

    data = load_dataset()
    zones = tuple(
        ZoneFigure(f.zone, f.name, f.year, f.intensity_g_per_kwh, f.quality, f.source)
        for f in sorted(data.annual.values(), key=lambda f: f.zone)
    )
    return ZoneCatalogue(data.version, data.sha256, zones, len(data.aliases), len(data.cloud_regions))


def _embedded_points(args: argparse.Namespace, zone: str, start: datetime, end: datetime) -> tuple[list, tuple]:
    """The default: the source `build_source` makes for an embedded-only chain, its points as plain
    fields. No settings model and no pydantic, so `carbonguard intensity DE` starts fast (scale issue);
    the JSON output validates them as `IntensityPoint`s, as every other path does."""
    from carbonguard.intensity.providers.embedded import EmbeddedSource

    source = EmbeddedSource(unknown_zone=args.unknown_zone, signal=args.signal)
    return source.annual_points(zone, start, end), ()


def _chain_points(args: argparse.Namespace, providers: tuple[str, ...], zone: str, start: datetime,
                  end: datetime) -> tuple[list, tuple]:
    """Points from the configured chain (live providers, cache, fallback), and the providers' errors."""
    from carbonguard.cli.progress import RetryProgress
    from carbonguard.intensity import build_source
    from carbonguard.intensity.settings import IntensitySettings

    settings = IntensitySettings(
        providers=providers,
        signal=args.signal,
        unknown_zone=args.unknown_zone,
        cache_ttl_s=0 if args.no_cache else IntensitySettings().cache_ttl_s,
    )
    with RetryProgress() as on_retry:
        source = build_source(settings, cache_dir=args.cache_dir, on_retry=on_retry)
        points = source.series(zone, start, end)
    return points, tuple(str(e) for e in getattr(source, "errors", []))


def run(args: argparse.Namespace) -> int:
    from carbonguard.errors import InputError, Problem

    targets = output_targets(args)
    if args.list_zones:
        emit(targets, _zone_catalogue())
        return 0
    if args.end and not args.start:
        raise InputError(Problem("--end needs --start", source="command line", field_path="--end"))
    if args.start and not args.end:
        raise InputError(Problem("--start needs --end", source="command line", field_path="--start"))

    from carbonguard.intensity.timeseries import weighted_average
    from carbonguard.intensity.zones import resolve_zone
    from carbonguard.reporting.intensity import IntensityReport

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

    providers = tuple(args.provider or ("embedded",))
    if providers == ("embedded",):
        points, errors = _embedded_points(args, zone, start, end)
    else:
        points, errors = _chain_points(args, providers, zone, start, end)
    avg = weighted_average(points, start, end)
    emit(targets, IntensityReport(
        zone=zone, start=start, end=end, intensity_g_per_kwh=avg.intensity_g_per_kwh,
        covered_s=avg.covered_s, window_s=avg.window_s, gaps=avg.gaps, points=tuple(points),
        provider_errors=errors, instant=not args.start,
    ))
    return 0
