"""Small builders shared by the intensity and accounting tests."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

from carbonguard.models import ComponentEnergy, EnergyMethod, IntensityPoint, Origin, StageRecord

UTC = timezone.utc
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GB_CSV = FIXTURES / "gb-carbon-intensity-2023-05-04.csv"


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2023, 5, day, hour, minute, second, tzinfo=UTC)


def point(
    start: datetime, minutes: float, value: float, *, provider: str = "test", zone: str = "GB", **kw
) -> IntensityPoint:
    return IntensityPoint(
        zone=zone,
        start=start,
        duration_s=int(minutes * 60),
        intensity_g_per_kwh=value,
        provider=provider,
        origin=kw.pop("origin", Origin.LIVE),
        **kw,
    )


def gb_rows() -> list[tuple[datetime, float]]:
    """(start, gCO2/kWh) of the 96 half-hours in the GB fixture."""
    with GB_CSV.open() as fh:
        return [
            (datetime.fromisoformat(r["time"].replace("Z", "+00:00")), float(r["intensity"]))
            for r in csv.DictReader(fh)
        ]


def gb_points() -> list[IntensityPoint]:
    return [point(t, 30, v, provider="uk-carbon-intensity") for t, v in gb_rows()]


class StaticSource:
    """An IntensitySource over a fixed list of points (what a provider answered)."""

    def __init__(self, points: list[IntensityPoint], name: str = "static") -> None:
        self.points = points
        self.name = name
        self.calls: list[tuple[str, datetime, datetime]] = []

    def series(self, zone: str, start: datetime, end: datetime) -> list[IntensityPoint]:
        self.calls.append((zone, start, end))
        return [p for p in self.points if p.start < end and p.start + timedelta(seconds=p.duration_s) > start]


def gpu(
    kwh: float | None, *, method: str = "counter", uncertainty: float = 0.0, device: str = "gpu0"
) -> ComponentEnergy:
    return ComponentEnergy(
        component="gpu",
        device=device,
        method=EnergyMethod(method),
        energy_kwh=kwh,
        uncertainty_kwh=uncertainty,
        source="test",
    )


def record(
    stage: str, start: datetime, end: datetime, *components: ComponentEnergy, cached: bool = False
) -> StageRecord:
    return StageRecord(
        run_id="run-1",
        flow_name="train-flow",
        stage=stage,
        start=start,
        end=end,
        host="host",
        pid=1,
        cached=cached,
        components=components,
    )
