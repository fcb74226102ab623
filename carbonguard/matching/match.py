"""Verify granular certificates and allocate them to a run's hourly consumption. Pure.

Verification: each bundle is judged by the rules below in this order, and the first rule it fails
rejects it (one rejection per bundle, naming its range and the reason):

  matching.unverified      the file's signature does not verify under the key pinned for its registry
  matching.double-listing  its ID range overlaps another bundle's in the same input (both rejected)
  matching.interval        production lasts over one hour or crosses a UTC hour boundary
  matching.zone            zone is neither the run's nor in spec.matching.zones
  matching.status          status is not cancelled or claimed
  matching.beneficiary     beneficiary differs from spec.matching.beneficiary (or the policy names none)
  matching.expiry          no cancellation time, or cancelled at or after expiry
  matching.quantity        (last - first + 1) x face_value differs from the stated bundle_quantity
  matching.capacity        that quantity exceeds device_capacity x interval, where capacity is given
  matching.source          carrier is not electricity, or source is not in the accepted list
  matching.storage         a storage bundle lacks sdr_allocation_id or storage_efficiency_factor

Allocation (deterministic: the same inputs give the same claims): a verified bundle can only match
the clock hour (UTC) its production lies in. Within each hour, ranges this run already holds in the
ledger count first; then bundles in order of (registry, first id), each giving its lowest free ids
first, whole certificates only, until the hour's consumption is covered. A certificate counts
`face_value` Wh, times `storage_efficiency_factor` for storage. No hour takes more than it
consumed (a certificate that would overshoot is left unclaimed), nothing moves between hours, and
ids held by another run are skipped, so the rest of a bundle stays claimable by another run.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import pairwise
from typing import NamedTuple, Protocol

from carbonguard.errors import InputError, Problem
from carbonguard.matching.inputs import CertificateFile, Located
from carbonguard.matching.models import (
    USABLE_STATUSES,
    CertificateUse,
    Claim,
    ClaimedRange,
    HourMatch,
    InstrumentCheck,
    MatchResult,
    OffsetReport,
    Rejection,
)
from carbonguard.matching.table import NONE_US, US_PER_HOUR, from_us, gc_paused, to_us
from carbonguard.policy.models import Matching

ResidualMix = float | Callable[[datetime], float | None] | None


class _Hourly(Protocol):
    hour_start: datetime
    energy_kwh: float


@dataclass(frozen=True)
class _Run:
    run_id: str
    zones: frozenset[str]
    sources: frozenset[str]
    beneficiary: str | None


class _Candidate(NamedTuple):
    """A verified bundle that may match its hour; sorts by (registry, first id)."""

    registry: str
    first: int
    last: int
    unit_wh: float
    zone: str
    energy_source: str
    device_id: str
    storage: bool


def consumption_hours(consumption: Iterable[_Hourly | tuple[datetime, float]]) -> dict[int, float]:
    """Hour start (us since epoch, UTC) -> kWh; refuses naive, off-hour, repeated or negative entries."""
    hours: dict[int, float] = {}
    for index, item in enumerate(consumption):
        start, kwh = (item.hour_start, item.energy_kwh) if hasattr(item, "hour_start") else item  # type: ignore[union-attr]
        where = f"consumption[{index}]"
        if not isinstance(start, datetime) or start.tzinfo is None:
            raise InputError(Problem("hour_start must be a timezone-aware time", field_path=where))
        micros = to_us(start.astimezone(timezone.utc))
        if micros % US_PER_HOUR:
            raise InputError(Problem(f"{start.isoformat()} is not the start of a UTC hour", field_path=where))
        if kwh is None or not isinstance(kwh, (int, float)) or not math.isfinite(kwh) or kwh < 0:
            raise InputError(Problem(f"energy_kwh {kwh!r} must be a finite number >= 0 (never a missing reading)",
                                     field_path=where))
        if micros in hours:
            raise InputError(Problem(f"hour {start.isoformat()} is given twice", field_path=where))
        hours[micros] = float(kwh)
    return hours


def match_certificates(
    consumption: Iterable[_Hourly | tuple[datetime, float]],
    files: Sequence[CertificateFile],
    policy: Matching,
    *,
    run_id: str,
    zone: str,
    residual_g_per_kwh: ResidualMix = None,
    residual_source: str | None = None,
    location_co2e_kg: float | None = None,
    already_claimed: Sequence[ClaimedRange] = (),
) -> MatchResult:
    """Verify every certificate of `files`, allocate the verified ones hour by hour, and score the run.

    `consumption`: the run's hourly facility energy (`RunFootprint.hourly` buckets or
    `(hour_start, kWh)` pairs). `residual_g_per_kwh`: the zone's residual-mix factor, as a number or
    a function of the hour (None when unknown: the market-based figure is then None).
    `already_claimed`: ledger claims overlapping these certificates (this run's count as matched,
    other runs' are skipped).
    """
    with gc_paused():
        return _match(consumption, files, policy, run_id, zone, residual_g_per_kwh, residual_source,
                      location_co2e_kg, already_claimed)


def _match(consumption: Iterable[_Hourly | tuple[datetime, float]], files: Sequence[CertificateFile],
           policy: Matching, run_id: str, zone: str, residual_g_per_kwh: ResidualMix, residual_source: str | None,
           location_co2e_kg: float | None, already_claimed: Sequence[ClaimedRange]) -> MatchResult:
    hours = consumption_hours(consumption)
    run = _Run(run_id, frozenset({zone.upper(), *(z.upper() for z in policy.zones)}),
               frozenset(s.lower() for s in policy.accepted_sources), policy.beneficiary)
    rejected: list[Rejection] = []
    listed_twice = _double_listed(files)
    by_hour: dict[int, list[tuple]] = {}
    unused_wh = 0.0
    for file_index, cert_file in enumerate(files):
        unused_wh += _verify_file(file_index, cert_file, run, hours, listed_twice, by_hour, rejected)

    held = _index_claims(already_claimed)
    claims: list[Claim] = []
    hour_results: list[HourMatch] = []
    consumed_kwh = matched_kwh = 0.0
    market_g = 0.0
    market_known = True
    for hour_us in sorted(hours):
        need_kwh = hours[hour_us]
        hour_start = from_us(hour_us)
        candidates = by_hour.pop(hour_us, [])
        candidates.sort()
        uses, hour_claims, used_wh, left_wh = _allocate_hour(candidates, need_kwh * 1000.0, hour_start, run, held,
                                                             rejected)
        unused_wh += left_wh
        got_kwh = min(used_wh / 1000.0, need_kwh)
        consumed_kwh += need_kwh
        matched_kwh += got_kwh
        claims.extend(hour_claims)
        hour_results.append(HourMatch(hour_start, need_kwh, got_kwh, (got_kwh / need_kwh) if need_kwh > 0 else None,
                                      tuple(uses)))
        unmatched = need_kwh - got_kwh
        if unmatched > 0:
            factor = residual_g_per_kwh(hour_start) if callable(residual_g_per_kwh) else residual_g_per_kwh
            if factor is None:
                market_known = False
            else:
                market_g += unmatched * factor
    for leftover in by_hour.values():  # verified, but in hours the run consumed nothing
        unused_wh += sum((c[2] - c[1] + 1) * c[3] for c in leftover)

    market_kg = market_g / 1000.0 if market_known else None
    years = {from_us(h).year for h, kwh in hours.items() if kwh > 0}
    offsets = _check_instruments(files, policy, years, market_kg)
    return MatchResult(
        run_id=run_id,
        zone=zone,
        cfe_score=(matched_kwh / consumed_kwh) if consumed_kwh > 0 else None,
        consumption_kwh=consumed_kwh,
        matched_kwh=matched_kwh,
        unmatched_kwh=max(consumed_kwh - matched_kwh, 0.0),
        hours=tuple(hour_results),
        rejected=tuple(rejected),
        claims=tuple(claims),
        offsets=offsets,
        location_co2e_kg=location_co2e_kg,
        market_co2e_kg=market_kg,
        residual_mix_source=residual_source,
        unused_certificates_kwh=unused_wh / 1000.0,
        files=tuple(f"{f.source} sha256:{f.sha256}" for f in files),
    )


def _reject(rejected: list[Rejection], cert_file: CertificateFile, i: int, rule_id: str, reason: str,
            first: int | None = None, last: int | None = None) -> None:
    table = cert_file.bundles
    line, path = table.where(i)
    first = table.first[i] if first is None else first
    last = table.last[i] if last is None else last
    rejected.append(Rejection(registry=table.registry[i], range=f"{first}-{last}", rule_id=rule_id,
                                              reason=reason, source=cert_file.source, line=line, path=path))


def _double_listed(files: Sequence[CertificateFile]) -> set[tuple[int, int]]:
    """(file index, row) of every bundle whose id range overlaps another's of the same registry."""
    if _plainly_disjoint(files):
        return set()
    keys: list[tuple[str, int, int, int, int]] = []
    for f_index, cert_file in enumerate(files):
        table = cert_file.bundles
        rows = range(len(table))
        keys.extend(zip(table.registry, table.first, table.last, [f_index] * len(table), rows, strict=True))
    keys.sort()
    flagged: set[tuple[int, int]] = set()
    prev_registry, reach, reach_owner = None, -1, (-1, -1)
    for registry, first, last, f_index, row in keys:
        if registry != prev_registry:
            prev_registry, reach, reach_owner = registry, last, (f_index, row)
            continue
        if first <= reach:
            flagged.add((f_index, row))
            flagged.add(reach_owner)
        if last > reach:
            reach, reach_owner = last, (f_index, row)
    return flagged


def _plainly_disjoint(files: Sequence[CertificateFile]) -> bool:
    """True when no two bundles can overlap, checked in C-speed passes without sorting: each file
    names one registry and lists ascending, disjoint ranges, and no two files' spans overlap.
    (Registry exports are written that way; anything else takes the sorting path.)"""
    spans: list[tuple[str, int, int]] = []
    for cert_file in files:
        t = cert_file.bundles
        if not len(t):
            continue
        registries = set(t.registry)
        if len(registries) != 1:
            return False
        if len(t) > 1 and not all(map(operator.lt, t.last[:-1], t.first[1:])):
            return False
        spans.append((registries.pop(), t.first[0], t.last[-1]))
    spans.sort()
    return not any(a[0] == b[0] and b[1] <= a[2] for a, b in pairwise(spans))


def _verify_file(file_index: int, cert_file: CertificateFile, run: _Run, hours: dict[int, float],
                 listed_twice: set[tuple[int, int]], by_hour: dict[int, list[tuple]],
                 rejected: list[Rejection]) -> float:
    """Judge each bundle of one file; returns the Wh of verified bundles in hours with no consumption."""
    t = cert_file.bundles
    signature = cert_file.signature
    unused_wh = 0.0
    usable = USABLE_STATUSES
    zones, sources, beneficiary_wanted = run.zones, run.sources, run.beneficiary
    unverified: dict[str, str | None] = {}
    reject = _reject
    columns = zip(t.registry, t.first, t.last, t.stated_wh, t.face_wh, t.start_us, t.end_us, t.zone, t.status,
                  t.beneficiary, t.cancelled_us, t.expiry_us, t.capacity_w, t.carrier, t.energy_source, t.storage,
                  strict=True)
    for i, (registry, first, last, stated, face, start, end, zone, status, beneficiary, cancelled, expiry, capacity,
            carrier, source, storage) in enumerate(columns):
        if registry not in unverified:
            unverified[registry] = ("the file's signature was not checked" if signature is None
                                    else signature.reason(registry))
        why = unverified[registry]
        if why is not None:
            reject(rejected, cert_file, i, "matching.unverified", why)
            continue
        if listed_twice and (file_index, i) in listed_twice:
            reject(rejected, cert_file, i, "matching.double-listing",
                   "its certificate ids overlap another bundle of the same registry in the input")
            continue
        hour = start - start % US_PER_HOUR
        if end - start > US_PER_HOUR:
            reject(rejected, cert_file, i, "matching.interval",
                   f"production interval is {(end - start) / 60e6:g} min, over one hour")
            continue
        if end > hour + US_PER_HOUR:
            reject(rejected, cert_file, i, "matching.interval",
                   f"production {from_us(start).isoformat()}..{from_us(end).isoformat()} crosses a UTC hour boundary")
            continue
        if zone not in zones and zone.upper() not in zones:
            reject(rejected, cert_file, i, "matching.zone",
                   f"zone {zone!r} is not the run's zone or one of spec.matching.zones")
            continue
        if status not in usable:
            reject(rejected, cert_file, i, "matching.status", f"status is {status!r}, not cancelled or claimed")
            continue
        if beneficiary_wanted is None:
            reject(rejected, cert_file, i, "matching.beneficiary",
                   "the policy names no beneficiary (spec.matching.beneficiary), so no cancellation can be its")
            continue
        if beneficiary != beneficiary_wanted:
            reject(rejected, cert_file, i, "matching.beneficiary",
                   f"cancelled for {beneficiary!r}, not {beneficiary_wanted!r}")
            continue
        if cancelled == NONE_US:
            reject(rejected, cert_file, i, "matching.expiry",
                   "no cancellation_timestamp, so it cannot be shown to be cancelled before expiry")
            continue
        if cancelled >= expiry:
            reject(rejected, cert_file, i, "matching.expiry",
                   f"cancelled {from_us(cancelled).isoformat()}, not before expiry {from_us(expiry).isoformat()}")
            continue
        count = last - first + 1
        quantity_wh = count * face
        if quantity_wh != stated:
            reject(rejected, cert_file, i, "matching.quantity",
                   f"bundle_quantity states {stated} Wh but {count} ids x {face} Wh = {quantity_wh} Wh")
            continue
        if capacity == capacity and quantity_wh * 3_600_000_000 > capacity * (end - start):
            reject(rejected, cert_file, i, "matching.capacity",
                   f"{quantity_wh} Wh exceeds {capacity:g} W x {(end - start) / 3.6e9:g} h")
            continue
        if carrier != "electricity" and carrier.lower() != "electricity":
            reject(rejected, cert_file, i, "matching.source", f"energy carrier {carrier!r} is not electricity")
            continue
        if source not in sources and source.lower() not in sources:
            reject(rejected, cert_file, i, "matching.source",
                   f"energy source {source!r} is not in the accepted carbon-free sources")
            continue
        unit_wh = float(face)
        if storage:
            efficiency = t.efficiency[i]
            if t.sdr_allocation_id[i] is None or efficiency != efficiency:
                reject(rejected, cert_file, i, "matching.storage",
                       "storage certificate without sdr_allocation_id and storage_efficiency_factor")
                continue
            unit_wh *= efficiency
        if not hours.get(hour):
            unused_wh += count * unit_wh
            continue
        candidates = by_hour.get(hour)
        if candidates is None:
            candidates = by_hour[hour] = []
        # a plain tuple in `_Candidate` field order (cheaper to build than the named tuple)
        candidates.append((registry, first, last, unit_wh, zone, source, t.device_id[i], storage == 1))
    return unused_wh


def _index_claims(claims: Sequence[ClaimedRange]) -> dict[str, tuple[list[int], list[ClaimedRange]]]:
    """Registry -> (ends, ranges) sorted by first id, for bisecting. Ledger claims never overlap."""
    grouped: dict[str, list[ClaimedRange]] = {}
    for claim in claims:
        grouped.setdefault(claim.registry, []).append(claim)
    out = {}
    for registry, ranges in grouped.items():
        ranges.sort(key=lambda c: c.first)
        out[registry] = ([c.last for c in ranges], ranges)
    return out


def _segments(c: _Candidate, held: dict[str, tuple[list[int], list[ClaimedRange]]],
              run_id: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]], list[tuple[int, int, str]]]:
    """Split a candidate's ids into (free, held by this run, held by others) segments, in id order."""
    index = held.get(c.registry)
    if index is None:
        return [(c.first, c.last)], [], []
    ends, ranges = index
    free: list[tuple[int, int]] = []
    mine: list[tuple[int, int]] = []
    others: list[tuple[int, int, str]] = []
    cursor = c.first
    k = bisect_left(ends, c.first)
    while k < len(ranges) and ranges[k].first <= c.last:
        claim = ranges[k]
        lo, hi = max(claim.first, c.first), min(claim.last, c.last)
        if cursor < lo:
            free.append((cursor, lo - 1))
        if claim.run_id == run_id:
            mine.append((lo, hi))
        else:
            others.append((lo, hi, claim.run_id))
        cursor = hi + 1
        k += 1
    if cursor <= c.last:
        free.append((cursor, c.last))
    return free, mine, others


