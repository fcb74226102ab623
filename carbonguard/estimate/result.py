"""An estimate priced: per-(location, PUE) footprints of the estimated records, plus job totals.

Pure given its intensity source (the embedded one needs no network). A job whose stages run in
different grids or facilities gets one footprint per group, because a footprint has one zone and
one PUE; the totals add them. `to_dict` is the JSON document (`schema_version` 1): sorted keys,
units in every name, no wall-clock time (the start is the caller's synthetic one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carbonguard.estimate.estimator import JobEstimate
from carbonguard.intensity.source import IntensitySource
from carbonguard.models import RunFootprint

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class EstimateResult:
    estimate: JobEstimate
    footprints: tuple[RunFootprint, ...]
    jobspec_source: str | None = None
    jobspec_hash: str | None = None

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

    def stage_footprint(self, stage: str) -> tuple[RunFootprint, Any] | None:
        for footprint in self.footprints:
            found = footprint.stage(stage)
            if found is not None:
                return footprint, found
        return None

    def to_dict(self) -> dict[str, Any]:
        stages = []
        for s in self.estimate.stages:
            r = s.record
            priced = self.stage_footprint(r.stage)
            sf = priced[1] if priced else None
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
            "schema_version": SCHEMA_VERSION,
            "kind": "estimate",
            "job": self.estimate.job,
            "run_id": self.estimate.run_id,
            "jobspec": {"source": self.jobspec_source, "sha256": self.jobspec_hash},
            "accelerator_table_sha256": self.estimate.table_sha256,
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


def price(estimate: JobEstimate, source: IntensitySource, *, jobspec_source: str | None = None,
          jobspec_hash: str | None = None) -> EstimateResult:
    """Footprint of every (location, PUE) group of the estimate, through the same accounting as measured runs."""
    from carbonguard.accounting import compute_footprint

    footprints = tuple(
        compute_footprint(records, run_id=estimate.run_id, zone=zone, pue=pue, source=source)
        for (zone, pue), records in estimate.groups().items()
    )
    return EstimateResult(estimate, footprints, jobspec_source, jobspec_hash)
