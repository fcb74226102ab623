"""Core value types that flow left to right: stage records, intensity points, footprints, decisions.

These are the contracts between layers (see docs/design.md). They carry units in their field names
and provenance beside every number. Floats are fine in memory; the ledger writes every quantity as a
decimal string, and pydantic reads such strings back into the same floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import AwareDatetime, ConfigDict, Field, field_validator, model_serializer, with_config
from typing_extensions import NotRequired, TypedDict

from carbonguard.judged import judged_sha256

# Defined apart so the intensity path loads only what it needs, and re-exported here.
from carbonguard.point_model import IntensityPoint as IntensityPoint
from carbonguard.point_model import Model as Model
from carbonguard.points import Origin as Origin
from carbonguard.points import PointFields as PointFields
from carbonguard.points import Signal as Signal
from carbonguard.points import to_utc as to_utc


class EnergyMethod(str, Enum):
    """How an energy figure was obtained, best first. Never turn `unavailable` into 0."""

    COUNTER = "counter"
    SAMPLED = "sampled"
    ESTIMATED = "estimated"
    UNAVAILABLE = "unavailable"


class ComponentEnergy(Model):
    """Energy of one device (or estimate) over one measurement window."""

    component: Literal["gpu", "cpu", "dram"]
    device: str = Field(description="Stable device id: GPU UUID, RAPL domain, or 'process'.")
    method: EnergyMethod
    # validate_default: a counter reading that omits its figure is refused, never priced as 0 kWh.
    energy_kwh: float | None = Field(default=None, ge=0, validate_default=True,
                                     description="None exactly when unavailable.")
    uncertainty_kwh: float = Field(default=0.0, ge=0, description="Half-width of the estimate band.")
    source: str = Field(description="How the figure was obtained, e.g. 'nvml:total-energy-counter'.")
    shared: bool = Field(default=False, description="Device shared with others (e.g. a MIG parent GPU).")
    flags: tuple[str, ...] = ()

    @field_validator("energy_kwh")
    @classmethod
    def _energy_matches_method(cls, v: float | None, info) -> float | None:
        method = info.data.get("method")
        if method == EnergyMethod.UNAVAILABLE and v is not None:
            raise ValueError("an unavailable reading carries no energy figure")
        if method not in (None, EnergyMethod.UNAVAILABLE) and v is None:
            raise ValueError("a reading that is not unavailable needs energy_kwh")
        return v

    @property
    def upper_kwh(self) -> float | None:
        """Upper bound of the reading: figure plus its uncertainty band."""
        return None if self.energy_kwh is None else self.energy_kwh + self.uncertainty_kwh


# A label, not free text: printable characters only (no control, line-break or bidi-override
# characters, which could rewrite a terminal or inject lines into CI logs), at most 200 of them.
_NOT_LABEL = "\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069"
LABEL_PATTERN = f"^[^{_NOT_LABEL}]{{1,200}}$"
LABEL_HELP = "1-200 printable characters; no control, line-break or bidirectional-override characters"


def check_label(value: str, field_path: str, source: str = "code") -> str:
    """Refuse a stage name or run id that is not a label, where it enters (not after the work ran)."""
    import re

    from carbonguard.errors import InputError, Problem

    if not isinstance(value, str) or not re.fullmatch(LABEL_PATTERN, value):  # not match: $ allows a final \n
        raise InputError(Problem(f"{value!r} is not allowed: {LABEL_HELP}", source=source, field_path=field_path))
    return value


def to_label(value: str) -> str:
    """A label derived from something the user did not choose as one (a command's file name)."""
    import re

    cleaned = re.sub(f"[{_NOT_LABEL}]", "?", value)[:200]
    return cleaned or "?"


class StageRecord(Model):
    """One metered attempt of one training stage (a Prefect task run, a command, a code block)."""

    kind: Literal["stage"] = "stage"
    run_id: str = Field(min_length=1, pattern=LABEL_PATTERN, description=LABEL_HELP)
    flow_name: str
    stage: str = Field(min_length=1, pattern=LABEL_PATTERN, description=LABEL_HELP)
    task_run_id: str | None = None
    attempt: int = Field(default=1, ge=1)
    cached: bool = Field(default=False, description="A cached task run did no work and records no energy.")
    start: AwareDatetime
    end: AwareDatetime
    zone: str | None = None
    host: str
    pid: int
    components: tuple[ComponentEnergy, ...] = ()
    flags: tuple[str, ...] = ()

    _utc = field_validator("start", "end")(lambda v: to_utc(v))

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def energy_kwh(self) -> float:
        """Sum of the available readings; check `unavailable` before trusting it as complete."""
        return sum(c.energy_kwh for c in self.components if c.energy_kwh is not None)

    @property
    def unavailable(self) -> tuple[ComponentEnergy, ...]:
        return tuple(c for c in self.components if c.method == EnergyMethod.UNAVAILABLE)


class Reading(NamedTuple):
    """One component's figures, as attribution and accounting read them (see `StageRow`)."""

    component: str
    device: str
    method: EnergyMethod
    energy_kwh: float | None
    uncertainty_kwh: float


class StageRow(NamedTuple):
    """What pricing a stage record needs, and only that: the gate's compact form of a `StageRecord`.

    Why: a validated `StageRecord` with two readings holds about 3.8 KB of Python objects, so a run
    of 99,000 stages held as models took 376 MB before any copy; as rows (times as integer
    microseconds since the epoch, UTC) it takes about a tenth. Rows are made only from validated
    records (`stage_row`), so they carry the same values, bit for bit; integer microseconds give
    the same floats as the datetimes did (`datetime.timestamp()` and `timedelta.total_seconds()`
    both divide whole microseconds by 10**6).
    """

    stage: str
    start_us: int
    end_us: int
    cached: bool
    zone: str | None
    host: str
    pid: int
    readings: tuple[Reading, ...]

    @property
    def start(self) -> datetime:
        return from_us(self.start_us)

    @property
    def end(self) -> datetime:
        return from_us(self.end_us)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)


