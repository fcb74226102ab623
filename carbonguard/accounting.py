"""Energy x PUE x grid intensity, hour by hour: the location-based footprint of a run.

Each record's measured energy is spread uniformly over its [start, end] and split at UTC clock
hours; each piece is multiplied by the time-weighted intensity of exactly the stretch it covers, so
a stage that ran 12:40-13:20 is charged 12:40-13:00 at that hour's figures and 13:00-13:20 at the
next. Facility energy is IT energy x PUE (GHG Protocol Scope 2, location-based). Upper bounds add
each reading's uncertainty band. Unavailable readings are counted, never turned into 0; cached task
runs did no work and contribute nothing. Stretches with no intensity figure leave that hour's CO2e
unknown (None) and flag `intensity-gap`, so the gate's rules decide what that means.

Pure: intensity points come in as values (the caller fetches them for `intensity_span(records)`
from whatever source the policy names), so the same records and points always give the same
footprint, with no network or clock involved.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from carbonguard.errors import InputError, Problem
from carbonguard.intensity.timeseries import index
from carbonguard.models import (
    EnergyMethod,
    HourlyBucket,
    IntensityPoint,
    JudgedRecords,
    Origin,
    RunFootprint,
    StageFootprint,
    StageRecords,
    StageRow,
    from_us,
    stage_rows,
    to_us,
)

_US = 1_000_000  # microseconds per second: times are whole microseconds since the epoch (UTC)
_HOUR_US = 3600 * _US
_INSTANT_US = _US  # window used to price a zero-length record at its instant
_PASS_THROUGH_FLAGS = ("world-average-fallback", "signal-average-instead-of-marginal", "quality:approximate")
_ESTIMATED = EnergyMethod.ESTIMATED
_UNAVAILABLE = EnergyMethod.UNAVAILABLE


@dataclass(slots=True)
class _Sum:
    """Running totals for one hour or one stage: each piece adds its IT energy, its facility energy
    (x PUE) and upper bound, and, where its intensity is known, their CO2e, intensity x seconds and
    its seconds; an unknown intensity makes the CO2e unknown."""

    it_energy_kwh: float = 0.0
    energy_kwh: float = 0.0
    energy_upper_kwh: float = 0.0
    co2e_g: float = 0.0
    co2e_upper_g: float = 0.0
    co2_known: bool = True
    weighted_intensity: float = 0.0  # intensity x seconds, for hours without energy
    seconds: float = 0.0

    @property
    def co2e_kg(self) -> float | None:
        return self.co2e_g / 1000.0 if self.co2_known else None

    @property
    def co2e_upper_kg(self) -> float | None:
        return self.co2e_upper_g / 1000.0 if self.co2_known else None

    @property
    def intensity_g_per_kwh(self) -> float | None:
        if not self.co2_known:
            return None
        if self.energy_kwh > 0:
            return self.co2e_g / self.energy_kwh
        return self.weighted_intensity / self.seconds if self.seconds > 0 else None


def _pieces(row: StageRow) -> list[tuple[int, int, float]]:
    """[start, end) pieces of a record split at clock hours (microseconds), with their share of
    its duration."""
    start, end = row.start_us, row.end_us
    if end < start:
        raise InputError(
            Problem(
                f"stage {row.stage!r} ends ({from_us(end).isoformat()}) before it starts",
                field_path="end",
            )
        )
    if end == start:
        return [(start, start + _INSTANT_US, 1.0)]
    total = (end - start) / _US  # the same floats as timedelta.total_seconds()
    if end - (start - start % _HOUR_US) <= _HOUR_US:  # inside one clock hour: the usual case
        return [(start, end, ((end - start) / _US) / total)]
    out = []
    t = start
    while t < end:
        t_next = min(t - t % _HOUR_US + _HOUR_US, end)
        out.append((t, t_next, ((t_next - t) / _US) / total))
        t = t_next
    return out


def intensity_span(records: StageRecords) -> tuple[datetime, datetime] | None:
    """The stretch of time whose intensity `compute_footprint` needs for these records (None: none)."""
    lo = hi = None
    for row in stage_rows(records):
        if row.cached:
            continue
        if row.end_us < row.start_us:
            _pieces(row)  # raises: the record ends before it starts
        first = row.start_us
        last = row.start_us + _INSTANT_US if row.end_us == row.start_us else row.end_us
        lo = first if lo is None or first < lo else lo
        hi = last if hi is None or last > hi else hi
    return None if lo is None or hi is None else (from_us(lo), from_us(hi))


def zone_mismatch(records: StageRecords, zone: str) -> tuple[str, ...]:
    """Zones that stages say they ran in, other than `zone` (after aliases): the CO2e would be wrong."""
    from carbonguard.intensity.zones import canonical_zone, lookup_zone

    def normal(code: str) -> str:
        return lookup_zone(code).zone or canonical_zone(code)

    zones = {r.zone for r in records if r.zone}  # each distinct zone looked up once
    return tuple(sorted({normal(z) for z in zones} - {normal(zone)}))


class _Prices:
    """The intensity of each record-hour piece, from the points' segments in whole microseconds.

    A run's pieces mostly repeat (stages of one hour, whole hours of long stages), so each distinct
    [lo, hi) is clipped and averaged once; the arithmetic is that of `SegmentIndex.clip` and the
    time-weighted mean over the clipped segments, so the figures are the same bit for bit.
    """

    def __init__(self, points: Sequence[IntensityPoint]) -> None:
        segs = index(points).segments
        self.starts = [to_us(s.start) for s in segs]
        self.ends = [to_us(s.end) for s in segs]
        self.points = [s.point for s in segs]
        self.cache: dict[tuple[int, int], tuple[float | None, list[tuple[IntensityPoint, float]]]] = {}

    def price(self, lo: int, hi: int) -> tuple[float | None, list[tuple[IntensityPoint, float]]]:
        """(time-weighted intensity over [lo, hi), None unless fully covered; (point, seconds) used)."""
        hit = self.cache.get((lo, hi))
        if hit is not None:
            return hit
        clipped = []  # (start, end, point) inside [lo, hi)
        starts, ends, points = self.starts, self.ends, self.points
        for i in range(max(bisect_right(starts, lo) - 1, 0), len(starts)):
            s_start = starts[i]
            if s_start >= hi:
                break
            a, b = max(s_start, lo), min(ends[i], hi)
            if b > a:
                clipped.append((a, b, points[i]))
        used = [(p, (b - a) / _US) for a, b, p in clipped]
        complete = bool(clipped) and clipped[0][0] == lo and clipped[-1][1] == hi and all(
            x[1] == y[0] for x, y in pairwise(clipped))
        intensity = None
        if complete:
            covered = sum(d for _, d in used)
            intensity = sum(d * p.intensity_g_per_kwh for p, d in used) / covered
        result = self.cache[(lo, hi)] = (intensity, used)
        return result


def compute_footprint(
    records: StageRecords,
    *,
    run_id: str,
    zone: str,
    pue: float,
    points: Sequence[IntensityPoint],
    judged: JudgedRecords | None = None,
) -> RunFootprint:
    """Location-based footprint of the records, by clock hour and by stage, with every figure used.

    `records`: stage records or their compact rows (`models.StageRow`, what the gate loads).
    `points` should cover `intensity_span(records)`; stretches they leave uncovered are gaps.
    `judged`: the digest of the records' ledger hashes (set by `assess`), carried as provenance.
    """
    if not pue >= 1.0:
        raise InputError(Problem(f"PUE must be at least 1.0, got {pue!r}", field_path="pue"))
    rows = stage_rows(records)
    active = [r for r in rows if not r.cached]
    flags: list[str] = []
    if len(active) < len(rows):
        flags.append("cached-records-skipped")
    methods = [c.method for r in active for c in r.readings]  # one pass; `count` compares with ==
    estimated, unavailable = methods.count(_ESTIMATED), methods.count(_UNAVAILABLE)
    if estimated:
        flags.append("estimated-energy")
    if unavailable:
        flags.append("unavailable-energy")
    if not rows:
        flags.append("no-stage-records")
    mismatch = zone_mismatch(rows, zone)
    if not active:
        return RunFootprint(
            run_id=run_id,
            zone=zone,
            pue=pue,
            it_energy_kwh=0.0,
            energy_kwh=0.0,
            energy_upper_kwh=0.0,
            co2e_kg=0.0 if rows else None,
            co2e_upper_kg=0.0 if rows else None,
            judged_records=judged,
            zone_mismatch=mismatch,
            flags=tuple(flags),
        )

    for r in active:  # every record checked before any is priced (and before the points are)
        if r.end_us < r.start_us:
            _pieces(r)  # raises: the record ends before it starts
    prices = _Prices(points)  # built once: every record-hour piece is priced against it
    price = prices.price

    hours: dict[int, _Sum] = {}
    stages: dict[str, _Sum] = {}
    stage_records: dict[str, int] = {}
    stage_estimated: dict[str, int] = {}
    stage_unavailable: dict[str, int] = {}
    used: dict[IntensityPoint, IntensityPoint] = {}  # equal figures from distinct objects count once
    by_id: dict[int, IntensityPoint] = {}  # hashing a point hashes all its fields: do it once per object
    point_seconds: dict[int, dict[int, float]] = {}
    gap = False

    # The loop is the per-record cost of a large run's gate: the sums are updated in it directly (no
    # call per piece), and a record inside one clock hour is its own single piece. Every sum keeps
    # the order and operations of the reference (tests/accounting/reference.py), bit for bit.
    for record in active:
        readings = record.readings
        # the same sums, in the same order, as StageRecord.energy_kwh and the readings' upper_kwh
        it_kwh = sum([c.energy_kwh for c in readings if c.energy_kwh is not None])
        upper_kwh = sum([c.energy_kwh + c.uncertainty_kwh for c in readings if c.energy_kwh is not None])
        name = record.stage
        stage = stages.get(name)
        if stage is None:
            stage = stages[name] = _Sum()
            stage_records[name] = stage_estimated[name] = stage_unavailable[name] = 0
        stage_records[name] += 1
        for c in readings:
            if c.method == _ESTIMATED:
                stage_estimated[name] += 1
            elif c.method == _UNAVAILABLE:
                stage_unavailable[name] += 1
        start, end = record.start_us, record.end_us
        if start < end and end - (start - start % _HOUR_US) <= _HOUR_US:
            # `_pieces`' single piece: its share, d / d for d = (end - start) / 10**6 > 0, is exactly 1.0
            record_pieces: Sequence[tuple[int, int, float]] = ((start, end, 1.0),)
        else:
            record_pieces = _pieces(record)
        for lo, hi, share in record_pieces:
            intensity, clipped = price(lo, hi)
            seconds = (hi - lo) / _US
            hour = lo - lo % _HOUR_US
            bucket = hours.get(hour)
            if bucket is None:
                bucket = hours[hour] = _Sum()
            piece_kwh, piece_upper_kwh = it_kwh * share, upper_kwh * share
            facility, facility_upper = piece_kwh * pue, piece_upper_kwh * pue
            bucket.it_energy_kwh += piece_kwh
            bucket.energy_kwh += facility
            bucket.energy_upper_kwh += facility_upper
            stage.it_energy_kwh += piece_kwh
            stage.energy_kwh += facility
            stage.energy_upper_kwh += facility_upper
            if intensity is None:
                gap = True
                bucket.co2_known = stage.co2_known = False
            else:
                co2e, co2e_upper, weighted = facility * intensity, facility_upper * intensity, intensity * seconds
                bucket.co2e_g += co2e
                bucket.co2e_upper_g += co2e_upper
                bucket.weighted_intensity += weighted
                bucket.seconds += seconds
                stage.co2e_g += co2e
                stage.co2e_upper_g += co2e_upper
                stage.weighted_intensity += weighted
                stage.seconds += seconds
            per_hour = point_seconds.get(hour)
            if per_hour is None:
                per_hour = point_seconds[hour] = {}
            for point, duration_s in clipped:
                key = by_id.get(id(point))
                if key is None:
                    key = by_id[id(point)] = used.setdefault(point, point)
                per_hour[id(key)] = per_hour.get(id(key), 0.0) + duration_s  # keyed by the canonical object

    buckets = []
    canonical = {id(p): p for p in used.values()}
    for hour in sorted(hours):
        s = hours[hour]
        dominant = None
        if point_seconds.get(hour):
            dominant = canonical[max(point_seconds[hour].items(), key=lambda kv: kv[1])[0]]
        buckets.append(
            HourlyBucket(
                hour_start=from_us(hour),
                energy_kwh=s.energy_kwh,
                energy_upper_kwh=s.energy_upper_kwh,
                intensity_g_per_kwh=s.intensity_g_per_kwh,
                co2e_kg=s.co2e_kg,
                co2e_upper_kg=s.co2e_upper_kg,
                intensity_provider=dominant.provider if dominant else None,
                intensity_origin=Origin(dominant.origin) if dominant else None,
            )
        )

    stage_footprints = tuple(
        StageFootprint(
            stage=name,
            records=stage_records[name],
            it_energy_kwh=s.it_energy_kwh,
            energy_kwh=s.energy_kwh,
            energy_upper_kwh=s.energy_upper_kwh,
            co2e_kg=s.co2e_kg,
            co2e_upper_kg=s.co2e_upper_kg,
            estimated_components=stage_estimated[name],
            unavailable_components=stage_unavailable[name],
        )
        for name, s in stages.items()
    )

    sources_used = sorted(used.values(), key=lambda p: (p.start, p.provider))
    point_flags = {f for p in sources_used for f in p.flags}
    if gap or "intensity-gap-filled" in point_flags:
        flags.append("intensity-gap")
    if any(p.fallback_from for p in sources_used):
        flags.append("intensity-fallback")
    flags += [f for f in _PASS_THROUGH_FLAGS if f in point_flags]
    flags += sorted(
        f for f in point_flags if f.startswith(("zone-alias:", "unknown-zone:", "cloud-region:", "stale-data:"))
    )

    known = all(b.co2e_kg is not None for b in buckets)
    total = sum(s.co2e_g for s in hours.values()) / 1000.0
    total_upper = sum(s.co2e_upper_g for s in hours.values()) / 1000.0
    return RunFootprint(
        run_id=run_id,
        zone=zone,
        pue=pue,
        start=from_us(min(r.start_us for r in active)),
        end=from_us(max(r.end_us for r in active)),
        it_energy_kwh=sum(s.it_energy_kwh for s in hours.values()),
        energy_kwh=sum(s.energy_kwh for s in hours.values()),
        energy_upper_kwh=sum(s.energy_upper_kwh for s in hours.values()),
        co2e_kg=total if known else None,
        co2e_upper_kg=total_upper if known else None,
        hourly=tuple(buckets),
        stages=stage_footprints,
        intensity_sources=tuple(sources_used),
        estimated_components=estimated,
        unavailable_components=unavailable,
        judged_records=judged,
        zone_mismatch=mismatch,
        flags=tuple(dict.fromkeys(flags)),
    )
