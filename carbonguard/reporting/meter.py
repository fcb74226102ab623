"""The result of metering one command as a stage (`carbonguard meter -- CMD`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from carbonguard.models import StageRecord


@dataclass(frozen=True)
class LedgerRef:
    seq: int
    record_hash: str


@dataclass(frozen=True)
class MeterReport:
    """One metered command: its stage record, totals, exit status and where it was recorded."""

    kind: ClassVar[str] = "meter"
    command: tuple[str, ...]
    record: StageRecord
    duration_s: float
    energy_kwh: float
    uncertainty_kwh: float
    exit_code: int
    measurement_flags: tuple[str, ...] = ()
    ledger: LedgerRef | None = None

    def json_document(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "stage_record": self.record.model_dump(mode="json"),
            "energy_kwh": self.energy_kwh,
            "uncertainty_kwh": self.uncertainty_kwh,
            "ledger": None if self.ledger is None else {"seq": self.ledger.seq,
                                                        "record_hash": self.ledger.record_hash},
        }