def _allocate_hour(candidates: list[_Candidate], need_wh: float, hour_start: datetime, run: _Run,
                   held: dict[str, tuple[list[int], list[ClaimedRange]]],
                   rejected: list[Rejection]) -> tuple[list[CertificateUse], list[Claim], float, float]:
    """Fill one hour; returns (uses, new claims, Wh used, verified Wh left unused)."""
    if not held:
        return _allocate_free_hour(candidates, need_wh, hour_start, run)
    candidates = [_Candidate(*c) for c in candidates]
    uses: list[CertificateUse] = []
    pending: list[list] = []  # [registry, first, last, zone, energy_wh]
    plans: list[tuple[_Candidate, list[tuple[int, int]]]] = []
    used_wh = 0.0
    offered_wh = 0.0
    for c in candidates:
        offered_wh += (c.last - c.first + 1) * c.unit_wh
        if held:
            free, mine, others = _segments(c, held, run.run_id)
        else:
            free, mine, others = [(c.first, c.last)], [], []
        for lo, hi, holder in others:
            offered_wh -= (hi - lo + 1) * c.unit_wh
            rejected.append(Rejection(
                registry=c.registry, range=f"{lo}-{hi}", rule_id="matching.double-counting",
                reason=f"already claimed by run {holder!r}", source=None, line=None, path=None))
        for lo, hi in mine:  # this run's earlier claims count first
            take = min(hi - lo + 1, _whole(need_wh - used_wh, c.unit_wh))
            if take <= 0:
                continue
            used_wh += take * c.unit_wh
            uses.append(_use(c, lo, lo + take - 1, already=True))
        plans.append((c, free))
    for c, free in plans:
        for lo, hi in free:
            take = min(hi - lo + 1, _whole(need_wh - used_wh, c.unit_wh))
            if take <= 0:
                break
            used_wh += take * c.unit_wh
            uses.append(_use(c, lo, lo + take - 1, already=False))
            _add_claim(pending, c, lo, lo + take - 1)
        if need_wh - used_wh < 1e-9:
            break
    beneficiary = str(run.beneficiary)
    claims = [Claim(registry, first, last, hour_start, zone, beneficiary, run.run_id, energy)
              for registry, first, last, zone, energy in pending]
    return uses, claims, used_wh, max(offered_wh - used_wh, 0.0)


