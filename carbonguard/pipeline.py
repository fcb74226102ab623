"""The pure pipeline: stage records + intensity points + policy + as_of -> footprint -> Decision.

Why a pure core: a CI budget check judges an *estimate* with no ledger at all, a replay must give
the same decision from the same inputs, and matching will add its claims to the same transaction as
the decision. So nothing here reads a ledger, a clock, a file or the network: `assess.py` (ledger
bound) and the CLI's estimate checks fetch what is needed and call `judge`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

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
    baseline: FigureSet | None = None,
) -> Judgement:
    """Footprint and decision for one run. Same inputs, same `Judgement`, byte for byte.

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
    return Judgement(footprint, evaluate(loaded, footprint, as_of=as_of, baseline=baseline))
