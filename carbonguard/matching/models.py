"""Certificates in, match results out: the public value types of hourly matching.

Granular certificate bundles use the field names of the EnergyTag GC Scheme as implemented by
Future Energy Associates' open-source granular certificate registry (`gc_registry`,
github.com/Future-Energy-Associates/granular_certificate_registry, `certificate/schemas.py`), so a
registry export loads without a mapping step. Unknown fields of a bundle (account ids, hashes,
issuing-body metadata) are ignored; the fields below are the ones matching judges.

The models are the public API and the source of `policies/schema/certificates-v1.schema.json`. Bulk
loading does not build one model per row (see `table.py`); the two agree field for field, and a test
holds them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

MAX_CERTIFICATE_ID = 2**63 - 2  # the ledger's claim registry stores ids as signed 64-bit integers
STATUSES = ("active", "cancelled", "claimed", "expired", "withdrawn", "locked", "reserved")
USABLE_STATUSES = ("cancelled", "claimed")
# Numbers as JSON writes them (an integer or a decimal), constrained on each branch so the JSON
# Schema carries the bound (a bound on the union would be lost from the schema).
PositiveNumber = Annotated[StrictInt, Field(gt=0)] | Annotated[StrictFloat, Field(gt=0)]
Fraction = Annotated[StrictInt, Field(gt=0, le=1)] | Annotated[StrictFloat, Field(gt=0, le=1)]
Identifier = Annotated[StrictStr, Field(min_length=1)] | StrictInt
STATUS_PATTERN = "^(" + "|".join(f"[{s[0]}{s[0].upper()}]{s[1:]}" for s in STATUSES) + ")$"


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Row(BaseModel):
    """A certificate row as a registry exports it: extra registry fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


class GranularCertificateBundle(_Row):
    """A bundle of granular certificates: consecutive ids, one production interval of at most one hour."""

    kind: Literal["granular"] = Field(default="granular", description="Row kind; 'granular' when absent.")
    registry: StrictStr = Field(min_length=1, max_length=64,
                                description="Registry that issued the bundle; its key must be pinned by the policy.")
    certificate_bundle_id_range_start: StrictInt = Field(ge=0, le=MAX_CERTIFICATE_ID,
                                                         description="First certificate id (inclusive).")
    certificate_bundle_id_range_end: StrictInt = Field(ge=0, le=MAX_CERTIFICATE_ID,
                                                       description="Last certificate id (inclusive).")
    bundle_quantity: StrictInt = Field(gt=0, description="Stated energy of the bundle in Wh; never trusted.")
    face_value: StrictInt = Field(gt=0, description="Energy of each certificate in Wh.")
    energy_carrier: StrictStr = Field(min_length=1, max_length=64, description="Only 'electricity' is matched.")
    energy_source: StrictStr = Field(min_length=1, max_length=64, description="e.g. solar_pv, wind, hydro, nuclear.")
    device_id: Identifier = Field(description="Production (or storage) device id.")
    device_capacity: PositiveNumber | None = Field(default=None, description="Device capacity in W, when stated.")
    production_starting_interval: AwareDatetime = Field(description="Start of production (ISO 8601 with offset).")
    production_ending_interval: AwareDatetime = Field(description="End of production (ISO 8601 with offset).")
    certificate_bundle_status: StrictStr = Field(pattern=STATUS_PATTERN,
                                                 description="active|cancelled|claimed|expired|withdrawn|locked|"
                                                             "reserved (either case).")
    beneficiary: StrictStr | None = Field(default=None, min_length=1, max_length=256,
                                          description="Entity the bundle was cancelled for.")
    expiry_datestamp: AwareDatetime | date = Field(
        description="When the bundle expires if not cancelled; a bare date means 00:00 UTC of that day.")
    cancellation_timestamp: AwareDatetime | None = Field(
        default=None, description="When the bundle was cancelled (carbonguard extension; needed to show it "
                                  "was cancelled before expiry).")
    is_storage: StrictBool | Literal[0, 1] = Field(default=False, description="Released from storage.")
    sdr_allocation_id: Identifier | None = Field(
        default=None, description="Storage discharge record allocated to a storage bundle.")
    storage_efficiency_factor: Fraction | None = Field(
        default=None, description="Round-trip efficiency applied to a storage bundle's energy.")
    zone: StrictStr | None = Field(default=None, min_length=1, max_length=64,
                                   description="Bidding/market zone of production, e.g. 'FR', 'DE'.")
    issue_market_zone: StrictStr | None = Field(
        default=None, min_length=1, max_length=64, description="gc_registry's name for `zone`; give one of them.")
    issuance_id: Identifier | None = Field(default=None, description="Registry issuance id, if exported.")

    _utc = field_validator("production_starting_interval", "production_ending_interval",
                           "cancellation_timestamp")(lambda v: None if v is None else _utc(v))

    @field_validator("production_starting_interval", "production_ending_interval", "cancellation_timestamp",
                     "expiry_datestamp", mode="before")
    @classmethod
    def _written_time(cls, value: object) -> object:
        """Times are ISO 8601 text (or datetime/date values), never bare numbers of seconds."""
        if isinstance(value, (int, float)):
            raise ValueError("must be an ISO 8601 time with its UTC offset, not a number")
        return value

    @field_validator("certificate_bundle_status")
    @classmethod
    def _lower_status(cls, value: str) -> str:
        return value.lower()

    @model_validator(mode="after")
    def _consistent(self) -> GranularCertificateBundle:
        if self.certificate_bundle_id_range_end < self.certificate_bundle_id_range_start:
            raise ValueError("certificate_bundle_id_range_end is before certificate_bundle_id_range_start")
        if self.production_ending_interval <= self.production_starting_interval:
            raise ValueError("production_ending_interval must be after production_starting_interval")
        if (self.zone is None) == (self.issue_market_zone is None):
            raise ValueError("give exactly one of 'zone' or 'issue_market_zone'")
        return self

    @property
    def market_zone(self) -> str:
        return self.zone if self.zone is not None else str(self.issue_market_zone)

    @property
    def status(self) -> str:
        return self.certificate_bundle_status

    @property
    def expiry(self) -> datetime:
        value = self.expiry_datestamp
        if isinstance(value, datetime):
            return _utc(value)
        return datetime.combine(value, time(0), tzinfo=timezone.utc)

    @property
    def certificate_range(self) -> str:
        return f"{self.certificate_bundle_id_range_start}-{self.certificate_bundle_id_range_end}"