def _allocate_free_hour(candidates: list[_Candidate], need_wh: float, hour_start: datetime,
                        run: _Run) -> tuple[list[CertificateUse], list[Claim], float, float]:
    """`_allocate_hour` when the ledger holds none of these ids: the same rule, one pass (hot path)."""
    uses: list[CertificateUse] = []
    claims: list[Claim] = []
    used_wh = offered_wh = 0.0
    beneficiary, run_id = str(run.beneficiary), run.run_id
    prev: list | None = None  # the claim being extended: [registry, first, last, zone, energy_wh]
    pending: list[list] = []
    for registry, first, last, unit_wh, zone, source, device, storage in candidates:
        count = last - first + 1
        offered_wh += count * unit_wh
        remaining = need_wh - used_wh
        if remaining < unit_wh - 1e-9:
            continue
        take = math.floor(remaining / unit_wh + 1e-9)
        if take > count:
            take = count
        hi = first + take - 1
        energy = take * unit_wh
        used_wh += energy
        uses.append(CertificateUse(registry, f"{first}-{hi}", take, energy / 1000, source, device, storage, False))
        if prev is not None and prev[0] == registry and prev[3] == zone and prev[2] + 1 == first:
            prev[2] = hi
            prev[4] += energy
        else:
            prev = [registry, first, hi, zone, energy]
            pending.append(prev)
    claims = [Claim(registry, first, last, hour_start, zone, beneficiary, run_id, energy)
              for registry, first, last, zone, energy in pending]
    return uses, claims, used_wh, max(offered_wh - used_wh, 0.0)