def to_us(value: datetime) -> int:
    """An aware datetime as whole microseconds since the epoch (UTC), exactly."""
    return (value - _EPOCH) // _ONE_US


def from_us(us: int) -> datetime:
    """The UTC datetime `us` microseconds after the epoch (the inverse of `to_us`)."""
    return _EPOCH + timedelta(microseconds=us)


def stage_row(record: StageRecord, strings: dict[str, str] | None = None) -> StageRow:
    """The compact row of a validated record; `strings` (a dict kept across calls) makes repeated
    names one object each rather than one per record."""
    one = (lambda text: text) if strings is None else (lambda text: strings.setdefault(text, text))
    readings = tuple([Reading(one(c.component), one(c.device), c.method, c.energy_kwh, c.uncertainty_kwh)
                      for c in record.components])
    zone = record.zone
    return StageRow(one(record.stage), (record.start - _EPOCH) // _ONE_US, (record.end - _EPOCH) // _ONE_US,
                    record.cached, zone if zone is None else one(zone), one(record.host), record.pid, readings)


_FIELDS_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)  # `Model`'s checks (frozen is moot for a dict)


@with_config(_FIELDS_CONFIG)
class _ComponentFields(TypedDict):
    """`ComponentEnergy`'s fields and constraints, validated into a plain dict (see `StageRowParser`)."""

    component: Literal["gpu", "cpu", "dram"]
    device: str
    method: EnergyMethod
    energy_kwh: NotRequired[Annotated[float | None, Field(ge=0)]]
    uncertainty_kwh: NotRequired[Annotated[float, Field(ge=0)]]
    source: str
    shared: NotRequired[bool]
    flags: NotRequired[tuple[str, ...]]


