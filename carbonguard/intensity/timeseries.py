"""Intensity time series: segments, gaps and time-weighted averages over uneven steps, all in UTC.

Providers change step (GB half-hours, 15-minute markets, hourly APIs, annual figures) and leave
holes. Averages here weight each value by how long it held inside the window, report exactly which
points contributed, and list the uncovered stretches instead of pretending they were zero.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from carbonguard.errors import InputError, Problem

if TYPE_CHECKING:  # points are read, never built here: the embedded path stays free of pydantic
    from carbonguard.models import IntensityPoint


def require_utc(value: datetime, what: str) -> datetime:
    """Refuse naive datetimes (their zone is a guess) and normalise aware ones to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(Problem(f"{what} must be timezone-aware (e.g. 2024-05-04T12:00Z)", field_path=what))
    return value.astimezone(timezone.utc)


def point_end(point: IntensityPoint) -> datetime:
    return point.start + timedelta(seconds=point.duration_s)


@dataclass(frozen=True)
class Segment:
    """The stretch of time during which one point's value holds."""

    start: datetime
    end: datetime
    point: IntensityPoint

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Gap:
    """A stretch of the requested window with no figure."""

    start: datetime
    end: datetime

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class WeightedAverage:
    """A time-weighted average and what it rests on: the points used and the stretches not covered."""

    intensity_g_per_kwh: float | None
    covered_s: float
    window_s: float
    points: tuple[IntensityPoint, ...]
    gaps: tuple[Gap, ...]

    @property
    def complete(self) -> bool:
        return not self.gaps


def segments(points: Iterable[IntensityPoint]) -> list[Segment]:
    """Non-overlapping segments, sorted by time.

    Where points overlap, the one that started latest holds while it lasts (a finer or newer figure
    overrides a coarser one for its own duration; the coarser one resumes after it).
    """
    pts = sorted(points, key=lambda p: p.start)
    if not pts:
        return []
    ends = [point_end(p) for p in pts]
    if all(ends[i] <= pts[i + 1].start for i in range(len(pts) - 1)):
        return [Segment(p.start, e, p) for p, e in zip(pts, ends, strict=True)]  # the usual case: nothing overlaps
    bounds = sorted({p.start for p in pts} | {point_end(p) for p in pts})
    heap: list[tuple[float, int, int]] = []
    out: list[Segment] = []
    j = 0
    for b0, b1 in itertools.pairwise(bounds):
        while j < len(pts) and pts[j].start <= b0:
            heapq.heappush(heap, (-pts[j].start.timestamp(), pts[j].duration_s, j))
            j += 1
        while heap and point_end(pts[heap[0][2]]) <= b0:
            heapq.heappop(heap)
        if not heap:
            continue
        p = pts[heap[0][2]]
        if out and out[-1].point is p and out[-1].end == b0:
            out[-1] = Segment(out[-1].start, b1, p)
        else:
            out.append(Segment(b0, b1, p))
    return out


class SegmentIndex:
    """Sorted, non-overlapping segments with their start times, so clipping is O(log n + k).

    Why: accounting prices every record-hour piece of a run against the same series; rebuilding
    the list of starts for each piece made a year of hourly data quadratic (8,760 h: 12 s).
    """

    __slots__ = ("_starts", "segments")

    def __init__(self, segs: Sequence[Segment]) -> None:
        self.segments = list(segs)
        self._starts = [s.start for s in self.segments]

    def clip(self, start: datetime, end: datetime) -> list[Segment]:
        """The parts of the segments that fall inside [start, end)."""
        out = []
        for i in range(max(bisect_right(self._starts, start) - 1, 0), len(self.segments)):
            s = self.segments[i]
            if s.start >= end:
                break
            lo, hi = max(s.start, start), min(s.end, end)
            if hi > lo:
                out.append(Segment(lo, hi, s.point))
        return out


def index(points: Iterable[IntensityPoint] | Sequence[Segment] | SegmentIndex) -> SegmentIndex:
    """A `SegmentIndex` over points or segments; build it once when pricing many windows."""
    if isinstance(points, SegmentIndex):
        return points
    items = list(points)
    if items and isinstance(items[0], Segment):
        return SegmentIndex(items)  # type: ignore[arg-type]
    return SegmentIndex(segments(items))  # type: ignore[arg-type]