def _whole(remaining_wh: float, unit_wh: float) -> int:
    """Whole certificates that fit in what the hour still needs (never overshooting)."""
    if remaining_wh <= 0:
        return 0
    return math.floor(remaining_wh / unit_wh + 1e-9)


def _use(c: _Candidate, lo: int, hi: int, *, already: bool) -> CertificateUse:
    return CertificateUse(c.registry, f"{lo}-{hi}", hi - lo + 1, (hi - lo + 1) * c.unit_wh / 1000, c.energy_source,
                          c.device_id, c.storage, already)


def _add_claim(pending: list[list], c: _Candidate, lo: int, hi: int) -> None:
    """Note a claim, merged into the previous one when the ids continue it (fewer ledger records)."""
    energy = (hi - lo + 1) * c.unit_wh
    if pending:
        prev = pending[-1]
        if prev[0] == c.registry and prev[3] == c.zone and prev[2] + 1 == lo:
            prev[2] = hi
            prev[4] += energy
            return
    pending.append([c.registry, lo, hi, c.zone, energy])


# -- offsets and annual certificates: validated and reported, never matched --------------------------

def _check_instruments(files: Sequence[CertificateFile], policy: Matching, years: set[int],
                       market_kg: float | None) -> OffsetReport:
    items: list[InstrumentCheck] = []
    seen_serials: dict[tuple[str, str], int] = {}
    annual_ranges: list[tuple[str, int, int, int]] = []
    rows: list[tuple[object, CertificateFile, Located]] = []
    for cert_file in files:
        rows.extend((a, cert_file, where) for a, where in cert_file.annual)
        rows.extend((o, cert_file, where) for o, where in cert_file.offsets)
    for index, (value, _, _) in enumerate(rows):
        if getattr(value, "kind", None) == "offset":
            key = (value.registry, value.serial)  # type: ignore[attr-defined]
            seen_serials[key] = seen_serials.get(key, 0) + 1
        else:
            annual_ranges.append((value.registry, value.serial_start, value.serial_end, index))  # type: ignore[attr-defined]
    overlapping = {row for row in _overlaps(annual_ranges)}
    offsets_t = annual_mwh = 0.0
    for index, (value, cert_file, _) in enumerate(rows):
        verified = cert_file.signature is not None and bool(cert_file.signature.verified_registries)
        if value.kind == "offset":  # type: ignore[attr-defined]
            problem = _offset_problem(value, policy, years, verified, seen_serials)
            items.append(InstrumentCheck(kind="offset", registry=value.registry, serial=value.serial,  # type: ignore[attr-defined]
                                         vintage_year=value.vintage_year, quantity=float(value.tco2e),  # type: ignore[attr-defined]
                                         unit="tCO2e", valid=problem is None,
                                         rule_id=None if problem is None else problem[0],
                                         reason=None if problem is None else problem[1]))
            if problem is None:
                offsets_t += float(value.tco2e)  # type: ignore[attr-defined]
        else:
            problem = _annual_problem(value, policy, years, verified, index in overlapping)
            items.append(InstrumentCheck(kind="annual", registry=value.registry, serial=value.serial,  # type: ignore[attr-defined]
                                         vintage_year=value.vintage_year, quantity=float(value.energy_mwh),  # type: ignore[attr-defined]
                                         unit="MWh", valid=problem is None,
                                         rule_id=None if problem is None else problem[0],
                                         reason=None if problem is None else problem[1]))
            if problem is None:
                annual_mwh += float(value.energy_mwh)  # type: ignore[attr-defined]
    counted = policy.offsets == "count_toward_net"
    net = max(market_kg - offsets_t * 1000.0, 0.0) if counted and market_kg is not None else None
    return OffsetReport(items=tuple(items), offsets_tco2e=offsets_t, annual_mwh=annual_mwh,
                        counted_toward_net=counted, net_co2e_kg=net)


