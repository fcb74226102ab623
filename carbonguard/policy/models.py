"""Policy language v1: the pydantic models are the single source of truth.

The JSON Schema in `policies/schema/policy-v1.schema.json` is generated from these models (see
`carbonguard policy schema`), and a test fails when the checked-in copy drifts.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    ValidationInfo,
    field_validator,
    model_validator,
)

from carbonguard.intensity.settings import IntensitySettings
from carbonguard.rules import reserved_budget_ids, waivable_fixed_ids

SLUG = r"^[a-z0-9][a-z0-9._-]{0,62}$"
STAGE_SCOPE = r"^(run|stage:[A-Za-z0-9_.-]{1,64})$"
_STRICT_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Action = Literal["block", "warn", "reschedule"]
Rule = Literal["allow", "warn", "block"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True)


class Metadata(Section):
    name: str = Field(pattern=SLUG, description="Policy name: lower-case letters, digits, '.', '_', '-'.")
    version: str = Field(min_length=1, max_length=64, description="Policy version, recorded with every decision.")
    description: str | None = None
    owner: str | None = None


class CloudRegion(Section):
    provider: Literal["aws", "gcp", "azure"]
    region: str = Field(min_length=1, max_length=64)

    @field_validator("region")
    @classmethod
    def _known_region(cls, region: str, info: ValidationInfo) -> str:
        """Refused here, with the policy's file and line, rather than later at the gate without them."""
        from carbonguard.errors import InputError
        from carbonguard.intensity.zones import cloud_region

        provider = info.data.get("provider")
        if provider is not None:
            try:
                cloud_region(provider, region)
            except InputError as error:
                raise ValueError(error.problems[0].message) from None
        return region


class Location(Section):
    """Where the run draws power: a grid zone, or a cloud region mapped to one. Never IP geolocation."""

    zone: str | None = Field(
        default=None, min_length=2, max_length=32, description="Grid zone, e.g. 'DE', 'US-CAL-CISO'."
    )
    cloud: CloudRegion | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Location:
        if (self.zone is None) == (self.cloud is None):
            raise ValueError("give exactly one of 'zone' or 'cloud'")
        return self


class Budget(Section):
    id: str = Field(pattern=SLUG)
    scope: str = Field(default="run", pattern=STAGE_SCOPE, description="'run' or 'stage:NAME'.")
    metric: Literal["co2e_kg", "energy_kwh"]
    limit: StrictFloat = Field(gt=0, description="In the metric's unit (kg CO2e or kWh of facility energy).")
    action: Action = "block"
    fallback: Literal["block", "warn"] = Field(
        default="block",
        description="With action: reschedule, what applies when no window or zone beats running now "
        "by spec.scheduling.min_saving_fraction within max_delay_h.",
    )
    warn_at: StrictFloat | None = Field(
        default=None, gt=0, lt=1, description="Warn once the observed value reaches this fraction of the limit."
    )
    max_increase_kg: StrictFloat | None = Field(
        default=None, ge=0, description="co2e_kg budgets: most kg CO2e the figure may grow over the baseline "
        "(the base branch's estimate or run); checked only when a baseline is given.")
    max_increase_kwh: StrictFloat | None = Field(
        default=None, ge=0, description="energy_kwh budgets: most kWh the figure may grow over the baseline.")
    max_increase_fraction: StrictFloat | None = Field(
        default=None, ge=0, le=100, description="Most the figure may grow over the baseline, as a fraction "
        "of the baseline (0.1 = +10 %); checked only when a baseline is given.")
    description: str | None = None

    @model_validator(mode="after")
    def _increase_in_the_metrics_unit(self) -> Budget:
        if self.max_increase_kg is not None and self.metric != "co2e_kg":
            raise ValueError("max_increase_kg applies to co2e_kg budgets; use max_increase_kwh for energy_kwh")
        if self.max_increase_kwh is not None and self.metric != "energy_kwh":
            raise ValueError("max_increase_kwh applies to energy_kwh budgets; use max_increase_kg for co2e_kg")
        return self

    @property
    def max_increase(self) -> float | None:
        """The absolute increase limit, in the metric's unit."""
        return self.max_increase_kg if self.metric == "co2e_kg" else self.max_increase_kwh

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in reserved_budget_ids():
            raise ValueError(f"budget id {value!r} is reserved: budget.{value} is a fixed rule id")
        return value

    @property
    def rule_id(self) -> str:
        return f"budget.{self.id}"

    @property
    def stage(self) -> str | None:
        return self.scope.split(":", 1)[1] if self.scope.startswith("stage:") else None


