"""Job spec -> estimated stage records. Pure: values in, values out; no clock, no file, no network.

Each stage becomes one `StageRecord` whose components are `estimated`, carry an uncertainty band and
name the table row and citation they came from, so an estimate can never pass for a measurement.
Stages run one after another from the `start` the caller gives (a fixed synthetic time, so the
same spec always gives the same records). The accounting and the gate then treat these records
exactly like measured ones, with the policy's `measurement.estimated` rule deciding what they mean.

Power model, per stage:
- accelerators: count x nodes x typical training draw (table) x utilisation x duration;
- CPU: cores x nodes x W per core (metering/cpu_power.py: vendor TDP / cores) x utilisation x duration;
- memory: GB x nodes x W per GB (metering/process.py) x duration.
A FLOPs stage lasts FLOPs / (achieved TFLOP/s per accelerator x accelerators).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from carbonguard.errors import InputError, Problem
from carbonguard.estimate.accelerators import AcceleratorTable
from carbonguard.estimate.jobspec import JobSpec, Stage
from carbonguard.metering import cpu_power
from carbonguard.metering.process import RAM_RELATIVE_UNCERTAINTY, RAM_W_PER_GB
from carbonguard.models import ComponentEnergy, EnergyMethod, StageRecord
from carbonguard.policy.models import Location

J_PER_KWH = 3.6e6
ESTIMATE_HOST = "estimate"
ESTIMATE_FLAG = "estimated-from-jobspec"

# Relative half-width of the accelerator band. A fixed fraction of TDP sits between a TDP-based
# estimate (27-37 % error) and a FLOP-calibrated node model (11.4 % MAPE) in Newkirk et al. 2025
# (arXiv:2506.14551), so a derived draw gets +-25 %; a published typical draw would get +-15 %.
ACCELERATOR_RELATIVE_UNCERTAINTY = {"derived": 0.25, "published": 0.15}


@dataclass(frozen=True)
class StageEstimate:
    """One stage's estimated record, with the grid and facility it runs in."""

    record: StageRecord
    location: str  # the grid zone it is priced in ('DE'; a cloud region's: 'NL' for gcp europe-west4)
    pue: float

    @property
    def stage(self) -> str:
        return self.record.stage


@dataclass(frozen=True)
class JobEstimate:
    job: str
    run_id: str
    stages: tuple[StageEstimate, ...]
    table_sha256: str | None = None

    @property
    def records(self) -> tuple[StageRecord, ...]:
        return tuple(s.record for s in self.stages)

    def groups(self) -> dict[tuple[str, float], tuple[StageRecord, ...]]:
        """Records by (location, PUE), in stage order: each group is one footprint computation."""
        out: dict[tuple[str, float], list[StageRecord]] = {}
        for s in self.stages:
            out.setdefault((s.location, s.pue), []).append(s.record)
        return {key: tuple(value) for key, value in out.items()}


def location_code(location: Location) -> str:
    """The zone a stage is priced in: the grid zone of its location, as the gate and `check`
    resolve a policy's (`resolve_zone`): `{cloud: {provider: gcp, region: europe-west4}}` and the
    zone `gcp:europe-west4` are both `NL`, so an estimate and the gate of the same job price a
    region alike (Google's own figure is what `carbonguard intensity gcp:europe-west4` shows)."""
    from carbonguard.intensity.zones import resolve_zone

    cloud = location.cloud
    return resolve_zone(location.zone, cloud.provider if cloud else None, cloud.region if cloud else None)


def stage_duration_s(stage: Stage) -> float:
    """Wall time: given in hours, or FLOPs over the achieved throughput of all the stage's accelerators."""
    if stage.duration_h is not None:
        return float(stage.duration_h) * 3600.0
    assert stage.compute is not None and stage.hardware.accelerator is not None  # model validator
    accelerators = stage.hardware.accelerator.count * stage.hardware.nodes
    rate = float(stage.compute.achieved_tflops_per_accelerator) * 1e12 * accelerators
    return float(stage.compute.flops) / rate


def _kwh(power_w: float, seconds: float) -> float:
    return power_w * seconds / J_PER_KWH