def _overlaps(ranges: list[tuple[str, int, int, int]]) -> set[int]:
    ranges = sorted(ranges)
    out: set[int] = set()
    for (reg_a, _, last_a, idx_a), (reg_b, first_b, _, idx_b) in pairwise(ranges):
        if reg_a == reg_b and first_b <= last_a:
            out.update((idx_a, idx_b))
    return out


def _offset_problem(offset, policy: Matching, years: set[int], verified: bool,
                    seen: dict[tuple[str, str], int]) -> tuple[str, str] | None:
    if not verified:
        return "matching.unverified", "the file carrying it is not signed by a pinned registry key"
    if seen[(offset.registry, offset.serial)] > 1:
        return "matching.double-listing", f"serial {offset.serial!r} is listed more than once"
    if offset.status != "retired":
        return "matching.offset-invalid", f"status is {offset.status!r}; only retired offsets count"
    if policy.beneficiary is None or offset.retirement_beneficiary != policy.beneficiary:
        return "matching.offset-invalid", (f"retired for {offset.retirement_beneficiary!r}, "
                                           f"not the policy's beneficiary {policy.beneficiary!r}")
    if years and offset.vintage_year > max(years):
        return "matching.offset-invalid", f"vintage {offset.vintage_year} is after the consumption it would offset"
    return None


def _annual_problem(cert, policy: Matching, years: set[int], verified: bool,
                    overlapping: bool) -> tuple[str, str] | None:
    if not verified:
        return "matching.unverified", "the file carrying it is not signed by a pinned registry key"
    if overlapping:
        return "matching.double-listing", f"serials {cert.serial} overlap another certificate in the input"
    if cert.status.lower() not in USABLE_STATUSES:
        return "matching.offset-invalid", f"status is {cert.status!r}, not cancelled or claimed"
    if policy.beneficiary is None or cert.beneficiary != policy.beneficiary:
        return "matching.offset-invalid", (f"cancelled for {cert.beneficiary!r}, "
                                           f"not the policy's beneficiary {policy.beneficiary!r}")
    if years and cert.vintage_year not in years:
        return "matching.offset-invalid", f"vintage {cert.vintage_year} is not a year the run consumed energy in"
    return None