@with_config(_FIELDS_CONFIG)
class _StageFields(TypedDict):
    """`StageRecord`'s fields and constraints, validated into a plain dict (see `StageRowParser`)."""

    kind: NotRequired[Literal["stage"]]
    run_id: Annotated[str, Field(min_length=1, pattern=LABEL_PATTERN)]
    flow_name: str
    stage: Annotated[str, Field(min_length=1, pattern=LABEL_PATTERN)]
    task_run_id: NotRequired[str | None]
    attempt: NotRequired[Annotated[int, Field(ge=1)]]
    cached: NotRequired[bool]
    start: AwareDatetime
    end: AwareDatetime
    zone: NotRequired[str | None]
    host: str
    pid: int
    components: NotRequired[tuple[_ComponentFields, ...]]
    flags: NotRequired[tuple[str, ...]]


class StageRowParser:
    """A stage record's canonical JSON bytes -> its `StageRow`, validated as `StageRecord` validates it.

    Why not `stage_row(StageRecord.model_validate_json(b))`: for a run of 99,000 stages that spent
    1.4 s in validation, most of it building three models per record and calling their Python
    validators (`to_utc` twice, the energy/method rule twice), only for the row to be copied out.
    Here pydantic checks the same fields with the same constraints into plain dicts
    (`_StageFields`, held to `StageRecord`'s JSON schema by tests/ledger/test_stage_row_parser.py),
    the energy/method rule is checked while the row is built, and `to_utc` is moot (a row's times
    are microseconds since the epoch, whatever the offset). Anything refused here is validated
    again by `StageRecord` itself: its error (field path and message) is the one raised, and were
    it to pass there, its row is used, so this can only be stricter, never more lenient.
    Repeated names become one string object each (`strings`, kept across calls).

    `canonical_rows` reads many payloads in exactly the form the ledger writes without pydantic
    (`stage_bytes`: one regular expression per record, the rest column by column); it accepts a
    subset of what the model accepts, with the same rows, and leaves anything else to `self(...)`.
    """

    def __init__(self) -> None:
        from pydantic import TypeAdapter

        from carbonguard.stage_bytes import StageBytes

        self._validate = TypeAdapter(_StageFields).validate_json
        self.strings: dict[str, str] = {}
        self._canonical = StageBytes(StageRow, Reading, {m.value: m for m in EnergyMethod},
                                     EnergyMethod.UNAVAILABLE, LABEL_PATTERN, self.strings)

    def canonical_rows(self, payloads: list[bytes]) -> list[StageRow | None]:
        """The rows of payloads in the ledger's form, many at a time (`stage_bytes`); None for each
        payload that needs `self(payload)`, the validation in full."""
        return self._canonical.many(payloads)

    def __call__(self, payload: bytes) -> StageRow:
        try:
            fields = self._validate(payload)
        except ValueError:
            return stage_row(StageRecord.model_validate_json(payload), self.strings)
        one, new, unavailable = self.strings.setdefault, tuple.__new__, EnergyMethod.UNAVAILABLE
        readings = []
        for c in fields.get("components", ()):
            method, energy = c["method"], c.get("energy_kwh")
            if (energy is None) != (method is unavailable):  # `ComponentEnergy._energy_matches_method`
                return stage_row(StageRecord.model_validate_json(payload), self.strings)
            component, device = c["component"], c["device"]
            # tuple.__new__: a NamedTuple's own __new__ is a Python function, a call per reading
            readings.append(new(Reading, (one(component, component), one(device, device), method, energy,
                                          c.get("uncertainty_kwh", 0.0))))
        stage, zone, host = fields["stage"], fields.get("zone"), fields["host"]
        return new(StageRow, (one(stage, stage), (fields["start"] - _EPOCH) // _ONE_US,
                              (fields["end"] - _EPOCH) // _ONE_US, fields.get("cached", False),
                              zone if zone is None else one(zone, zone), one(host, host), fields["pid"],
                              tuple(readings)))


def stage_rows(records: Iterable[StageRecord | StageRow]) -> list[StageRow]:
    """Rows of records (rows pass through), for the functions that accept either.

    Rows only (what the gate passes, three times per run) are copied in C: the types are read with
    `map`, rather than each record tested in Python (a tenth of a second for 99,000 rows)."""
    records = list(records)
    if set(map(type, records)) <= {StageRow}:
        return records
    return [r if isinstance(r, StageRow) else stage_row(r) for r in records]


