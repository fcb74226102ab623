"""`Model`, the base of carbonguard's pydantic values, and `IntensityPoint`, in a module of their own.

Why apart from `carbonguard.models`: paths that need only intensity points (a live provider, `carbonguard
intensity --json`) then build one model class, not every value type of the gate. `carbonguard.models`
re-exports both, so `from carbonguard.models import IntensityPoint` keeps working everywhere.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from carbonguard.points import Origin, Signal, to_utc


class Model(BaseModel):
    """Base for carbonguard values: no unknown fields, no NaN or infinity, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)


class IntensityPoint(Model):
    """Grid carbon intensity for one zone over one interval, with its provenance."""

    zone: str
    start: AwareDatetime
    duration_s: int = Field(gt=0)
    intensity_g_per_kwh: float = Field(ge=0)
    signal: Signal = Signal.AVERAGE
    kind: Literal["actual", "forecast", "estimated", "annual"] = "actual"
    provider: str = Field(description="e.g. 'embedded', 'electricitymaps', 'watttime', 'uk-carbon-intensity'.")
    origin: Origin
    source: str | None = Field(default=None, description="Citation of the published figure.")
    year: int | None = None
    dataset_version: str | None = None
    dataset_hash: str | None = None
    fallback_from: str | None = Field(default=None, description="Provider that failed before this one.")
    flags: tuple[str, ...] = ()

    _utc = field_validator("start")(lambda v: to_utc(v))
