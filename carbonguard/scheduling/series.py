"""A prepared intensity series: sorted, non-overlapping piecewise-constant segments of one zone.

Times are integer microseconds since the epoch (exact, unlike `datetime.timestamp()`); values are
g/kWh. Arrays are numpy so the window search runs in vectorised O(n); the exact re-check of the
best candidates (see `window.py`) works on the same integers and on `Fraction(value)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np

from carbonguard.intensity.timeseries import require_utc, segments
from carbonguard.models import IntensityPoint

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
FLAT_KINDS = frozenset({"annual"})  # one figure for a whole year says nothing about hours


def to_us(t: datetime) -> int:
    """Microseconds since the epoch: exact, unlike `datetime.timestamp()`."""
    return (require_utc(t, "time") - EPOCH) // _US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(us))


@dataclass(frozen=True, eq=False)
class Series:
    """Segments of one zone: `starts_us`, `ends_us` (int64 microseconds), `values` (float64 g/kWh).

    Gaps between segments are allowed and are never filled. `points` keeps the point behind each
    segment for provenance (empty when built from bare values); `flat_points` are the flat annual
    figures `from_points` left out.
    """

    zone: str
    starts_us: np.ndarray
    ends_us: np.ndarray
    values: np.ndarray
    points: tuple[IntensityPoint, ...] = ()
    flat_points: tuple[IntensityPoint, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        s, e, v = self.starts_us, self.ends_us, self.values
        if not (len(s) == len(e) == len(v)):
            raise ValueError("starts, ends and values must have the same length")
        if s.dtype != np.int64 or e.dtype != np.int64 or v.dtype != np.float64:
            raise ValueError("starts/ends must be int64 microseconds and values float64")
        if len(s) and (np.any(e <= s) or np.any(s[1:] < e[:-1])):
            raise ValueError("segments must be sorted, non-empty and must not overlap")
        if len(v) and (not np.all(np.isfinite(v)) or np.any(v < 0)):
            raise ValueError("values must be finite and non-negative")

    def __len__(self) -> int:
        return len(self.starts_us)

    @property
    def dropped_flat(self) -> int:
        return len(self.flat_points)

    @classmethod
    def from_points(cls, points: Iterable[IntensityPoint], zone: str | None = None) -> Series:
        """Segments of the points (where points overlap, the later-starting one holds, as in
        `intensity.timeseries.segments`), leaving out flat annual figures: an annual average is not a
        forecast, and using it to fill a stretch would extrapolate.
        """
        pts = list(points)
        flat = tuple(p for p in pts if p.kind in FLAT_KINDS)
        segs = segments(p for p in pts if p.kind not in FLAT_KINDS)
        return cls(
            zone=zone or (pts[0].zone if pts else ""),
            starts_us=np.array([to_us(s.start) for s in segs], dtype=np.int64),
            ends_us=np.array([to_us(s.end) for s in segs], dtype=np.int64),
            values=np.array([float(s.point.intensity_g_per_kwh) for s in segs], dtype=np.float64),
            points=tuple(s.point for s in segs),
            flat_points=flat,
        )

    @classmethod
    def regular(cls, zone: str, start: datetime, step_s: int, values: Sequence[float]) -> Series:
        """A gap-free series on a regular grid."""
        t0 = to_us(start)
        step = int(step_s) * 1_000_000
        starts = t0 + step * np.arange(len(values), dtype=np.int64)
        return cls(zone, starts, starts + step, np.asarray(values, dtype=np.float64))

    @classmethod
    def from_intervals(cls, zone: str, intervals: Sequence[tuple[datetime, datetime, float]]) -> Series:
        """Segments from (start, end, g/kWh) triples, sorted and non-overlapping."""
        return cls(
            zone,
            np.array([to_us(a) for a, _, _ in intervals], dtype=np.int64),
            np.array([to_us(b) for _, b, _ in intervals], dtype=np.int64),
            np.array([float(v) for _, _, v in intervals], dtype=np.float64),
        )