class MeasurementRules(Section):
    """What estimated or missing energy readings mean for the decision."""

    estimated: Rule = Field(default="warn", description="When any reading is an estimate.")
    unavailable: Rule = Field(default="block", description="When any device gave no reading.")
    use_upper_bound: StrictBool = Field(default=False, description="Judge budgets on the upper bound of estimates.")
    cpu_power_w_per_core: StrictFloat | None = Field(default=None, gt=0, le=1000)


class Waiver(Section):
    rule: str = Field(min_length=1, description="Rule id to waive, e.g. 'budget.run-co2e'.")
    reason: str = Field(min_length=1)
    approved_by: str = Field(min_length=1)
    expires: date = Field(description="Last day the waiver applies (YYYY-MM-DD); after it the finding returns.")

    @field_validator("expires", mode="before")
    @classmethod
    def _strict_date(cls, value: object) -> object:
        if isinstance(value, date):
            return value
        if not isinstance(value, str) or not _STRICT_DATE.match(value):
            raise ValueError("must be a date written YYYY-MM-DD")
        return value


# Carbon-free energy sources accepted when a policy lists none (`spec.matching.sources`). Wind,
# solar, hydro, geothermal, marine and nuclear emit no CO2 at generation; biomass, CHP and "other"
# are left out because their generation emits, and storage is judged by the source that charged it.
# Names follow the `energy_source` values of the Future Energy Associates granular certificate registry.
DEFAULT_CFE_SOURCES = ("solar_pv", "solar", "wind", "hydro", "geothermal", "marine", "nuclear")


class RegistryKey(Section):
    """A certificate registry whose exports are trusted when signed by this Ed25519 key."""

    name: str = Field(min_length=1, max_length=64, description="Registry name, as in each certificate's `registry`.")
    public_key: str = Field(description="Base64 of the raw 32-byte Ed25519 public key the registry signs exports with.")

    @field_validator("public_key")
    @classmethod
    def _raw_ed25519(cls, value: str) -> str:
        import base64
        import binascii

        try:
            raw = base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise ValueError("must be base64") from exc
        if len(raw) != 32:
            raise ValueError(f"must be the base64 of a raw 32-byte Ed25519 public key, not {len(raw)} bytes")
        return value


