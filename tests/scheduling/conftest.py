"""Shared helpers: the GB fixture as points and as a series, and minute-grid construction."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from carbonguard.models import IntensityPoint, Origin
from carbonguard.scheduling.series import Series

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "gb-carbon-intensity-2023-05-04.csv"
T0 = datetime(2023, 5, 4, 12, 30, tzinfo=timezone.utc)


def gb_points() -> list[IntensityPoint]:
    with FIXTURE.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        IntensityPoint(
            zone="GB",
            start=datetime.fromisoformat(r["time"].replace("Z", "+00:00")),
            duration_s=1800,
            intensity_g_per_kwh=float(r["intensity"]),
            kind="forecast",
            provider="uk-carbon-intensity",
            origin=Origin.LIVE,
        )
        for r in rows
    ]


@pytest.fixture
def gb_series() -> Series:
    return Series.from_points(gb_points(), "GB")


def minutes(start: datetime, spans: list[tuple[int, int, float]], zone: str = "X") -> Series:
    """A series from (start minute, end minute, value) triples relative to `start`."""
    return Series.from_intervals(
        zone, [(start + timedelta(minutes=a), start + timedelta(minutes=b), v) for a, b, v in spans]
    )