class AnnualCertificate(_Value):
    """An annual energy attribute certificate (REC, GO, I-REC): reported, never counted as matching."""

    kind: Literal["annual"] = "annual"
    instrument: Literal["REC", "GO", "I-REC", "other"] = Field(default="other", description="Certificate type.")
    registry: StrictStr = Field(min_length=1, max_length=64)
    serial_start: StrictInt = Field(ge=0, le=MAX_CERTIFICATE_ID, description="First serial (inclusive).")
    serial_end: StrictInt = Field(ge=0, le=MAX_CERTIFICATE_ID, description="Last serial (inclusive).")
    vintage_year: StrictInt = Field(ge=1990, le=2200, description="Production year.")
    zone: StrictStr = Field(min_length=1, max_length=64)
    energy_mwh: PositiveNumber = Field(description="Energy in MWh.")
    status: StrictStr = Field(pattern=STATUS_PATTERN)
    beneficiary: StrictStr | None = Field(default=None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _ordered(self) -> AnnualCertificate:
        if self.serial_end < self.serial_start:
            raise ValueError("serial_end is before serial_start")
        return self

    @property
    def serial(self) -> str:
        return f"{self.serial_start}-{self.serial_end}"


class CarbonOffset(_Value):
    """A carbon offset credit: reported apart; counts toward a *net* figure only if the policy says so."""

    kind: Literal["offset"] = "offset"
    registry: StrictStr = Field(min_length=1, max_length=64, description="e.g. Verra, Gold Standard.")
    serial: StrictStr = Field(min_length=1, max_length=256, description="Registry serial number (or range).")
    vintage_year: StrictInt = Field(ge=1990, le=2200)
    status: Literal["retired", "active", "cancelled", "pending"] = Field(description="Must be 'retired' to count.")
    retirement_beneficiary: StrictStr | None = Field(default=None, min_length=1, max_length=256)
    tco2e: PositiveNumber = Field(description="Tonnes CO2e retired.")


class CertificateDocument(_Value):
    """The JSON document form; a bare JSON array of rows (each with `kind`) is accepted as well."""

    granular_certificate_bundles: list[GranularCertificateBundle] = []
    annual_certificates: list[AnnualCertificate] = []
    offsets: list[CarbonOffset] = []


# -- results --------------------------------------------------------------------------------------

class ClaimedRange(_Value):
    """Certificates the ledger already records as claimed (by this run or another)."""

    registry: str
    first: int = Field(ge=0)
    last: int = Field(ge=0)
    run_id: str

    @classmethod
    def from_ledger_payload(cls, payload: dict[str, object]) -> ClaimedRange:
        """From the payload of a ledger `claim` record (ids are decimal strings there)."""
        return cls(registry=str(payload["registry"]), first=int(str(payload["certificate_first"])),
                   last=int(str(payload["certificate_last"])), run_id=str(payload["run_id"]))


# Claims, uses, rejections and hours are slotted dataclasses, not pydantic models: a registry export
# can yield a million of them, and building a pydantic model (or a frozen dataclass) costs several
# times more. Treat them as values. Pydantic still serialises them inside `MatchResult` and
# describes them in its JSON Schema.

@dataclass(slots=True)
class Claim:
    """Certificates this run claims for one hour: exactly the arguments of `Ledger.claim_certificates`."""

    registry: str
    first: int
    last: int
    hour_start: datetime
    zone: str
    beneficiary: str
    run_id: str
    energy_wh: float  # energy counted, after any storage efficiency factor

    @property
    def certificate_range(self) -> str:
        return f"{self.first}-{self.last}"

    def ledger_kwargs(self) -> dict[str, object]:
        """Keyword arguments for `Ledger.claim_certificates` (which records MWh as a decimal)."""
        return {"registry": self.registry, "certificate_range": (self.first, self.last), "run_id": self.run_id,
                "beneficiary": self.beneficiary, "hour": self.hour_start, "zone": self.zone,
                "mwh": Decimal(repr(self.energy_wh)) / Decimal(1_000_000)}


@dataclass(slots=True)
class CertificateUse:
    """Part of a bundle counted in one hour; `already_claimed`: held by this run before this match."""

    registry: str
    range: str
    certificates: int
    energy_kwh: float
    energy_source: str
    device_id: str
    storage: bool = False
    already_claimed: bool = False


@dataclass(slots=True)
class HourMatch:
    """One consumption hour: consumed, matched (`cfe` = matched / consumed; None when it consumed
    nothing) and the certificates counted."""

    hour_start: datetime
    consumption_kwh: float
    matched_kwh: float
    cfe: float | None
    certificates: tuple[CertificateUse, ...] = ()


@dataclass(slots=True)
class Rejection:
    """A certificate range that counts for nothing, with the rule, the reason and where it came from
    (`source` file, `line` for CSV/JSONL, `path` for JSON)."""

    registry: str
    range: str
    rule_id: str
    reason: str
    source: str | None = None
    line: int | None = None
    path: str | None = None


class InstrumentCheck(_Value):
    """One offset or annual certificate as validated: never part of the hourly match."""

    kind: Literal["annual", "offset"]
    registry: str
    serial: str
    vintage_year: int
    quantity: float = Field(description="MWh for annual certificates, tCO2e for offsets (see `unit`).")
    unit: Literal["MWh", "tCO2e"]
    valid: bool
    rule_id: str | None = None
    reason: str | None = None


class OffsetReport(_Value):
    """Offsets and annual certificates, reported apart from matching; net only when the policy counts them."""

    items: tuple[InstrumentCheck, ...] = ()
    offsets_tco2e: float = Field(default=0.0, ge=0, description="Valid retired offsets.")
    annual_mwh: float = Field(default=0.0, ge=0, description="Valid annual certificates (not matching).")
    counted_toward_net: bool = False
    net_co2e_kg: float | None = Field(default=None, ge=0,
                                      description="Market-based CO2e less valid offsets, floored at 0, when counted.")


class MatchResult(_Value):
    """What hourly matching found for one run: score, hours, claims, rejections and the Scope 2 pair."""

    kind: Literal["match"] = "match"
    run_id: str
    zone: str
    cfe_score: float | None = Field(description="sum_h min(C_h, M_h) / sum_h C_h; None when nothing was consumed.")
    consumption_kwh: float = Field(ge=0)
    matched_kwh: float = Field(ge=0)
    unmatched_kwh: float = Field(ge=0)
    hours: tuple[HourMatch, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    claims: tuple[Claim, ...] = Field(default=(), description="New claims to record in the ledger.")
    offsets: OffsetReport = OffsetReport()
    location_co2e_kg: float | None = Field(default=None, ge=0, description="Location-based (grid average).")
    market_co2e_kg: float | None = Field(default=None, ge=0,
                                         description="Market-based: unmatched energy x residual mix.")
    residual_mix_source: str | None = None
    unused_certificates_kwh: float = Field(default=0.0, ge=0,
                                           description="Verified certificate energy left over in its hour.")
    files: tuple[str, ...] = Field(default=(), description="Certificate files with their SHA-256.")