class Matching(Section):
    """Hourly renewable matching with granular certificates (see docs/matching.md).

    `required_share` (the name before hourly matching existed) is an alias of `min_cfe`. A registry
    given as a bare name (the earlier form) is accepted but pins no key, so its certificates are
    `unverified` and match nothing until the policy pins the registry's public key.
    """

    min_cfe: StrictFloat = Field(
        default=0.0, ge=0, le=1,
        description="Least hourly CFE score the run must reach: sum over hours of min(consumed, matched) / consumed.",
    )
    required_share: StrictFloat | None = Field(
        default=None, ge=0, le=1, description="Alias of min_cfe (the earlier name); give one of them."
    )
    min_hourly_cfe: StrictFloat | None = Field(
        default=None, ge=0, le=1, description="Least matched share of each hour that consumed energy."
    )
    beneficiary: str | None = Field(default=None, min_length=1,
                                    description="Legal entity the certificates must be cancelled for.")
    zones: tuple[str, ...] = Field(default=(), description="Market zones accepted besides the run's own zone.")
    sources: tuple[str, ...] | None = Field(
        default=None, min_length=1,
        description="Carbon-free energy sources accepted; default: " + ", ".join(DEFAULT_CFE_SOURCES) + ".",
    )
    registries: tuple[RegistryKey | str, ...] = Field(
        default=(), description="Registries whose signed exports are trusted, with their pinned public keys."
    )
    offsets: Literal["report", "count_toward_net"] = Field(
        default="report",
        description="Offsets are always reported apart; count_toward_net also gives a net figure after matching.",
    )
    action: Literal["block", "warn"] = "block"
    unverified: Literal["block", "warn"] = Field(
        default="block", description="Outcome when a certificate file is unsigned, badly signed or from an unpinned "
                                     "registry (its certificates match nothing either way).",
    )

    @model_validator(mode="before")
    @classmethod
    def _alias_required_share(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("required_share") is not None:
            if "min_cfe" in data and data["min_cfe"] != data["required_share"]:
                raise ValueError("give min_cfe or its alias required_share, not both with different values")
            data = {**data, "min_cfe": data["required_share"]}
        return data

    @field_validator("registries")
    @classmethod
    def _unique_registries(cls, registries: tuple[RegistryKey | str, ...]) -> tuple[RegistryKey | str, ...]:
        names = [r if isinstance(r, str) else r.name for r in registries]
        if len(set(names)) != len(names):
            raise ValueError("a registry is listed twice")
        return registries

    @property
    def pinned_keys(self) -> dict[str, str]:
        """Registry name -> base64 public key, for the registries that pin one."""
        return {r.name: r.public_key for r in self.registries if isinstance(r, RegistryKey)}

    @property
    def accepted_sources(self) -> tuple[str, ...]:
        return self.sources if self.sources is not None else DEFAULT_CFE_SOURCES


class InterruptionCost(Section):
    """What one pause-and-resume of a job costs: grams of CO2e, or minutes of restart time."""

    value: StrictFloat = Field(ge=0, le=1e9, description="In the unit below.")
    unit: Literal["g_co2e", "minutes"] = Field(
        description="g_co2e: added per interruption; minutes: restart time spent at the job's power."
    )


class Scheduling(Section):
    """Limits for deferring a run to a cleaner window or zone (read by carbonguard.scheduling)."""

    max_delay_h: StrictFloat = Field(
        default=0, ge=0, le=168, description="Latest start the gate may propose, in hours after now."
    )
    candidate_zones: tuple[str, ...] = Field(
        default=(), description="Zones (or cloud regions, e.g. aws:us-west-2) the run may move to."
    )
    min_saving_fraction: StrictFloat = Field(
        default=0.1, ge=0, le=1, description="A proposal must beat running now by at least this fraction."
    )
    interruption_cost: InterruptionCost | None = Field(
        default=None, description="Per-interruption cost for pause-and-resume; unset: free."
    )


class Reporting(Section):
    functional_unit: str = Field(default="training run", min_length=1, description="R in the SCI score.")
    units_per_run: StrictFloat = Field(default=1.0, gt=0, description="How many functional units one run produces.")


class Spec(Section):
    location: Location
    pue: StrictFloat = Field(ge=1.0, le=3.0, description="Power usage effectiveness of the facility.")
    budgets: tuple[Budget, ...] = ()
    measurement: MeasurementRules = MeasurementRules()
    waivers: tuple[Waiver, ...] = ()
    intensity: IntensitySettings = IntensitySettings()
    matching: Matching | None = None
    scheduling: Scheduling | None = None
    reporting: Reporting = Reporting()

    @field_validator("budgets")
    @classmethod
    def _unique_budget_ids(cls, budgets: tuple[Budget, ...]) -> tuple[Budget, ...]:
        seen: set[str] = set()
        for budget in budgets:
            if budget.id in seen:
                raise ValueError(f"budget id {budget.id!r} is used twice")
            seen.add(budget.id)
        return budgets

    def known_rule_ids(self) -> set[str]:
        """Rule ids a waiver may name: every budget's, plus the waivable fixed ones of the catalogue."""
        return {b.rule_id for b in self.budgets} | set(waivable_fixed_ids())


class Policy(Section):
    api_version: Literal["carbonguard/v1"] = Field(alias="apiVersion")
    kind: Literal["CarbonPolicy"]
    metadata: Metadata
    spec: Spec
