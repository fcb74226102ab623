"""Assess one run from the ledger: verify, load its stage records, fetch intensity, judge, record.

The ledger-bound shell around the pure `pipeline`: it is the one place that reads the clock, asks
an intensity source and writes to the ledger, so the CLI's `gate` and the Prefect `carbon_gate`
cannot drift apart. The policy, footprint and decision are written in one go after the judgement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from carbonguard.errors import CarbonguardError, InputError, Problem
from carbonguard.models import Decision, IntensityPoint, RunFootprint, StageRecord
from carbonguard.pipeline import forecast_requests, intensity_request, judge, policy_zone
from carbonguard.policy.loader import LoadedPolicy

if TYPE_CHECKING:
    from carbonguard.ledger.protocol import LedgerProtocol
from carbonguard.runtree import subflow_runs

__all__ = [
    "Assessment",
    "LedgerIntegrityError",
    "assess_run",
    "fetch_forecasts",
    "fetch_points",
    "load_stage_records",
    "policy_zone",
    "record_assessment",
    "verified",
    "verified_span",
]


@dataclass(frozen=True)
class Assessment:
    records: tuple[StageRecord, ...]
    footprint: RunFootprint
    decision: Decision
    decision_record_hash: str | None = None


class LedgerIntegrityError(CarbonguardError):
    """The ledger fails verification: nothing read from it may be judged."""

    def __init__(self, message: str, exit_code: int) -> None:
        self.exit_code = exit_code
        super().__init__(message)


def verified(ledger: LedgerProtocol) -> LedgerProtocol:
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


def verified_span(ledger: LedgerProtocol, first_seq: int | None) -> int:
    """Verify the chain from `first_seq` (a run's first record) to the head and the key records
    (`Ledger.verify_span`); returns the head verified. The gate's cost then grows with the run,
    not with the ledger; `audit verify` still judges everything (docs/ledger.md)."""
    result = ledger.verify_span(first_seq)
    if not result.ok:
        raise LedgerIntegrityError(
            f"ledger {ledger.url} fails verification, so no decision is made from it: {result.message}",
            result.exit_code,
        )
    return result.head_seq


def load_stage_records(
    ledger: LedgerProtocol, run_id: str, also: tuple[str, ...] = (), *, verify: bool = False
) -> tuple[list[StageRecord], list[str]]:
    """The run's stage records with those of its subflow runs (and of `also`), in ledger order.

    The subflow runs come from the ledger's `subflow` records, so every surface judges the same set.
    `verify`: first verify the chain from the run's first stage or subflow record to the head
    (`verified_span`), and judge only records up to the head verified.
    """
    runs = list(dict.fromkeys((run_id, *subflow_runs(ledger, run_id), *also)))
    head = None
    if verify:
        seqs = ledger.run_seqs(runs, ("stage", "subflow"))
        head = verified_span(ledger, seqs[0] if seqs else None)
    # Each payload parsed once, from its hashed bytes, straight into a StageRecord.
    entries = [e for other in runs for e in ledger.payloads(other, "stage", StageRecord.model_validate_json)]
    if head is not None:  # appended after the verification: not judged
        entries = [e for e in entries if e[0] <= head]
    entries.sort(key=lambda e: e[0])
    if not entries:
        raise InputError(Problem(f"no stage records for run {run_id!r} in ledger {ledger.url}", "--run"))
    return [e[2] for e in entries], [e[1] for e in entries]


def _policy_source(loaded: LoadedPolicy, credentials: Any = None) -> Any:
    """The policy's intensity providers, as one source with its fallback chain."""
    from carbonguard.intensity import build_source

    # Unknown zones fall back to the flagged world average here, and the gate turns the flag into
    # `intensity.unknown-zone` with the outcome the policy asks for: a block is then a recorded,
    # explained decision rather than an error that leaves no trace in the ledger.
    settings = loaded.policy.spec.intensity.model_copy(update={"unknown_zone": "warn"})
    return build_source(settings, credentials=credentials)


def fetch_points(
    loaded: LoadedPolicy, records: list[StageRecord], *, source: Any = None, credentials: Any = None
) -> list[IntensityPoint]:
    """The intensity figures `pipeline.judge` needs for these records, from the policy's providers."""
    request = intensity_request(loaded, records)
    if request is None:
        return []
    source = source if source is not None else _policy_source(loaded, credentials)
    return list(source.series(request.zone, request.start, request.end))


def fetch_forecasts(
    loaded: LoadedPolicy, records: list[StageRecord], as_of: datetime, *, source: Any
) -> dict[str, list[IntensityPoint]] | None:
    """Forecasts per zone for a reschedule proposal; None when no budget can reschedule.

    The embedded annual figures are flat: with them alone the proposal compares zones, not hours.
    """
    requests = forecast_requests(loaded, records, as_of)
    if not requests:
        return None
    return {r.zone: list(source.series(r.zone, r.start, r.end)) for r in requests}


def assess_run(
    loaded: LoadedPolicy,
    ledger: LedgerProtocol,
    run_id: str,
    *,
    as_of: datetime | None = None,
    source: Any = None,
    credentials: Callable[[str], str | None] | None = None,
    include_runs: tuple[str, ...] = (),
    verify: bool = True,
    forecasts: dict[str, list[IntensityPoint]] | None = None,
) -> Assessment:
    """Footprint and decision for `run_id` with its subflow runs (and `include_runs`); nothing is written.

    `verify`: the run's span of the chain is verified first (`load_stage_records`); `False` only
    for a caller that has just verified it itself.
    """
    records, hashes = load_stage_records(ledger, run_id, include_runs, verify=verify)
    source = source if source is not None else _policy_source(loaded, credentials)
    points = fetch_points(loaded, records, source=source)
    as_of = as_of or datetime.now(timezone.utc)
    if forecasts is None:  # forecasts given by the caller (files) win over the policy's providers
        forecasts = fetch_forecasts(loaded, records, as_of, source=source)
    result = judge(loaded, records, points, run_id=run_id, as_of=as_of, record_hashes=hashes,
                   forecasts=forecasts)
    return Assessment(tuple(records), result.footprint, result.decision)


def record_assessment(ledger: LedgerProtocol, loaded: LoadedPolicy, assessment: Assessment) -> Assessment:
    """Write the policy (once per content hash), the footprint and the decision in one transaction.

    One transaction, one signed seal: a crash leaves all of them or none, never a footprint
    without the decision that rests on it.
    """
    known = {r.payload.get("content_hash") for r in ledger.records(record_type="policy")}
    with ledger.transaction() as tx:
        if loaded.content_hash not in known:
            tx.append("policy", {
                "name": loaded.name,
                "version": loaded.version,
                "content_hash": loaded.content_hash,
                "source": loaded.source,
                "text": loaded.document_text,
            })
        tx.append("footprint", assessment.footprint.model_dump(mode="json"))
        record = tx.append("decision", assessment.decision.model_dump(mode="json"))
    return Assessment(assessment.records, assessment.footprint, assessment.decision, record.record_hash)