def stage_components(stage: Stage, duration_s: float, table: AcceleratorTable,
                     cpu_w_per_core: float | None = None) -> tuple[ComponentEnergy, ...]:
    """The estimated components of one stage (accelerators, CPU, memory), each with band and source."""
    hw = stage.hardware
    util = float(stage.utilisation)
    out = []
    if hw.accelerator is not None:
        row = table.lookup(hw.accelerator.model, field_path="hardware.accelerator.model")
        n = hw.accelerator.count * hw.nodes
        energy = _kwh(n * row.training_w * util, duration_s)
        ceiling = _kwh(n * row.tdp_w, duration_s)  # the band never reaches past running at TDP
        rel = ACCELERATOR_RELATIVE_UNCERTAINTY["derived" if row.training_derived else "published"]
        flags = ("training-draw-derived",) if row.training_derived else ()
        out.append(ComponentEnergy(
            component="gpu",
            device=f"estimate:{row.model}x{n}",
            method=EnergyMethod.ESTIMATED,
            energy_kwh=energy,
            uncertainty_kwh=max(0.0, min(rel * energy, ceiling - energy)),
            source=f"estimate: {n} x {row.training_w:g} W x utilisation {util:g}; {row.citation()}",
            flags=flags,
        ))
    if hw.cpu_cores:
        cores = hw.cpu_cores * hw.nodes
        if cpu_w_per_core is not None:
            w, origin, cite = cpu_w_per_core, "override", "operator-supplied W per core"
        else:
            spec = cpu_power.lookup(hw.cpu_model) if hw.cpu_model else None
            if spec is not None:
                w, origin, cite = spec.w_per_core, "table", spec.source
            else:
                w, origin, cite = cpu_power.DEFAULT_W_PER_CORE, "default", "median of the carbonguard CPU table"
        energy = _kwh(cores * w * util, duration_s)
        out.append(ComponentEnergy(
            component="cpu",
            device=f"estimate:cpu-cores-x{cores}",
            method=EnergyMethod.ESTIMATED,
            energy_kwh=energy,
            uncertainty_kwh=energy * cpu_power.RELATIVE_UNCERTAINTY[origin],
            source=f"estimate: {cores} cores x {w:.3f} W/core ({origin}: {cite}) x utilisation {util:g}",
            flags=(f"cpu-power:{origin}",),
        ))
    if hw.memory_gb:
        gb = float(hw.memory_gb) * hw.nodes
        energy = _kwh(gb * RAM_W_PER_GB, duration_s)
        out.append(ComponentEnergy(
            component="dram",
            device=f"estimate:memory-{gb:g}gb",
            method=EnergyMethod.ESTIMATED,
            energy_kwh=energy,
            uncertainty_kwh=energy * RAM_RELATIVE_UNCERTAINTY,
            source=f"estimate: {gb:g} GB x {RAM_W_PER_GB:g} W/GB (CodeCarbon methodology; Green Algorithms 0.3725)",
        ))
    return tuple(out)


def _require_utc(start: datetime) -> datetime:
    if start.tzinfo is None or start.utcoffset() is None:
        raise InputError(Problem("the synthetic start time must be timezone-aware (UTC)", field_path="start"))
    return start


def estimate_job(spec: JobSpec, *, start: datetime, table: AcceleratorTable, run_id: str | None = None,
                 cpu_w_per_core: float | None = None) -> JobEstimate:
    """Estimated stage records for a job spec with stages; stages run back to back from `start`."""
    if spec.spec.from_run is not None:
        raise InputError(Problem("this job spec estimates from a previous run (from_run); use estimate_from_run",
                                 field_path="spec.from_run"))
    t = _require_utc(start)
    name = spec.metadata.name
    rid = run_id or f"estimate:{name}"
    stages = []
    for stage in spec.spec.stages:
        duration = stage_duration_s(stage)
        end = t + timedelta(seconds=duration)
        where = location_code(stage.location or spec.spec.location)
        record = StageRecord(
            run_id=rid, flow_name=name, stage=stage.name, start=t, end=end, zone=where,
            host=ESTIMATE_HOST, pid=0, components=stage_components(stage, duration, table, cpu_w_per_core),
            flags=(ESTIMATE_FLAG,),
        )
        stages.append(StageEstimate(record, where, float(stage.pue if stage.pue is not None else spec.spec.pue)))
        t = end
    return JobEstimate(name, rid, tuple(stages), table.sha256)
