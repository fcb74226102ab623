"""The pure pipeline: stage records + intensity points + policy + as_of -> footprint -> Decision.

Why a pure core: a CI budget check judges an *estimate* with no ledger at all, a replay must give
the same decision from the same inputs, and matching adds its claims to the same transaction as
the decision. So nothing here reads a ledger, a clock, a file or the network: `assess.py` (ledger
bound) and the CLI's estimate checks fetch what is needed and call `judge`.

Hourly matching runs here when the policy has `spec.matching`: on the footprint's hourly energy, with
the certificate files already loaded (`matching.loader`), the zone's residual-mix figures as points
and the ledger's claims on those certificates, all passed in.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from carbonguard.accounting import compute_footprint, intensity_span
from carbonguard.errors import InputError, Problem
from carbonguard.gate import evaluate, matching_findings
from carbonguard.metering.attribution import attribute_rows
from carbonguard.models import (
    Decision,
    FigureSet,
    Finding,
    IntensityPoint,
    JudgedRecords,
    RunFootprint,
    StageRecords,
    stage_rows,
)
from carbonguard.policy.loader import LoadedPolicy

if TYPE_CHECKING:  # matching is loaded only for policies with spec.matching (a gate's start-up)
    from carbonguard.matching import CertificateFile, ClaimedRange, MatchResult


@dataclass(frozen=True)
class IntensityRequest:
    """The grid figures a judgement needs: one zone over one stretch of time (UTC)."""

    zone: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Judgement:
    footprint: RunFootprint
    decision: Decision
    match: MatchResult | None = None  # set when the policy has spec.matching


def policy_zone(loaded: LoadedPolicy) -> str:
    """The policy's grid zone: given directly, or mapped from its cloud region."""
    from carbonguard.intensity.zones import resolve_zone

    location = loaded.policy.spec.location
    cloud = location.cloud
    return resolve_zone(location.zone, cloud.provider if cloud else None, cloud.region if cloud else None)


def intensity_request(loaded: LoadedPolicy, records: StageRecords) -> IntensityRequest | None:
    """What to fetch before `judge`; None when no record did work (nothing to price)."""
    span = intensity_span(records)
    return None if span is None else IntensityRequest(policy_zone(loaded), span[0], span[1])


def judge(
    loaded: LoadedPolicy,
    records: StageRecords,
    points: Sequence[IntensityPoint],
    *,
    run_id: str,
    as_of: datetime,
    judged: JudgedRecords | None = None,
    forecasts: Mapping[str, Sequence[IntensityPoint]] | None = None,
    baseline: FigureSet | None = None,
    certificates: Sequence[CertificateFile] | None = None,
    residual: Sequence[IntensityPoint] = (),
    already_claimed: Sequence[ClaimedRange] = (),
) -> Judgement:
    """Footprint and decision for one run. Same inputs, same `Judgement`, byte for byte.

    `records`: stage records, or their compact rows (`models.StageRow`: what `assess` loads, the
    same figures in a tenth of the memory).

    `forecasts` (points per zone, from `forecast_request`) let a `reschedule` rule propose a window;
    `baseline` (figures of the base branch or an earlier run) lets budgets limit the increase.
    With `spec.matching` in the policy, `certificates` (loaded files; None means none were given, so
    nothing is matched) are matched to the run's hourly energy; `residual` holds the zone's
    residual-mix figures (from `residual_request`; empty when none is known: the market-based figure
    is then absent, never 0) and `already_claimed` the ledger's claims on those certificates.
    """
    footprint = compute_footprint(
        attribute_rows(stage_rows(records)),
        run_id=run_id,
        zone=policy_zone(loaded),
        pue=loaded.policy.spec.pue,
        points=points,
        judged=judged,
    )
    match = match_footprint(loaded, footprint, certificates, residual=residual, already_claimed=already_claimed)
    if match is not None:
        footprint = footprint.model_copy(update={"market_co2e_kg": match.market_co2e_kg})
    decision = evaluate(loaded, footprint, as_of=as_of, forecasts=forecasts, baseline=baseline, match=match)
    return Judgement(footprint, decision, match)


def match_footprint(
    loaded: LoadedPolicy,
    footprint: RunFootprint,
    certificates: Sequence[CertificateFile] | None,
    *,
    residual: Sequence[IntensityPoint] = (),
    already_claimed: Sequence[ClaimedRange] = (),
) -> MatchResult | None:
    """Hourly matching of the footprint's energy; None when the policy has no `spec.matching`.

    A run whose energy is unknown (no device gave a reading) consumed an unknown amount: it is
    matched against nothing, and its market-based figure is absent rather than 0.
    """
    matching = loaded.policy.spec.matching
    if matching is None:
        if certificates:
            raise InputError(Problem(
                "certificates were given but the policy has no spec.matching section to judge them by "
                "(beneficiary, pinned registry keys, min_cfe)", source=loaded.source, field_path="spec.matching"))
        return None
    known = footprint.energy_known
    from carbonguard.matching import match_certificates

    result = match_certificates(
        footprint.hourly if known else (), certificates or (), matching,
        run_id=footprint.run_id, zone=footprint.zone,
        residual_g_per_kwh=factor_by_hour(residual) if residual else None,
        residual_source=residual_citation(residual),
        location_co2e_kg=footprint.known_co2e_kg,
        already_claimed=already_claimed,
    )
    if not known:
        result = result.model_copy(update={"market_co2e_kg": None})
    return result


