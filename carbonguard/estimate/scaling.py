"""`from_run`: a previous run's measured stage records, scaled into an estimate. Pure.

Why scale measured records rather than a footprint: the accounting and the gate then see ordinary
stage records (per stage, per component, with their bands), and the footprint is priced over the
synthetic window the caller chose, like any other estimate. Energy and wall time scale by the same
factor (twice the epochs: twice the time at the same power). A reading that was unavailable stays
unavailable: scaling never turns "no reading" into a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from carbonguard.errors import InputError, Problem
from carbonguard.estimate.estimator import ESTIMATE_HOST, JobEstimate, StageEstimate, location_code
from carbonguard.estimate.jobspec import JobSpec
from carbonguard.models import ComponentEnergy, EnergyMethod, StageRecord

FROM_RUN_FLAG = "estimated-from-run"


def scale_component(component: ComponentEnergy, *, scale: float, relative_uncertainty: float,
                    run_id: str) -> ComponentEnergy:
    """One reading scaled: figure x scale, band x scale plus the extrapolation band; method `estimated`."""
    origin = f"from_run {run_id} x{scale:g} (measured {component.method.value}: {component.source})"
    if component.method == EnergyMethod.UNAVAILABLE or component.energy_kwh is None:
        return component.model_copy(update={"source": origin, "flags": (*component.flags, FROM_RUN_FLAG)})
    energy = component.energy_kwh * scale
    return ComponentEnergy(
        component=component.component,
        device=component.device,
        method=EnergyMethod.ESTIMATED,
        energy_kwh=energy,
        uncertainty_kwh=component.uncertainty_kwh * scale + energy * relative_uncertainty,
        source=origin,
        shared=component.shared,
        flags=(*component.flags, FROM_RUN_FLAG),
    )


def scale_records(records: Sequence[StageRecord], *, scale: float, start: datetime, run_id: str,
                  relative_uncertainty: float = 0.0, flow_name: str | None = None) -> tuple[StageRecord, ...]:
    """The records moved to begin at `start`, with offsets, durations and energy multiplied by `scale`."""
    if not scale > 0:
        raise InputError(Problem(f"scale must be > 0, got {scale!r}", field_path="from_run.scale"))
    if start.tzinfo is None or start.utcoffset() is None:
        raise InputError(Problem("the synthetic start time must be timezone-aware (UTC)", field_path="start"))
    if not records:
        raise InputError(Problem("the run has no stage records to scale", field_path="from_run.run_id"))
    origin = min(r.start for r in records)
    out = []
    for r in records:
        begin = start + (r.start - origin) * scale
        out.append(StageRecord(
            run_id=run_id,
            flow_name=flow_name or r.flow_name,
            stage=r.stage,
            attempt=r.attempt,
            cached=r.cached,
            start=begin,
            end=begin + timedelta(seconds=r.duration_s * scale),
            zone=r.zone,
            host=ESTIMATE_HOST,
            pid=0,
            components=tuple(
                scale_component(c, scale=scale, relative_uncertainty=relative_uncertainty, run_id=r.run_id)
                for c in r.components
            ),
            flags=(*r.flags, FROM_RUN_FLAG),
        ))
    return tuple(out)


def estimate_from_run(spec: JobSpec, records: Sequence[StageRecord], *, start: datetime,
                      run_id: str | None = None) -> JobEstimate:
    """A `from_run` job spec plus that run's records (read by the caller) -> the scaled estimate."""
    ref = spec.spec.from_run
    if ref is None:
        raise InputError(Problem("this job spec lists stages; use estimate_job", field_path="spec.from_run"))
    rid = run_id or f"estimate:{spec.metadata.name}"
    scaled = scale_records(records, scale=float(ref.scale), start=start, run_id=rid,
                           relative_uncertainty=float(ref.relative_uncertainty), flow_name=spec.metadata.name)
    where = location_code(spec.spec.location)
    return JobEstimate(spec.metadata.name, rid, tuple(StageEstimate(r, where, float(spec.spec.pue)) for r in scaled))