StageRecords = Sequence[StageRecord] | Sequence[StageRow]


class HourlyBucket(Model):
    """Energy and location-based emissions of one clock hour (UTC) of a run."""

    hour_start: AwareDatetime
    energy_kwh: float = Field(ge=0, description="Facility energy: IT energy x PUE.")
    energy_upper_kwh: float = Field(ge=0)
    intensity_g_per_kwh: float | None = Field(default=None, ge=0)
    co2e_kg: float | None = Field(default=None, ge=0)
    co2e_upper_kg: float | None = Field(default=None, ge=0)
    intensity_provider: str | None = None
    intensity_origin: Origin | None = None

    _utc = field_validator("hour_start")(lambda v: to_utc(v))


def energy_is_known(unavailable_components: int, it_energy_kwh: float) -> bool:
    """The one rule for "no reading": devices were metered, some gave none, and none gave a figure.

    Then the energy is unknown, never 0. With some readings present the figure is a lower bound
    (`unavailable_components > 0`), which surfaces say beside it. Every surface asks this (through
    the footprints' `energy_known`), so a missing reading cannot come back as 0 through a copy.
    """
    return not (unavailable_components > 0 and it_energy_kwh == 0)


class _KnownEnergy:
    """What a footprint (run or stage) says about itself: is its energy known, is it complete."""

    unavailable_components: int
    it_energy_kwh: float
    energy_kwh: float
    co2e_kg: float | None

    @property
    def energy_known(self) -> bool:
        return energy_is_known(self.unavailable_components, self.it_energy_kwh)

    @property
    def energy_complete(self) -> bool:
        """False when some device gave no reading: the figures are then lower bounds."""
        return self.unavailable_components == 0

    @property
    def known_energy_kwh(self) -> float | None:
        """Facility energy, or None when no device gave a reading."""
        return self.energy_kwh if self.energy_known else None

    @property
    def known_co2e_kg(self) -> float | None:
        """Location-based CO2e, or None when the energy or the intensity is unknown."""
        return self.co2e_kg if self.energy_known else None


class StageFootprint(_KnownEnergy, Model):
    """One stage's share of a run footprint, as the gate's stage budgets see it."""

    stage: str
    records: int = Field(ge=0)
    it_energy_kwh: float = Field(ge=0)
    energy_kwh: float = Field(ge=0)
    energy_upper_kwh: float = Field(ge=0)
    co2e_kg: float | None = Field(default=None, ge=0)
    co2e_upper_kg: float | None = Field(default=None, ge=0)
    estimated_components: int = Field(default=0, ge=0)
    unavailable_components: int = Field(default=0, ge=0)


class JudgedRecords(Model):
    """Which stage records a footprint and its decision judged, as a digest rather than a list.

    The records are the run's stage records and those of its subflow runs (from `subflow` records)
    with `seq <= through_seq`; `sha256` is `carbonguard.judged.judged_sha256` of their hashes.
    The ledger derives the list again to check it (on append, and `audit judged` prints it).
    """

    count: int = Field(ge=0, description="How many stage records were judged.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Digest of their sorted hashes (docs/ledger.md).")
    through_seq: int = Field(ge=0, description="The ledger head the gate verified and read up to.")

    @classmethod
    def of(cls, hashes: tuple[str, ...] | list[str], through_seq: int) -> JudgedRecords:
        return cls(count=len(hashes), sha256=judged_sha256(hashes), through_seq=through_seq)


