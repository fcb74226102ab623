"""Assess one run: read its stage records from the ledger, account, gate, and record the outcome.

This is the one place that wires the layers together (ledger -> attribution -> accounting -> gate
-> ledger), so the CLI and the Prefect task cannot drift apart. The gate itself stays pure: the
clock is read here and passed in as `as_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from carbonguard.errors import CarbonguardError, InputError, Problem
from carbonguard.gate import evaluate
from carbonguard.models import Decision, RunFootprint, StageRecord
from carbonguard.policy.loader import LoadedPolicy


@dataclass(frozen=True)
class Assessment:
    records: tuple[StageRecord, ...]
    footprint: RunFootprint
    decision: Decision
    decision_record_hash: str | None = None


def policy_zone(loaded: LoadedPolicy) -> str:
    """The policy's grid zone: given directly, or mapped from its cloud region."""
    from carbonguard.intensity.zones import resolve_zone

    location = loaded.policy.spec.location
    cloud = location.cloud
    return resolve_zone(location.zone, cloud.provider if cloud else None, cloud.region if cloud else None)


class LedgerIntegrityError(CarbonguardError):
    """The ledger fails verification: nothing read from it may be judged."""

    def __init__(self, message: str, exit_code: int) -> None:
        self.exit_code = exit_code
        super().__init__(message)


def verified(ledger: Any) -> Any:
    """Verify the whole chain before judging from it, so a decision never rests on edited records.

    Costs one pass over the ledger (about 200,000 records/s on SQLite; see benchmarks/ledger.py).
    """
    result = ledger.verify()
    if not result.ok:
        raise LedgerIntegrityError(
            f"ledger {ledger.url} fails verification, so no decision is made from it: {result.message}",
            result.exit_code,
        )
    return ledger


def load_stage_records(
    ledger: Any, run_id: str, also: tuple[str, ...] = ()
) -> tuple[list[StageRecord], list[str]]:
    """The run's stage records, plus those of `also` (e.g. its subflow runs), in ledger order."""
    entries = ledger.records(run_id=run_id, record_type="stage")
    for other in also:
        entries += ledger.records(run_id=other, record_type="stage")
    entries.sort(key=lambda e: e.seq)
    if not entries:
        raise InputError(Problem(f"no stage records for run {run_id!r} in ledger {ledger.url}", "--run"))
    return [StageRecord.model_validate(e.payload) for e in entries], [e.record_hash for e in entries]


def _flag_zone_mismatch(footprint: RunFootprint, records: list[StageRecord]) -> RunFootprint:
    """Stages that say they ran on another grid than the policy's: the CO2e would be for the wrong grid."""
    from carbonguard.intensity.zones import canonical_zone, lookup_zone

    def normal(zone: str) -> str:
        found = lookup_zone(zone).zone
        return found or canonical_zone(zone)

    policy_zone_code = normal(footprint.zone)
    others = sorted({normal(r.zone) for r in records if r.zone} - {policy_zone_code})
    if not others:
        return footprint
    return footprint.model_copy(update={"flags": (*footprint.flags, *(f"zone-mismatch:{z}" for z in others))})


def assess_run(
    loaded: LoadedPolicy,
    ledger: Any,
    run_id: str,
    *,
    as_of: datetime | None = None,
    source: Any = None,
    credentials: Any = None,
    include_runs: tuple[str, ...] = (),
    verify: bool = True,
) -> Assessment:
    """Footprint and decision for `run_id` (and `include_runs`, e.g. subflow runs); nothing is written.

    `verify=False` only for a caller that has just run `verified(ledger)` itself.
    """
    from carbonguard.accounting import compute_footprint
    from carbonguard.intensity import build_source
    from carbonguard.metering.attribution import attribute_shared_devices

    records, hashes = load_stage_records(verified(ledger) if verify else ledger, run_id, include_runs)
    attributed = attribute_shared_devices(records)
    spec = loaded.policy.spec
    # Unknown zones fall back to the flagged world average here, and the gate turns the flag into
    # `intensity.unknown-zone` with the outcome the policy asks for: a block is then a recorded,
    # explained decision rather than an error that leaves no trace in the ledger.
    settings = spec.intensity.model_copy(update={"unknown_zone": "warn"})
    footprint = compute_footprint(
        attributed,
        run_id=run_id,
        zone=policy_zone(loaded),
        pue=spec.pue,
        source=source if source is not None else build_source(settings, credentials=credentials),
        record_hashes=hashes,
    )
    footprint = _flag_zone_mismatch(footprint, records)
    decision = evaluate(loaded, footprint, as_of=as_of or datetime.now(timezone.utc))
    return Assessment(tuple(records), footprint, decision)


def record_assessment(ledger: Any, loaded: LoadedPolicy, assessment: Assessment) -> Assessment:
    """Write the policy (once per content hash), the footprint and the decision to the ledger."""
    known = {r.payload.get("content_hash") for r in ledger.records(record_type="policy")}
    if loaded.content_hash not in known:
        ledger.append("policy", {
            "name": loaded.name,
            "version": loaded.version,
            "content_hash": loaded.content_hash,
            "source": loaded.source,
            "text": loaded.document_text,
        })
    ledger.append("footprint", assessment.footprint.model_dump(mode="json"))
    record = ledger.append("decision", assessment.decision.model_dump(mode="json"))
    return Assessment(assessment.records, assessment.footprint, assessment.decision, record.record_hash)
