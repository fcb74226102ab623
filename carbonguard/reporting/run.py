"""The result of judging one run: the decision and the footprint it rests on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from carbonguard.models import Decision, IntensityPoint, RunFootprint

if TYPE_CHECKING:
    from carbonguard.matching import MatchResult
    from carbonguard.reporting.compliance import LedgerState

GATE_RESULT_SCHEMA = "carbonguard.gate-result/v1"


@dataclass(frozen=True)
class RunReport:
    """What `carbonguard gate` and `carbon_gate` show: the decision first, then the figures."""

    kind: ClassVar[str] = "run"
    decision: Decision
    footprint: RunFootprint | None = None
    ledger: LedgerState | None = None  # the chain the decision was recorded in, verified (for provenance)
    match: MatchResult | None = None  # hourly certificate matching, when the policy has spec.matching
    forecasts: dict[str, list[IntensityPoint]] | None = None  # what a reschedule proposal was computed from
    decision_record_hash: str | None = None  # the decision's ledger hash once recorded (`audit judged` takes it)

    def json_document(self) -> dict[str, Any]:
        document = {
            "schema": GATE_RESULT_SCHEMA,
            "decision": self.decision.model_dump(mode="json"),
            "footprint": self.footprint.model_dump(mode="json") if self.footprint is not None else None,
        }
        if self.match is not None:
            document["match"] = self.match.model_dump(mode="json")
        return document


def ledger_state(ledger: Any) -> LedgerState:
    """Verify `ledger` now and describe it: head hash, and whether (and why not) it verifies."""
    from carbonguard.reporting.compliance import LedgerState

    result = ledger.verify()
    return LedgerState(url=ledger.url, head_seq=result.head_seq, head_hash=result.head_hash, verified=result.ok,
                       verification=result.message, verification_exit_code=result.exit_code)
