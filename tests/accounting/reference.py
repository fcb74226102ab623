"""The attribution and accounting as first written (commit 21f0bb7), verbatim: the reference.

Why kept: the gate's versions (`metering.attribution`, `accounting`) were rewritten for runs of
100,000 stages (compact rows, integer microseconds, one price per distinct piece) and must give the
same figures bit for bit; tests/accounting/test_reference_equivalence.py compares them on random
inputs, and benchmarks/ledger_scale.py (--big-run) runs this path as "before". Straightforward
rather than fast: a pydantic copy per apportioned reading, datetimes throughout.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import pairwise

from carbonguard.errors import InputError, Problem
from carbonguard.intensity.timeseries import index
from carbonguard.models import (
    ComponentEnergy,
    EnergyMethod,
    HourlyBucket,
    IntensityPoint,
    Origin,
    RunFootprint,
    StageFootprint,
    StageRecord,
)

APPORTIONED = "apportioned"


def is_host_wide(component: ComponentEnergy) -> bool:
    """GPU and RAPL readings are host-wide; process estimates belong to one process."""
    device = component.device
    return not (device == "process" or device.startswith("process:"))


def _sharing_key(record: StageRecord, component: ComponentEnergy) -> tuple[str, str, str]:
    """Which readings see the same joules: host-wide devices per host, process estimates per process.

    The component kind is part of the key: a process's CPU and DRAM estimates share the device name
    `process` but measure different things.
    """
    device = component.device if is_host_wide(component) else f"{component.device}@pid:{record.pid}"
    return (record.host, component.component, device)


def attribute_shared_devices(records: Sequence[StageRecord]) -> list[StageRecord]:
    """Apportion overlapping readings of each shared device; returns records in the input order."""
    # (host, device) -> [(record index, component index, start_s, end_s, energy_kwh)]
    groups: dict[tuple[str, str, str], list[tuple[int, int, float, float, float]]] = defaultdict(list)
    for ri, record in enumerate(records):
        start_s, end_s = record.start.timestamp(), record.end.timestamp()
        if end_s <= start_s:
            continue  # a zero-length window overlaps nothing and keeps its reading
        for ci, comp in enumerate(record.components):
            if comp.energy_kwh is None or comp.method == EnergyMethod.UNAVAILABLE:
                continue
            groups[_sharing_key(record, comp)].append((ri, ci, start_s, end_s, comp.energy_kwh))

    new_energy: dict[tuple[int, int], float] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        for (ri, ci), kwh in _split(members).items():
            new_energy[(ri, ci)] = kwh

    out: list[StageRecord] = []
    for ri, record in enumerate(records):
        changed = [
            (ci, new_energy[(ri, ci)]) for ci in range(len(record.components)) if (ri, ci) in new_energy
        ]
        if not changed:
            out.append(record)
            continue
        comps = list(record.components)
        for ci, kwh in changed:
            comps[ci] = _apportion(comps[ci], kwh)
        out.append(record.model_copy(update={"components": tuple(comps)}))
    return out


def _split(members: list[tuple[int, int, float, float, float]]) -> dict[tuple[int, int], float]:
    """Energy of each overlapping member under the rule; members alone everywhere are left out."""
    cuts = sorted({t for m in members for t in (m[2], m[3])})
    power = {(m[0], m[1]): m[4] / (m[3] - m[2]) for m in members}
    share: dict[tuple[int, int], float] = defaultdict(float)
    overlapped: set[tuple[int, int]] = set()
    # Sweep: members sorted by start; the active set changes only at cuts.
    by_start = sorted(members, key=lambda m: m[2])
    nxt = 0
    active: list[tuple[int, int, float, float, float]] = []
    for a, b in pairwise(cuts):
        while nxt < len(by_start) and by_start[nxt][2] <= a:
            active.append(by_start[nxt])
            nxt += 1
        active = [m for m in active if m[3] > a]
        covering = [m for m in active if m[2] <= a and m[3] >= b]
        if not covering:
            continue
        keys = [(m[0], m[1]) for m in covering]
        mean_w = sum(power[k] for k in keys) / len(keys)
        each = mean_w * (b - a) / len(keys)
        for k in keys:
            share[k] += each
        if len(keys) > 1:
            overlapped.update(keys)
    return {k: share[k] for k in overlapped}


def _apportion(comp: ComponentEnergy, kwh: float) -> ComponentEnergy:
    ratio = kwh / comp.energy_kwh if comp.energy_kwh else 0.0
    flags = comp.flags if APPORTIONED in comp.flags else (*comp.flags, APPORTIONED)
    return comp.model_copy(
        update={
            "energy_kwh": max(kwh, 0.0),
            "uncertainty_kwh": comp.uncertainty_kwh * ratio,
            "shared": True,
            "flags": flags,
        }
    )


_HOUR = timedelta(hours=1)
_INSTANT = timedelta(seconds=1)  # window used to price a zero-length record at its instant
_PASS_THROUGH_FLAGS = ("world-average-fallback", "signal-average-instead-of-marginal", "quality:approximate")


def _floor_hour(t: datetime) -> datetime:
    return t.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


@dataclass
class _Sum:
    """Running totals for one hour or one stage."""

    it_energy_kwh: float = 0.0
    energy_kwh: float = 0.0
    energy_upper_kwh: float = 0.0
    co2e_g: float = 0.0
    co2e_upper_g: float = 0.0
    co2_known: bool = True
    weighted_intensity: float = 0.0  # intensity x seconds, for hours without energy
    seconds: float = 0.0

    def add(
        self, it_kwh: float, upper_it_kwh: float, pue: float, intensity: float | None, seconds: float
    ) -> None:
        facility = it_kwh * pue
        facility_upper = upper_it_kwh * pue
        self.it_energy_kwh += it_kwh
        self.energy_kwh += facility
        self.energy_upper_kwh += facility_upper
        if intensity is None:
            self.co2_known = False
        else:
            self.co2e_g += facility * intensity
            self.co2e_upper_g += facility_upper * intensity
            self.weighted_intensity += intensity * seconds
            self.seconds += seconds

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


def _pieces(record: StageRecord) -> list[tuple[datetime, datetime, float]]:
    """[start, end) pieces of a record split at clock hours, with their share of its duration."""
    if record.end < record.start:
        raise InputError(
            Problem(
                f"stage {record.stage!r} ends ({record.end.isoformat()}) before it starts",
                field_path="end",
            )
        )
    if record.end == record.start:
        return [(record.start, record.start + _INSTANT, 1.0)]
    total = (record.end - record.start).total_seconds()
    out = []
    t = record.start
    while t < record.end:
        t_next = min(_floor_hour(t) + _HOUR, record.end)
        out.append((t, t_next, (t_next - t).total_seconds() / total))
        t = t_next
    return out


def intensity_span(records: Sequence[StageRecord]) -> tuple[datetime, datetime] | None:
    """The stretch of time whose intensity `compute_footprint` needs for these records (None: none)."""
    pieces = [_pieces(r) for r in records if not r.cached]
    if not pieces:
        return None
    return min(p[0][0] for p in pieces), max(p[-1][1] for p in pieces)


def zone_mismatch(records: Sequence[StageRecord], zone: str) -> tuple[str, ...]:
    """Zones that stages say they ran in, other than `zone` (after aliases): the CO2e would be wrong."""
    from carbonguard.intensity.zones import canonical_zone, lookup_zone

    def normal(code: str) -> str:
        return lookup_zone(code).zone or canonical_zone(code)

    return tuple(sorted({normal(r.zone) for r in records if r.zone} - {normal(zone)}))


def compute_footprint(
    records: Sequence[StageRecord],
    *,
    run_id: str,
    zone: str,
    pue: float,
    points: Sequence[IntensityPoint],
    record_hashes: Sequence[str] = (),
) -> RunFootprint:
    """Location-based footprint of the records, by clock hour and by stage, with every figure used.

    `points` should cover `intensity_span(records)`; stretches they leave uncovered are gaps.
    """
    if not pue >= 1.0:
        raise InputError(Problem(f"PUE must be at least 1.0, got {pue!r}", field_path="pue"))
    active = [r for r in records if not r.cached]
    flags: list[str] = []
    if len(active) < len(records):
        flags.append("cached-records-skipped")
    estimated = sum(1 for r in active for c in r.components if c.method == EnergyMethod.ESTIMATED)
    unavailable = sum(1 for r in active for c in r.components if c.method == EnergyMethod.UNAVAILABLE)
    if estimated:
        flags.append("estimated-energy")
    if unavailable:
        flags.append("unavailable-energy")
    if not records:
        flags.append("no-stage-records")
    mismatch = zone_mismatch(records, zone)
    if not active:
        return RunFootprint(
            run_id=run_id,
            zone=zone,
            pue=pue,
            it_energy_kwh=0.0,
            energy_kwh=0.0,
            energy_upper_kwh=0.0,
            co2e_kg=0.0 if records else None,
            co2e_upper_kg=0.0 if records else None,
            record_hashes=tuple(record_hashes),
            zone_mismatch=mismatch,
            flags=tuple(flags),
        )

    pieces = {id(r): _pieces(r) for r in active}
    segs = index(points)  # built once: every record-hour piece is priced against it

    hours: dict[datetime, _Sum] = {}
    stages: dict[str, _Sum] = {}
    stage_records: dict[str, int] = {}
    stage_estimated: dict[str, int] = {}
    stage_unavailable: dict[str, int] = {}
    used: dict[IntensityPoint, IntensityPoint] = {}  # equal figures from distinct objects count once
    by_id: dict[int, IntensityPoint] = {}  # hashing a point hashes all its fields: do it once per object
    point_seconds: dict[datetime, dict[int, float]] = {}
    gap = False

    for record in active:
        it_kwh = record.energy_kwh
        upper_kwh = sum(c.upper_kwh for c in record.components if c.upper_kwh is not None)
        stage = stages.setdefault(record.stage, _Sum())
        stage_records[record.stage] = stage_records.get(record.stage, 0) + 1
        stage_estimated[record.stage] = stage_estimated.get(record.stage, 0) + sum(
            1 for c in record.components if c.method == EnergyMethod.ESTIMATED
        )
        stage_unavailable[record.stage] = stage_unavailable.get(record.stage, 0) + len(record.unavailable)
        for lo, hi, share in pieces[id(record)]:
            clipped = segs.clip(lo, hi)
            seconds = (hi - lo).total_seconds()
            covered = sum(seg.duration_s for seg in clipped)
            complete = bool(clipped) and clipped[0].start == lo and clipped[-1].end == hi and all(
                a.end == b.start for a, b in pairwise(clipped))
            intensity = (sum(seg.duration_s * seg.point.intensity_g_per_kwh for seg in clipped) / covered
                         if complete else None)
            gap = gap or not complete
            hour = _floor_hour(lo)
            bucket = hours.setdefault(hour, _Sum())
            bucket.add(it_kwh * share, upper_kwh * share, pue, intensity, seconds)
            stage.add(it_kwh * share, upper_kwh * share, pue, intensity, seconds)
            per_hour = point_seconds.setdefault(hour, {})
            for seg in clipped:
                key = by_id.get(id(seg.point))
                if key is None:
                    key = by_id[id(seg.point)] = used.setdefault(seg.point, seg.point)
                per_hour[id(key)] = per_hour.get(id(key), 0.0) + seg.duration_s  # keyed by the canonical object

    buckets = []
    canonical = {id(p): p for p in used.values()}
    for hour in sorted(hours):
        s = hours[hour]
        dominant = None
        if point_seconds.get(hour):
            dominant = canonical[max(point_seconds[hour].items(), key=lambda kv: kv[1])[0]]
        buckets.append(
            HourlyBucket(
                hour_start=hour,
                energy_kwh=s.energy_kwh,
                energy_upper_kwh=s.energy_upper_kwh,
                intensity_g_per_kwh=s.intensity_g_per_kwh,
                co2e_kg=s.co2e_kg,
                co2e_upper_kg=s.co2e_upper_kg,
                intensity_provider=dominant.provider if dominant else None,
                intensity_origin=Origin(dominant.origin) if dominant else None,
            )
        )

    stage_rows = tuple(
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
        start=min(r.start for r in active),
        end=max(r.end for r in active),
        it_energy_kwh=sum(s.it_energy_kwh for s in hours.values()),
        energy_kwh=sum(s.energy_kwh for s in hours.values()),
        energy_upper_kwh=sum(s.energy_upper_kwh for s in hours.values()),
        co2e_kg=total if known else None,
        co2e_upper_kg=total_upper if known else None,
        hourly=tuple(buckets),
        stages=stage_rows,
        intensity_sources=tuple(sources_used),
        estimated_components=estimated,
        unavailable_components=unavailable,
        record_hashes=tuple(record_hashes),
        zone_mismatch=mismatch,
        flags=tuple(dict.fromkeys(flags)),
    )
