"""Grid-intensity figures without pydantic: the `Signal` and `Origin` enums and `PointFields`.

Why a module of its own: `carbonguard intensity DE` must start within 150 ms (scale issue), and
importing pydantic and building one model costs most of that on a small CI runner. The embedded
source computes its points here as plain values; they become validated `IntensityPoint`s
(`carbonguard.point_model`) wherever a model is needed: its `series`, JSON output, the ledger.
`carbonguard.models` re-exports everything here, so existing imports keep working.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from carbonguard.point_model import IntensityPoint


def to_utc(value: datetime) -> datetime:
    """Normalise an aware datetime to UTC; naive datetimes are refused by the field types."""
    return value.astimezone(timezone.utc)


class Signal(str, Enum):
    AVERAGE = "average"
    MARGINAL = "marginal"


class Origin(str, Enum):
    """Where a figure came from at run time: a live API, the on-disk cache, or the embedded data."""

    LIVE = "live"
    CACHE = "cache"
    EMBEDDED = "embedded"


class PointFields(NamedTuple):
    """The fields of an `IntensityPoint`, same names, order and defaults, not yet validated.

    Only carbonguard's own code makes these (the embedded source, from its checked dataset); text
    renderers read them as they would a point, and `model()` turns one into the `IntensityPoint`
    that every other use (JSON, accounting, the ledger) gets, validated as before. A test keeps the
    fields equal to the model's.
    """

    zone: str
    start: datetime
    duration_s: int
    intensity_g_per_kwh: float
    provider: str
    origin: Origin
    signal: Signal = Signal.AVERAGE
    kind: str = "actual"
    source: str | None = None
    year: int | None = None
    dataset_version: str | None = None
    dataset_hash: str | None = None
    fallback_from: str | None = None
    flags: tuple[str, ...] = ()

    def model(self) -> IntensityPoint:
        from carbonguard.point_model import IntensityPoint

        return IntensityPoint(**self._asdict())


def as_model(point: Any) -> IntensityPoint:
    """A validated point, whether given one or its `PointFields`."""
    return point.model() if isinstance(point, PointFields) else point
