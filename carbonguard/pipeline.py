"""The pure pipeline: stage records + intensity points + policy + as_of -> footprint -> Decision.

Why a pure core: a CI budget check judges an *estimate* with no ledger at all, a replay must give
the same decision from the same inputs, and matching will add its claims to the same transaction as
the decision. So nothing here reads a ledger, a clock, a file or the network: `assess.py` (ledger
bound) and the CLI's estimate checks fetch what is needed and call `judge`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from carbonguard.accounting import compute_footprint, intensity_span
from carbonguard.gate import evaluate
from carbonguard.metering.attribution import attribute_shared_devices
from carbonguard.models import Decision, FigureSet, IntensityPoint, RunFootprint, StageRecord
from carbonguard.policy.loader import LoadedPolicy


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


def policy_zone(loaded: LoadedPolicy) -> str:
    """The policy's grid zone: given directly, or mapped from its cloud region."""
    from carbonguard.intensity.zones import resolve_zone

    location = loaded.policy.spec.location
    cloud = location.cloud
    return resolve_zone(location.zone, cloud.provider if cloud else None, cloud.region if cloud else None)


def intensity_request(loaded: LoadedPolicy, records: Sequence[StageRecord]) -> IntensityRequest | None:
    """What to fetch before `judge`; None when no record did work (nothing to price)."""
    span = intensity_span(records)
    return None if span is None else IntensityRequest(policy_zone(loaded), span[0], span[1])


def judge(
    loaded: LoadedPolicy,
    records: Sequence[StageRecord],
    points: Sequence[IntensityPoint],
    *,
    run_id: str,
    as_of: datetime,
    record_hashes: Sequence[str] = (),
    forecasts: Mapping[str, Sequence[IntensityPoint]] | None = None,
    baseline: FigureSet | None = None,
) -> Judgement:
    """Footprint and decision for one run. Same inputs, same `Judgement`, byte for byte.

    `forecasts` (points per zone, from `forecast_request`) let a `reschedule` rule propose a window;
    `baseline` (figures of the base branch or an earlier run) lets budgets limit the increase.
    """
    footprint = compute_footprint(
        attribute_shared_devices(list(records)),
        run_id=run_id,
        zone=policy_zone(loaded),
        pue=loaded.policy.spec.pue,
        points=points,
        record_hashes=record_hashes,
    )
    return Judgement(footprint, evaluate(loaded, footprint, as_of=as_of, forecasts=forecasts, baseline=baseline))


def may_reschedule(loaded: LoadedPolicy) -> bool:
    """Whether a judgement could need forecasts: some budget reschedules."""
    return any(b.action == "reschedule" for b in loaded.policy.spec.budgets)


def forecast_requests(
    loaded: LoadedPolicy, records: Sequence[StageRecord], as_of: datetime
) -> list[IntensityRequest]:
    """Forecast windows a reschedule proposal needs: the run's zone and each candidate, from `as_of`
    over `max_delay_h` plus the run's own duration. Empty when no budget can reschedule."""
    span = intensity_span(records)
    if not may_reschedule(loaded) or span is None:
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