class RunFootprint(_KnownEnergy, Model):
    """Everything the gate needs to know about a run's energy and emissions, with sources."""

    run_id: str
    zone: str
    pue: float = Field(ge=1.0)
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    it_energy_kwh: float = Field(ge=0, description="Sum of device readings, before PUE.")
    energy_kwh: float = Field(ge=0, description="Facility energy: it_energy_kwh x PUE.")
    energy_upper_kwh: float = Field(ge=0)
    co2e_kg: float | None = Field(default=None, ge=0, description="Location-based (GHG Protocol Scope 2).")
    co2e_upper_kg: float | None = Field(default=None, ge=0)
    market_co2e_kg: float | None = Field(default=None, ge=0, description="Market-based, when matching ran.")
    hourly: tuple[HourlyBucket, ...] = ()
    stages: tuple[StageFootprint, ...] = ()
    intensity_sources: tuple[IntensityPoint, ...] = ()
    estimated_components: int = Field(default=0, ge=0)
    unavailable_components: int = Field(default=0, ge=0)
    judged_records: JudgedRecords | None = Field(
        default=None, description="The stage records used, as a digest; None when not read from a ledger.")
    record_hashes: tuple[str, ...] = Field(
        default=(), description="Footprints written before judged_records listed every hash; read, never written.")
    zone_mismatch: tuple[str, ...] = Field(
        default=(), description="Grid zones recorded by stages that differ from `zone`, sorted."
    )
    flags: tuple[str, ...] = ()

    def stage(self, name: str) -> StageFootprint | None:
        return next((s for s in self.stages if s.stage == name), None)

    @model_serializer(mode="wrap")
    def _without_legacy_list(self, handler: Any) -> Any:
        return _drop_empty(handler(self), "record_hashes")


class Outcome(str, Enum):
    """What the gate says; `severity` orders them so the worst finding decides."""

    ALLOW = "allow"
    WARN = "warn"
    RESCHEDULE = "reschedule"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Outcome.ALLOW: 0, Outcome.WARN: 1, Outcome.RESCHEDULE: 2, Outcome.BLOCK: 3}


class WaiverRef(Model):
    rule: str
    reason: str
    approved_by: str
    expires: str
    policy_line: int | None = None


class Finding(Model):
    """One explained reason for a decision: stable rule id, observed vs limit, where, and the fix."""

    rule_id: str
    outcome: Outcome
    message: str
    scope: str = "run"
    observed: float | None = None
    limit: float | None = None
    unit: str | None = None
    policy_file: str | None = None
    policy_line: int | None = None
    remedy: str | None = None
    waived_by: WaiverRef | None = None


class RescheduleProposal(Model):
    """What `reschedule` proposes: run in `zone` from `start` to `end`, or why no window beats now.

    Filled by the gate from `carbonguard.scheduling.propose`; surfaces act on it (Prefect creates the
    deferred flow run), never recompute it.
    """

    proposed: bool
    zone: str | None = None
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    mean_g_per_kwh: float | None = Field(default=None, ge=0, description="Time-weighted mean over the window.")
    run_now_zone: str | None = None
    run_now_g_per_kwh: float | None = Field(default=None, ge=0, description="Running now in the run's zone.")
    saving_g_per_kwh: float | None = None
    saving_fraction: float | None = None
    saving_co2e_kg: float | None = Field(default=None, description="Given the run's energy; None when unknown.")
    duration_s: float | None = Field(default=None, gt=0, description="Job duration the window was sized for.")
    reason: str

    _utc = field_validator("start", "end")(lambda v: v if v is None else to_utc(v))


class Decision(Model):
    """The gate's answer, with everything needed to replay it from the ledger."""

    kind: Literal["decision"] = "decision"
    outcome: Outcome
    run_id: str
    policy_name: str
    policy_version: str
    policy_hash: str
    policy_file: str | None = None
    evaluated_at: AwareDatetime
    energy_kwh: float | None = None
    co2e_kg: float | None = None
    energy_complete: bool = Field(
        default=True, description="False when some device gave no reading: the figures are then lower bounds."
    )
    findings: tuple[Finding, ...] = ()
    reschedule: RescheduleProposal | None = Field(
        default=None, description="Set when a rule asked to reschedule: the window and zone, or why none."
    )
    judged_records: JudgedRecords | None = Field(
        default=None, description="The stage records judged, as a digest (the footprint's).")
    evaluated_record_hashes: tuple[str, ...] = Field(
        default=(), description="Decisions written before judged_records listed every hash; read, never written.")
    functional_unit: str | None = Field(default=None, description="R of the SCI score, named by the policy.")
    functional_units: float | None = Field(default=None, gt=0, description="How many R this run produced.")
    cfe_score: float | None = Field(
        default=None, ge=0, le=1,
        description="Hourly carbon-free energy score when the policy matches certificates (spec.matching).")
    market_co2e_kg: float | None = Field(
        default=None, ge=0, description="Market-based CO2e (unmatched energy x residual mix), when matching ran.")

    _utc = field_validator("evaluated_at")(lambda v: to_utc(v))

    @property
    def active_findings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.waived_by is None)

    @model_serializer(mode="wrap")
    def _without_legacy_list(self, handler: Any) -> Any:
        return _drop_empty(handler(self), "evaluated_record_hashes")


