"""Job spec v1 (`kind: TrainingJob`): what a training job will run, declared before it runs.

The pydantic models are the single source of truth; `policies/schema/jobspec-v1.schema.json` is
generated from them (`carbonguard estimate --schema`) and a test fails when it drifts. A job spec
either lists its stages (hardware x duration, or FLOPs at an achieved throughput) or points at a
previous run (`from_run`) whose measured records are scaled.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator, model_validator

from carbonguard.policy.models import SLUG, Location

STAGE_NAME = r"^[A-Za-z0-9_.-]{1,64}$"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True)


class JobMetadata(Section):
    name: str = Field(pattern=SLUG, description="Job name: lower-case letters, digits, '.', '_', '-'.")
    description: str | None = Field(default=None, max_length=1000)
    owner: str | None = Field(default=None, max_length=200)


class AcceleratorSpec(Section):
    model: str = Field(min_length=1, max_length=64, description="Model or alias from the accelerator table, "
                       "e.g. 'a100-40gb', 'h100-sxm5', 'mi300x'.")
    count: StrictInt = Field(ge=1, le=1024, description="Accelerators per node.")


class Hardware(Section):
    accelerator: AcceleratorSpec | None = None
    nodes: StrictInt = Field(default=1, ge=1, le=100_000, description="Identical nodes the stage runs on.")
    cpu_cores: StrictInt = Field(default=0, ge=0, le=4096, description="CPU cores per node charged to the stage.")
    cpu_model: str | None = Field(default=None, max_length=128,
                                  description="CPU model name to look up W per core; else the table median.")
    memory_gb: StrictFloat | StrictInt = Field(default=0, ge=0, le=1_000_000,
                                               description="Memory per node held by the stage, GB.")

    @model_validator(mode="after")
    def _something_draws_power(self) -> Hardware:
        if self.accelerator is None and self.cpu_cores == 0 and self.memory_gb == 0:
            raise ValueError("give an accelerator, cpu_cores or memory_gb: a stage with no hardware uses no energy")
        return self


class Compute(Section):
    """Work in FLOPs at an achieved (not peak) throughput per accelerator: duration = FLOPs / throughput."""

    flops: StrictFloat | StrictInt = Field(gt=0, description="Total floating-point operations of the stage.")
    achieved_tflops_per_accelerator: StrictFloat | StrictInt = Field(
        gt=0, le=100_000, description="Sustained TFLOP/s per accelerator the job reaches (model FLOPs utilisation "
        "x peak), not the datasheet peak.")


class Stage(Section):
    name: str = Field(pattern=STAGE_NAME, description="Stage name, as budgets `stage:NAME` refer to it.")
    hardware: Hardware
    duration_h: StrictFloat | StrictInt | None = Field(default=None, gt=0, le=24 * 366,
                                                       description="Wall time of the stage in hours.")
    compute: Compute | None = None
    utilisation: StrictFloat | StrictInt = Field(
        default=1.0, gt=0, le=1, description="Share of the typical training draw the hardware runs at "
        "(1.0 = as busy as a typical training job).")
    location: Location | None = Field(default=None, description="Where this stage runs, if not the job's.")
    pue: StrictFloat | StrictInt | None = Field(default=None, ge=1.0, le=3.0,
                                                description="PUE of this stage's facility, if not the job's.")

    @model_validator(mode="after")
    def _one_way_to_time(self) -> Stage:
        if (self.duration_h is None) == (self.compute is None):
            raise ValueError("give exactly one of 'duration_h' or 'compute'")
        if self.compute is not None and self.hardware.accelerator is None:
            raise ValueError("'compute' needs hardware.accelerator: throughput is per accelerator")
        return self


class FromRun(Section):
    """Estimate as a previous run's measured footprint, scaled (e.g. 2.0 for twice the epochs)."""

    run_id: str = Field(min_length=1, max_length=200)
    scale: StrictFloat | StrictInt = Field(default=1.0, gt=0, le=10_000, description="Multiplies energy and time.")
    relative_uncertainty: StrictFloat | StrictInt = Field(
        default=0.2, ge=0, le=10, description="Extra band for extrapolating: added as a fraction of the scaled energy.")


class JobSpecBody(Section):
    location: Location
    pue: StrictFloat | StrictInt = Field(ge=1.0, le=3.0, description="Power usage effectiveness of the facility.")
    stages: tuple[Stage, ...] = ()
    from_run: FromRun | None = None

    @model_validator(mode="after")
    def _stages_or_run(self) -> JobSpecBody:
        if bool(self.stages) == (self.from_run is not None):
            raise ValueError("give either 'stages' or 'from_run'")
        return self

    @field_validator("stages")
    @classmethod
    def _unique_stage_names(cls, stages: tuple[Stage, ...]) -> tuple[Stage, ...]:
        seen: set[str] = set()
        for stage in stages:
            if stage.name in seen:
                raise ValueError(f"stage name {stage.name!r} is used twice")
            seen.add(stage.name)
        return stages


class JobSpec(Section):
    api_version: Literal["carbonguard/v1"] = Field(alias="apiVersion")
    kind: Literal["TrainingJob"]
    metadata: JobMetadata
    spec: JobSpecBody
