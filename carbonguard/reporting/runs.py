"""The runs a ledger holds, one line each: when, which flow, how many stages, energy, CO2e, verdict.

So nobody has to parse `audit export` to find a run id. Figures come from each run's latest
footprint record (facility energy, location-based CO2e) and its latest decision; a run that was
never gated shows its stages only, with energy and CO2e unknown rather than 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

from carbonguard.models import energy_is_known

if TYPE_CHECKING:
    from carbonguard.ledger.record import LedgerRecord


def _float(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


@dataclass
class RunSummary:
    run_id: str
    flow_name: str | None = None
    start: datetime | None = None
    stages: int = 0
    energy_kwh: float | None = None
    co2e_kg: float | None = None
    outcome: str | None = None
    policy: str | None = None
    stage_names: list[str] = field(default_factory=list)
    footprinted: bool = False  # energy and CO2e are computed when a run is gated

    def json_document(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "flow_name": self.flow_name,
            "start": self.start.isoformat() if self.start else None, "stages": self.stages,
            "stage_names": sorted(set(self.stage_names)), "energy_kwh": self.energy_kwh, "co2e_kg": self.co2e_kg,
            "last_decision": self.outcome, "policy": self.policy,
        }


@dataclass(frozen=True)
class RunList:
    kind: ClassVar[str] = "runs"
    ledger_url: str
    runs: tuple[RunSummary, ...]
    total_runs: int

    def json_document(self) -> dict[str, Any]:
        return {"ledger": self.ledger_url, "total_runs": self.total_runs,
                "runs": [r.json_document() for r in self.runs],
                "units": {"energy_kwh": "facility kWh (IT x PUE)", "co2e_kg": "location-based kg CO2e"}}


def summarize_runs(records: Iterable[LedgerRecord]) -> list[RunSummary]:
    """One summary per run id, newest first (by first stage start, else first record time)."""
    runs: dict[str, RunSummary] = {}
    for rec in records:
        if not rec.run_id or rec.record_type not in ("stage", "footprint", "decision"):
            continue
        run = runs.setdefault(rec.run_id, RunSummary(rec.run_id))
        p = rec.payload
        if rec.record_type == "stage":
            run.stages += 1
            run.stage_names.append(str(p.get("stage")))
            run.flow_name = run.flow_name or p.get("flow_name")
            start = datetime.fromisoformat(str(p["start"]).replace("Z", "+00:00")) if p.get("start") else rec.time
            run.start = start if run.start is None else min(run.start, start)
        elif rec.record_type == "footprint":
            run.footprinted = True
            run.energy_kwh, run.co2e_kg = _float(p.get("energy_kwh")), _float(p.get("co2e_kg"))
            if not energy_is_known(int(p.get("unavailable_components") or 0), _float(p.get("it_energy_kwh")) or 0.0):
                run.energy_kwh = run.co2e_kg = None  # no device gave a reading: unknown, not 0
        else:
            run.outcome = p.get("outcome")
            run.policy = f"{p.get('policy_name')} v{p.get('policy_version')}"
        if run.start is None:
            run.start = rec.time
    return sorted(runs.values(), key=lambda r: (r.start.timestamp() if r.start else 0.0, r.run_id), reverse=True)