def _drop_empty(dumped: Any, name: str) -> Any:
    """A legacy list is dumped only when a record read back carries one, so new payloads stay small."""
    if isinstance(dumped, dict) and not dumped.get(name):
        dumped.pop(name, None)
    return dumped


class Figures(Model):
    """Energy and CO2e of a run or a stage, central and upper bound; None where unknown (never 0)."""

    energy_kwh: float | None = Field(default=None, ge=0, description="Facility energy.")
    energy_upper_kwh: float | None = Field(default=None, ge=0)
    co2e_kg: float | None = Field(default=None, ge=0, description="Location-based.")
    co2e_upper_kg: float | None = Field(default=None, ge=0)

    @classmethod
    def of(cls, footprint: RunFootprint | StageFootprint) -> Figures:
        """A footprint's figures, with "no reading" kept unknown rather than 0."""
        known = footprint.energy_known
        return cls(
            energy_kwh=footprint.energy_kwh if known else None,
            energy_upper_kwh=footprint.energy_upper_kwh if known else None,
            co2e_kg=footprint.co2e_kg if known else None,
            co2e_upper_kg=footprint.co2e_upper_kg if known else None,
        )

    def value(self, metric: str, upper: bool = False) -> float | None:
        """The figure a budget of `metric` ('co2e_kg' or 'energy_kwh') judges."""
        if metric == "energy_kwh":
            return self.energy_upper_kwh if upper else self.energy_kwh
        return self.co2e_upper_kg if upper else self.co2e_kg


class FigureSet(Model):
    """One side of a comparison (a baseline, or base/head of a diff): totals and per-stage figures.

    The gate takes the baseline as this value, so judging an increase stays pure: the caller reads
    the base branch's estimate or a recorded run, and the gate only compares numbers.
    """

    label: str = Field(description="How the side is named in messages, e.g. 'main' or a run id.")
    source: str | None = Field(default=None, description="File or run the figures came from.")
    total: Figures
    stages: tuple[tuple[str, Figures], ...] = Field(default=(), description="(stage, figures), in stage order.")

    def stage(self, name: str) -> Figures | None:
        return next((f for s, f in self.stages if s == name), None)

    @classmethod
    def of(cls, footprints: tuple[RunFootprint, ...] | list[RunFootprint], *, label: str,
           source: str | None = None) -> FigureSet:
        """Totals and stages of one or more footprints (an estimate has one per grid and PUE)."""
        totals = [Figures.of(f) for f in footprints]
        stages = [(s.stage, Figures.of(s)) for f in footprints for s in f.stages]
        return cls(label=label, source=source, total=sum_figures(totals), stages=tuple(stages))


def sum_figures(parts: list[Figures]) -> Figures:
    """Sum of figures; a field is unknown when any part's is (a partial sum would read as complete)."""
    def add(name: str) -> float | None:
        values = [getattr(p, name) for p in parts]
        return None if any(v is None for v in values) else float(sum(values))

    return Figures(energy_kwh=add("energy_kwh"), energy_upper_kwh=add("energy_upper_kwh"),
                   co2e_kg=add("co2e_kg"), co2e_upper_kg=add("co2e_upper_kg"))
