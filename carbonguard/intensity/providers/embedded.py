"""The offline source: annual averages from the embedded dataset, one point per calendar year.

This is the default and the last resort of every chain. It never needs the network, its figures
carry the dataset version and hash, and an unknown zone is refused or answered with the world
average flagged `world-average-fallback`, as the settings say; never silently.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Literal

from carbonguard.intensity.dataset import WORLD_ZONE, AnnualFigure, load_dataset
from carbonguard.intensity.errors import UnknownZoneError
from carbonguard.intensity.timeseries import require_utc
from carbonguard.intensity.zones import canonical_zone, cloud_region, lookup_zone
from carbonguard.points import Origin, PointFields, Signal

if TYPE_CHECKING:
    from carbonguard.models import IntensityPoint

_CLOUD_ZONE = re.compile(r"^(AWS|GCP|AZURE):(.+)$", re.IGNORECASE)
STALE_AFTER_YEARS = 2
"""A figure whose data year is more than this many years before the year it prices is flagged."""


def stale_flag(data_year: int, priced_year: int) -> str | None:
    """`stale-data:<data year>` when an annual figure is older than the year it prices by > 2 years.

    Grid intensity moves by tens of percent in a few years (OWID/Ember 2021 -> 2023: Finland
    -46 %, Netherlands -31 %), so an old figure is a fact the gate (rule `intensity.stale`) and
    reports should see; the figure itself is still served.
    """
    return f"stale-data:{data_year}" if priced_year - data_year > STALE_AFTER_YEARS else None


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    return datetime(year, 1, 1, tzinfo=timezone.utc), datetime(year + 1, 1, 1, tzinfo=timezone.utc)


class EmbeddedSource:
    """Annual grid averages shipped with carbonguard (see docs/data-sources.md)."""

    name = "embedded"

    def __init__(
        self,
        *,
        unknown_zone: Literal["block", "warn"] = "block",
        signal: Literal["average", "marginal"] = "average",
    ) -> None:
        self.unknown_zone = unknown_zone
        self.signal = signal
        self.data = load_dataset()

    def figure(self, zone: str) -> tuple[AnnualFigure, str, tuple[str, ...]]:
        """The annual figure for a zone, the zone it is recorded under, and the flags of the lookup."""
        z = canonical_zone(zone)
        m = _CLOUD_ZONE.match(z)
        if m:
            region = cloud_region(m.group(1), m.group(2))
            if region.provider_intensity_g_per_kwh is not None and region.provider_year is not None:
                fig = AnnualFigure(
                    zone=f"{region.provider.upper()}:{region.region.upper()}",
                    name=f"{region.provider} {region.region} ({region.location})",
                    year=region.provider_year,
                    intensity_g_per_kwh=region.provider_intensity_g_per_kwh,
                    source=region.provider_source or region.provider,
                    licence="",
                    quality="published",
                )
                return fig, fig.zone, ("cloud-provider-figure",)
            found = lookup_zone(region.zone)
            flags = (f"cloud-region:{region.provider}:{region.region}->{region.zone}", *found.flags)
            if found.zone is not None:
                return self.data.annual[found.zone], found.zone, flags
            return self._unknown(z, flags)
        found = lookup_zone(z)
        if found.zone is not None:
            return self.data.annual[found.zone], found.zone, found.flags
        return self._unknown(z, ())

    def _unknown(self, zone: str, flags: tuple[str, ...]) -> tuple[AnnualFigure, str, tuple[str, ...]]:
        if self.unknown_zone == "block":
            raise UnknownZoneError(zone)
        world = self.data.annual[WORLD_ZONE]
        return world, zone, (*flags, "world-average-fallback", f"unknown-zone:{zone}")

    def series(self, zone: str, start: datetime, end: datetime) -> list[IntensityPoint]:
        """One `annual` point per calendar year that [start, end) touches, all with the same figure."""
        return [p.model() for p in self.annual_points(zone, start, end)]

    def annual_points(self, zone: str, start: datetime, end: datetime) -> list[PointFields]:
        """What `series` returns, as plain fields: `carbonguard intensity` prints them without pydantic."""
        start = require_utc(start, "start")
        end = require_utc(end, "end")
        fig, recorded_zone, flags = self.figure(zone)
        if fig.quality != "published":
            flags = (*flags, f"quality:{fig.quality}")
        if self.signal == "marginal":
            flags = (*flags, "signal-average-instead-of-marginal")
        last_year = (end - timedelta(microseconds=1)).year if end > start else start.year
        points = []
        for year in range(start.year, last_year + 1):
            y0, y1 = _year_bounds(year)
            stale = stale_flag(fig.year, year)
            points.append(
                PointFields(
                    zone=recorded_zone,
                    start=y0,
                    duration_s=int((y1 - y0).total_seconds()),
                    intensity_g_per_kwh=fig.intensity_g_per_kwh,
                    signal=Signal.AVERAGE,
                    kind="annual",
                    provider=self.name,
                    origin=Origin.EMBEDDED,
                    source=fig.source,
                    year=fig.year,
                    dataset_version=self.data.version,
                    dataset_hash=self.data.sha256,
                    flags=(*flags, stale) if stale else flags,
                )
            )
        return points


def residual_mix_series(zone: str, start: datetime, end: datetime) -> list[IntensityPoint]:
    """Residual-mix factors for market-based accounting, flagged `residual-mix` and by quality.

    Residual mixes (AIB for European countries) are what a consumer without certificates is
    supplied with; they are a different signal from the grid average and never replace it in
    location-based figures. Raises InputError when no residual mix is embedded for the zone.
    """
    from carbonguard.errors import InputError, Problem
    from carbonguard.models import IntensityPoint

    start = require_utc(start, "start")
    end = require_utc(end, "end")
    data = load_dataset()
    found = lookup_zone(zone)
    fig = data.residual.get(found.zone or canonical_zone(zone))
    if fig is None:
        raise InputError(
            Problem(
                f"no residual mix embedded for zone {zone!r}; "
                f"zones with one: {', '.join(sorted(data.residual))}",
                source="spec.intensity",
                field_path="zone",
            )
        )
    last_year = (end - timedelta(microseconds=1)).year if end > start else start.year
    flags = ("residual-mix", *found.flags) + (
        (f"quality:{fig.quality}",) if fig.quality != "published" else ()
    )
    out = []
    for year in range(start.year, last_year + 1):
        y0, y1 = _year_bounds(year)
        stale = stale_flag(fig.year, year)
        out.append(
            IntensityPoint(
                zone=fig.zone,
                start=y0,
                duration_s=int((y1 - y0).total_seconds()),
                intensity_g_per_kwh=fig.intensity_g_per_kwh,
                signal=Signal.AVERAGE,
                kind="annual",
                provider="embedded",
                origin=Origin.EMBEDDED,
                source=fig.source,
                year=fig.year,
                dataset_version=data.version,
                dataset_hash=data.sha256,
                flags=(*flags, stale) if stale else flags,
            )
        )
    return out