def clip_segments(segs: Sequence[Segment] | SegmentIndex, start: datetime, end: datetime) -> list[Segment]:
    """The parts of sorted, non-overlapping segments that fall inside [start, end)."""
    return index(segs).clip(start, end)


def _gaps_in(clipped: Sequence[Segment], start: datetime, end: datetime) -> list[Gap]:
    gaps: list[Gap] = []
    cursor = start
    for s in clipped:
        if s.start > cursor:
            gaps.append(Gap(cursor, s.start))
        cursor = max(cursor, s.end)
    if cursor < end:
        gaps.append(Gap(cursor, end))
    return gaps


def find_gaps(
    points: Iterable[IntensityPoint] | Sequence[Segment] | SegmentIndex, start: datetime, end: datetime
) -> list[Gap]:
    """Stretches of [start, end) that no point covers."""
    return _gaps_in(index(points).clip(start, end), start, end)


def weighted_average(
    points: Iterable[IntensityPoint] | Sequence[Segment] | SegmentIndex, start: datetime, end: datetime
) -> WeightedAverage:
    """Time-weighted mean intensity over the covered part of [start, end), with its gaps listed."""
    start = require_utc(start, "start")
    end = require_utc(end, "end")
    if end <= start:
        raise InputError(
            Problem(f"empty interval: end {end.isoformat()} is not after start", field_path="end")
        )
    clipped = index(points).clip(start, end)
    covered = sum(s.duration_s for s in clipped)
    weighted = sum(s.duration_s * s.point.intensity_g_per_kwh for s in clipped)
    used: list[IntensityPoint] = []
    for s in clipped:
        if not used or used[-1] is not s.point:
            used.append(s.point)
    return WeightedAverage(
        intensity_g_per_kwh=weighted / covered if covered > 0 else None,
        covered_s=covered,
        window_s=(end - start).total_seconds(),
        points=tuple(used),
        gaps=tuple(_gaps_in(clipped, start, end)),
    )


def time_weighted_average(points: Iterable[IntensityPoint], start: datetime, end: datetime) -> float:
    """Time-weighted mean intensity (g/kWh) over [start, end); an uncovered stretch is an error.

    Use `weighted_average` to see which points covered the window and where the gaps are.
    """
    avg = weighted_average(points, start, end)
    if avg.gaps or avg.intensity_g_per_kwh is None:
        where = ", ".join(f"{g.start.isoformat()}..{g.end.isoformat()}" for g in avg.gaps[:3])
        raise InputError(
            Problem(f"intensity series does not cover the window: no figure for {where}", field_path="points")
        )
    return avg.intensity_g_per_kwh


def resample(
    points: Iterable[IntensityPoint], start: datetime, end: datetime, step_s: int
) -> list[IntensityPoint]:
    """Time-weighted averages on a regular grid (e.g. 30-minute data onto 15-minute steps).

    Steps with no coverage are left out rather than invented; partially covered steps average the
    covered part and carry the flag `partial-coverage`.
    """
    if step_s <= 0:
        raise InputError(Problem("step_s must be positive", field_path="step_s"))
    segs = index(points)
    out: list[IntensityPoint] = []
    t = require_utc(start, "start")
    end = require_utc(end, "end")
    while t < end:
        t_end = min(t + timedelta(seconds=step_s), end)
        avg = weighted_average(segs, t, t_end)
        if avg.intensity_g_per_kwh is not None:
            first = avg.points[0]
            flags = tuple(dict.fromkeys(f for p in avg.points for f in p.flags))
            if avg.gaps:
                flags += ("partial-coverage",)
            out.append(
                first.model_copy(
                    update={
                        "start": t,
                        "duration_s": int((t_end - t).total_seconds()),
                        "intensity_g_per_kwh": avg.intensity_g_per_kwh,
                        "flags": flags,
                    }
                )
            )
        t = t_end
    return out
