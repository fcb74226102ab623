"""The result of `carbonguard estimate`: estimated stage records, their footprints, and job totals.

A job whose stages run in different grids or facilities has one footprint per (location, PUE)
group, because a footprint has one zone and one PUE; the totals add them. `json_document` is the
JSON form (`schema`: carbonguard.estimate/v1): units in every name, no wall-clock time (the start
is the caller's synthetic one), every component with its method, band and source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from carbonguard.models import RunFootprint, StageFootprint, StageRecord

ESTIMATE_SCHEMA = "carbonguard.estimate/v1"


@dataclass(frozen=True)
class EstimatedStage:
    record: StageRecord
    location: str  # the grid zone it is priced in ('DE'; 'NL' for the cloud region gcp europe-west4)
    pue: float


@dataclass(frozen=True)
class EstimateReport:
    kind: ClassVar[str] = "estimate"
    job: str
    run_id: str
    stages: tuple[EstimatedStage, ...]
    footprints: tuple[RunFootprint, ...]
    jobspec_source: str | None = None
    jobspec_hash: str | None = None
    table_sha256: str | None = None

    def _sum(self, attr: str) -> float | None:
        values = [getattr(f, attr) for f in self.footprints]
        return None if any(v is None for v in values) else float(sum(values))

    @property
    def it_energy_kwh(self) -> float:
        return float(sum(f.it_energy_kwh for f in self.footprints))

    @property
    def energy_kwh(self) -> float:
        return float(sum(f.energy_kwh for f in self.footprints))

    @property
    def energy_upper_kwh(self) -> float:
        return float(sum(f.energy_upper_kwh for f in self.footprints))

    @property
    def co2e_kg(self) -> float | None:
        return self._sum("co2e_kg")

    @property
    def co2e_upper_kg(self) -> float | None:
        return self._sum("co2e_upper_kg")

    def stage_footprint(self, stage: str) -> StageFootprint | None:
        for footprint in self.footprints:
            found = footprint.stage(stage)
            if found is not None:
                return found
        return None

    def json_document(self) -> dict[str, Any]:
        stages = []
        for s in self.stages:
            r = s.record
            sf = self.stage_footprint(r.stage)
            stages.append({
                "stage": r.stage,
                "location": s.location,
                "pue": s.pue,
                "start": r.start.isoformat(),
                "end": r.end.isoformat(),
                "duration_s": r.duration_s,
                "it_energy_kwh": r.energy_kwh,
                "it_energy_uncertainty_kwh": sum(c.uncertainty_kwh for c in r.components),
                "energy_kwh": sf.energy_kwh if sf else None,
                "energy_upper_kwh": sf.energy_upper_kwh if sf else None,
                "co2e_kg": sf.co2e_kg if sf else None,
                "co2e_upper_kg": sf.co2e_upper_kg if sf else None,
                "components": [c.model_dump(mode="json") for c in r.components],
            })
        return {
            "schema": ESTIMATE_SCHEMA,
            "schema_version": 1,
            "kind": "estimate",
            "job": self.job,
            "run_id": self.run_id,
            "jobspec": {"source": self.jobspec_source, "sha256": self.jobspec_hash},
            "accelerator_table_sha256": self.table_sha256,
            "method": "estimated",
            "stages": stages,
            "totals": {
                "it_energy_kwh": self.it_energy_kwh,
                "energy_kwh": self.energy_kwh,
                "energy_upper_kwh": self.energy_upper_kwh,
                "co2e_kg": self.co2e_kg,
                "co2e_upper_kg": self.co2e_upper_kg,
            },
            "footprints": [f.model_dump(mode="json") for f in self.footprints],
        }
