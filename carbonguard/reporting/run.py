"""The result of judging one run: the decision and the footprint it rests on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from carbonguard.models import Decision, RunFootprint

GATE_RESULT_SCHEMA = "carbonguard.gate-result/v1"


@dataclass(frozen=True)
class RunReport:
    """What `carbonguard gate` and `carbon_gate` show: the decision first, then the figures."""

    kind: ClassVar[str] = "run"
    decision: Decision
    footprint: RunFootprint | None = None

    def json_document(self) -> dict[str, Any]:
        return {
            "schema": GATE_RESULT_SCHEMA,
            "decision": self.decision.model_dump(mode="json"),
            "footprint": self.footprint.model_dump(mode="json") if self.footprint is not None else None,
        }
