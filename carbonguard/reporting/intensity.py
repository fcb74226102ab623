"""Results of `carbonguard intensity`: a zone's figures over a window, or the embedded zone list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from carbonguard.points import as_model

if TYPE_CHECKING:
    from carbonguard.intensity.timeseries import Gap
    from carbonguard.models import IntensityPoint
    from carbonguard.points import PointFields


def _z(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class IntensityReport:
    """Time-weighted intensity of one zone over [start, end), with every figure behind it."""

    kind: ClassVar[str] = "intensity"
    zone: str
    start: datetime
    end: datetime
    intensity_g_per_kwh: float | None
    covered_s: float
    window_s: float
    gaps: tuple[Gap, ...]
    points: tuple[IntensityPoint | PointFields, ...]  # fields of embedded figures, validated for JSON
    provider_errors: tuple[str, ...]
    instant: bool

    def json_document(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "start": _z(self.start),
            "end": _z(self.end),
            "intensity_g_per_kwh": self.intensity_g_per_kwh,
            "covered_s": self.covered_s,
            "window_s": self.window_s,
            "gaps": [{"start": g.start.isoformat(), "end": g.end.isoformat()} for g in self.gaps],
            "points": [as_model(p).model_dump(mode="json") for p in self.points],
            "provider_errors": list(self.provider_errors),
        }


@dataclass(frozen=True)
class ZoneFigure:
    zone: str
    name: str
    year: int
    intensity_g_per_kwh: float
    quality: str
    source: str


@dataclass(frozen=True)
class ZoneCatalogue:
    """The embedded dataset's zones, with its version and hash."""

    kind: ClassVar[str] = "zones"
    dataset_version: str
    dataset_hash: str
    zones: tuple[ZoneFigure, ...]
    aliases: int
    cloud_regions: int

    def json_document(self) -> dict[str, Any]:
        return {
            "dataset_version": self.dataset_version,
            "dataset_hash": self.dataset_hash,
            "zones": [{"zone": z.zone, "name": z.name, "year": z.year,
                       "intensity_g_per_kwh": z.intensity_g_per_kwh, "quality": z.quality,
                       "source": z.source} for z in self.zones],
        }