def judge_match(loaded: LoadedPolicy, match: MatchResult, *, as_of: datetime,
                energy_known: bool = True) -> list[Finding]:
    """The matching findings alone (policy lines, waivers applied): what `carbonguard match` reports."""
    return matching_findings(loaded, match, as_of=as_of, energy_known=energy_known)


def match_consumption(
    loaded: LoadedPolicy,
    hours: Sequence[tuple[datetime, float]],
    certificates: Sequence[CertificateFile],
    *,
    run_id: str,
    points: Sequence[IntensityPoint] = (),
    residual: Sequence[IntensityPoint] = (),
    already_claimed: Sequence[ClaimedRange] = (),
) -> MatchResult:
    """Hourly matching of given consumption (UTC hour start, facility kWh) with no stage records.

    `points` price the location-based figure (absent when an hour has none); `residual` the
    market-based one.
    """
    matching = loaded.policy.spec.matching
    if matching is None:
        raise InputError(Problem("the policy has no spec.matching section to judge certificates by",
                                 source=loaded.source, field_path="spec.matching"))
    intensity = factor_by_hour(points)
    factors = [intensity(hour) for hour, _ in hours]
    location = (None if any(f is None for f in factors)
                else sum(kwh * f for (_, kwh), f in zip(hours, factors, strict=True)) / 1000.0)  # type: ignore[operator]
    from carbonguard.matching import match_certificates

    return match_certificates(hours, certificates, matching, run_id=run_id, zone=policy_zone(loaded),
                              residual_g_per_kwh=factor_by_hour(residual) if residual else None,
                              residual_source=residual_citation(residual), location_co2e_kg=location,
                              already_claimed=already_claimed)


def residual_request(loaded: LoadedPolicy, records: StageRecords) -> IntensityRequest | None:
    """Residual-mix figures to fetch for the market-based figure; None without `spec.matching`."""
    if loaded.policy.spec.matching is None:
        return None
    return intensity_request(loaded, records)


def factor_by_hour(points: Sequence[IntensityPoint]) -> Callable[[datetime], float | None]:
    """g/kWh of the point covering each hour start (None where no point does)."""
    ordered = sorted(points, key=lambda p: p.start)
    starts = [p.start for p in ordered]

    def factor(hour: datetime) -> float | None:
        i = bisect_right(starts, hour) - 1
        if i < 0:
            return None
        point = ordered[i]
        return point.intensity_g_per_kwh if hour < point.start + timedelta(seconds=point.duration_s) else None

    return factor


def residual_citation(points: Sequence[IntensityPoint]) -> str | None:
    """Where the residual-mix figures come from, once per distinct source and data year."""
    cited = dict.fromkeys(
        f"{p.source or p.provider}" + (f" (data year {p.year})" if p.year else "")
        + (f"; dataset {p.dataset_version} sha256 {p.dataset_hash}" if p.dataset_hash else "")
        for p in points)
    return "; ".join(cited) or None


def may_reschedule(loaded: LoadedPolicy) -> bool:
    """Whether a judgement could need forecasts: some budget reschedules."""
    return any(b.action == "reschedule" for b in loaded.policy.spec.budgets)


def forecast_requests(
    loaded: LoadedPolicy, records: StageRecords, as_of: datetime
) -> list[IntensityRequest]:
    """Forecast windows a reschedule proposal needs: the run's zone and each candidate, from `as_of`
    over `max_delay_h` plus the run's own duration. Empty when no budget can reschedule."""
    if not may_reschedule(loaded):
        return []
    span = intensity_span(records)
    if span is None:
        return []
    from carbonguard.intensity.zones import resolve_zone

    scheduling = loaded.policy.spec.scheduling
    delay = timedelta(hours=scheduling.max_delay_h if scheduling else 0)
    end = as_of + delay + (span[1] - span[0])
    zones = [policy_zone(loaded)]
    for candidate in scheduling.candidate_zones if scheduling else ():
        zone = resolve_zone(candidate, None, None)  # a cloud region (aws:us-west-2) maps to its zone
        if zone not in zones:
            zones.append(zone)
    return [IntensityRequest(zone, as_of, end) for zone in zones]
