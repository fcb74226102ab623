"""Granular certificate bundles held as columns: a million bundles in well under a gigabyte.

Why not one pydantic model per row: validating a bundle through `GranularCertificateBundle` costs
about 6 us and holding it about 1 KB, so a registry export of a million bundles would take most of
the matching budget and over a gigabyte before anything is judged. `BundleTable` validates each
row field by field against exactly the constraints of the model (a test holds the two together)
and keeps typed columns (`array` for numbers, shared strings for repeated text). Times are kept as
integer microseconds since the Unix epoch, UTC. `bundle(i)` rebuilds the public model of one row.

Pure: rows in, columns (or located problems) out; reading files is `loader.py`'s job.
"""

from __future__ import annotations

import gc
import math
import operator
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from carbonguard.errors import Problem
from carbonguard.matching.models import MAX_CERTIFICATE_ID, STATUSES, GranularCertificateBundle

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
NONE_US = -(2**63)  # "no time" in a microsecond column
US_PER_S = 1_000_000
US_PER_HOUR = 3_600 * US_PER_S

BUNDLE_FIELDS = tuple(name for name in GranularCertificateBundle.model_fields)
_STATUS = {s: s for s in STATUSES} | {s.capitalize(): s for s in STATUSES}
_TEXT_BOOLS = {None: 0, "": 0, "true": 1, "false": 0, "1": 1, "0": 0, "True": 1, "False": 0, "TRUE": 1, "FALSE": 0}


class RowError(ValueError):
    """One bad field of one row; the caller adds the file and line or JSON path."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name
        self.message = message


def to_us(value: datetime) -> int:
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


@dataclass
class BundleTable:
    """Validated bundles of one file, column by column; row i of every column is bundle i."""

    source: str
    registry: list[str] = field(default_factory=list)
    first: array = field(default_factory=lambda: array("q"))
    last: array = field(default_factory=lambda: array("q"))
    stated_wh: array = field(default_factory=lambda: array("q"))
    face_wh: array = field(default_factory=lambda: array("q"))
    carrier: list[str] = field(default_factory=list)
    energy_source: list[str] = field(default_factory=list)
    device_id: list[str] = field(default_factory=list)
    capacity_w: array = field(default_factory=lambda: array("d"))  # nan: not stated
    start_us: array = field(default_factory=lambda: array("q"))
    end_us: array = field(default_factory=lambda: array("q"))
    status: list[str] = field(default_factory=list)
    beneficiary: list[str | None] = field(default_factory=list)
    expiry_us: array = field(default_factory=lambda: array("q"))
    expiry_is_date: bytearray = field(default_factory=bytearray)
    cancelled_us: array = field(default_factory=lambda: array("q"))  # NONE_US: not stated
    storage: bytearray = field(default_factory=bytearray)
    sdr_allocation_id: list[str | None] = field(default_factory=list)
    efficiency: array = field(default_factory=lambda: array("d"))  # nan: not stated
    zone: list[str] = field(default_factory=list)
    zone_field: bytearray = field(default_factory=bytearray)  # 1 when given as issue_market_zone
    issuance_id: list[str | None] = field(default_factory=list)
    line: array = field(default_factory=lambda: array("q"))  # CSV/JSONL line, or JSON array index
    json_path: str | None = None  # JSON files: "$.granular_certificate_bundles" or "$"

    def __len__(self) -> int:
        return len(self.first)

    def where(self, i: int) -> tuple[int | None, str | None]:
        """(line, JSON path) of row i, for messages."""
        if self.json_path is not None:
            return None, f"{self.json_path}[{self.line[i]}]"
        return self.line[i], None

    def bundle(self, i: int) -> GranularCertificateBundle:
        """The public model of row i (exact: every field round-trips)."""
        cap = self.capacity_w[i]
        eff = self.efficiency[i]
        expiry = from_us(self.expiry_us[i])
        zone_key = "issue_market_zone" if self.zone_field[i] else "zone"
        return GranularCertificateBundle.model_validate({
            "registry": self.registry[i],
            "certificate_bundle_id_range_start": self.first[i],
            "certificate_bundle_id_range_end": self.last[i],
            "bundle_quantity": self.stated_wh[i],
            "face_value": self.face_wh[i],
            "energy_carrier": self.carrier[i],
            "energy_source": self.energy_source[i],
            "device_id": self.device_id[i],
            "device_capacity": None if math.isnan(cap) else (int(cap) if cap.is_integer() else cap),
            "production_starting_interval": from_us(self.start_us[i]),
            "production_ending_interval": from_us(self.end_us[i]),
            "certificate_bundle_status": self.status[i],
            "beneficiary": self.beneficiary[i],
            "expiry_datestamp": expiry.date() if self.expiry_is_date[i] else expiry,
            "cancellation_timestamp": None if self.cancelled_us[i] == NONE_US else from_us(self.cancelled_us[i]),
            "is_storage": bool(self.storage[i]),
            "sdr_allocation_id": self.sdr_allocation_id[i],
            "storage_efficiency_factor": None if math.isnan(eff) else eff,
            zone_key: self.zone[i],
            "issuance_id": self.issuance_id[i],
        })


class BundleParser:
    """Validates rows into a `BundleTable`. `text=True` for CSV (every value a string, '' = absent);
    `text=False` for JSON values, typed as JSON types them (no numbers in strings)."""

    def __init__(self, table: BundleTable, *, text: bool) -> None:
        self.table = table
        self.text = text
        self._strings: dict[str, str] = {}
        self._times: dict[str, int] = {}
        self._dates: dict[str, tuple[int, bool]] = {}

    # -- scalar readers --------------------------------------------------------------------
    def _present(self, row: Mapping[str, object], name: str) -> object:
        value = row.get(name)
        if value is None or (self.text and value == ""):
            return None
        return value

    def _required(self, row: Mapping[str, object], name: str) -> object:
        value = self._present(row, name)
        if value is None:
            raise RowError(name, "required field is missing")
        return value

    def _int(self, name: str, value: object, low: int, high: int) -> int:
        if self.text:
            text = value if isinstance(value, str) else ""
            stripped = text.strip()
            if not (stripped.isdecimal() or (stripped[:1] in "+-" and stripped[1:].isdecimal())):
                raise RowError(name, f"{text!r} is not an integer")
            number = int(stripped)
        elif type(value) is int:
            number = value
        else:
            raise RowError(name, f"{value!r} is not an integer")
        if number < low or number > high:
            raise RowError(name, f"{number} is outside {low}..{high}")
        return number

    def _float(self, name: str, value: object) -> float:
        if self.text:
            try:
                number = float(value)  # type: ignore[arg-type]
            except ValueError:
                raise RowError(name, f"{value!r} is not a number") from None
        elif type(value) in (int, float):
            number = float(value)  # type: ignore[arg-type]
        else:
            raise RowError(name, f"{value!r} is not a number")
        if not math.isfinite(number):
            raise RowError(name, f"{value!r} is not a finite number")
        return number

    def _str(self, name: str, value: object, max_length: int, *, allow_int: bool = False) -> str:
        if isinstance(value, str):
            if not value or len(value) > max_length:
                raise RowError(name, f"must be 1 to {max_length} characters")
            shared = self._strings.get(value)
            if shared is None:
                if len(self._strings) < 65_536:
                    self._strings[value] = value
                shared = value
            return shared
        if allow_int and type(value) is int:
            return str(value)
        raise RowError(name, f"{value!r} is not a string")

    def _time(self, name: str, value: object) -> int:
        if not isinstance(value, str):
            raise RowError(name, f"{value!r} is not an ISO 8601 time")
        cached = self._times.get(value)
        if cached is not None:
            return cached
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise RowError(name, f"{value!r} is not an ISO 8601 time") from None
        if parsed.tzinfo is None or parsed.utcoffset() is None or len(text) < 16:
            raise RowError(name, f"{value!r} has no UTC offset; write e.g. 2026-01-01T10:00:00Z")
        micros = to_us(parsed)
        if len(self._times) < 200_000:
            self._times[value] = micros
        return micros

    def _date_or_time(self, name: str, value: object) -> tuple[int, bool]:
        if isinstance(value, str) and len(value) == 10:
            cached = self._dates.get(value)
            if cached is not None:
                return cached
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise RowError(name, f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
            result = (to_us(datetime(day.year, day.month, day.day, tzinfo=timezone.utc)), True)
            self._dates[value] = result
            return result
        return self._time(name, value), False

    def _bool(self, name: str, value: object) -> bool:
        if self.text:
            lowered = str(value).strip().lower()
            if lowered in ("true", "1"):
                return True
            if lowered in ("false", "0"):
                return False
        elif value is True or value is False or (type(value) is int and value in (0, 1)):
            return bool(value)
        raise RowError(name, f"{value!r} is not true or false")

    # -- a chunk of rows, column by column ---------------------------------------------------
    def add_columns(self, columns: Mapping[str, Sequence[object]], wheres: Sequence[int]) -> bool:
        """Validate a chunk column by column and append it.

        Each column is checked with C-speed passes (`set`, `map`, `min`/`max`); values that repeat
        (zones, sources, statuses, times) are parsed once per distinct value. Returns False,
        appending nothing, when any value of the chunk is not plainly valid; the caller then runs
        `add` row by row, which decides and names the exact row and field. This path may refuse
        more than `add` does, never less. In CSV an empty cell is an absent value.
        """
        n = len(wheres)
        absent = (None, "") if self.text else (None,)
        none: Sequence[object] = (None,) * n

        def col(name: str) -> Sequence[object]:
            values = columns.get(name)
            return none if values is None else values

        try:
            if not set(col("kind")) <= {*absent, "granular"}:
                return False
            ints = {}
            for name, high in (("certificate_bundle_id_range_start", MAX_CERTIFICATE_ID),
                               ("certificate_bundle_id_range_end", MAX_CERTIFICATE_ID),
                               ("bundle_quantity", 2**63 - 1), ("face_value", 2**63 - 1)):
                values = col(name)
                if self.text:
                    if values is none or not all(map(str.isdecimal, values)):  # type: ignore[arg-type]
                        return False
                    numbers = array("q", map(int, values))  # type: ignore[arg-type]
                else:
                    if set(map(type, values)) != {int}:
                        return False
                    numbers = array("q", values)  # type: ignore[arg-type]
                low = 0 if name.startswith("certificate_bundle_id") else 1
                if n and (min(numbers) < low or max(numbers) > high):
                    return False
                ints[name] = numbers
            first, last = ints["certificate_bundle_id_range_start"], ints["certificate_bundle_id_range_end"]
            if any(map(operator.lt, last, first)):
                return False
            strings = {}
            for name, max_length, optional in (("registry", 64, False), ("energy_carrier", 64, False),
                                               ("energy_source", 64, False), ("device_id", 2**31, False),
                                               ("beneficiary", 256, True), ("sdr_allocation_id", 2**31, True),
                                               ("issuance_id", 2**31, True), ("zone", 64, False)):
                column = self._strings_column(col(name), max_length, optional=optional, absent=absent)
                if column is None:
                    return False
                strings[name] = column
            if not set(col("issue_market_zone")) <= set(absent):
                return False  # gc_registry's field name: judged row by row
            capacity = self._floats_column(col("device_capacity"), upper=None, absent=absent)
            efficiency = self._floats_column(col("storage_efficiency_factor"), upper=1.0, absent=absent)
            start = self._times_column(col("production_starting_interval"), optional=False, absent=absent)
            end = self._times_column(col("production_ending_interval"), optional=False, absent=absent)
            cancelled = self._times_column(col("cancellation_timestamp"), optional=True, absent=absent)
            if (capacity is None or efficiency is None or start is None or end is None or cancelled is None
                    or any(map(operator.le, end, start))):
                return False
            expiry_values = col("expiry_datestamp")
            distinct_expiry = set(expiry_values)
            if distinct_expiry & set(absent):
                return False
            parsed = {v: self._date_or_time("expiry_datestamp", v) for v in distinct_expiry}
            expiry = array("q", map({v: p[0] for v, p in parsed.items()}.__getitem__, expiry_values))
            expiry_is_date = bytearray(map({v: p[1] for v, p in parsed.items()}.__getitem__, expiry_values))
            statuses = col("certificate_bundle_status")
            if not set(statuses) <= _STATUS.keys():
                return False
            storage_values = col("is_storage")
            if self.text:
                if not set(storage_values) <= _TEXT_BOOLS.keys():
                    return False
                storage = bytearray(map(_TEXT_BOOLS.__getitem__, storage_values))
            else:
                if not set(map(type, storage_values)) <= {bool, int, type(None)} or not set(storage_values) <= {
                        None, False, True}:
                    return False
                storage = bytearray(1 if v else 0 for v in storage_values)
        except (RowError, TypeError, ValueError, OverflowError):
            return False

        tab = self.table
        tab.registry.extend(strings["registry"])
        tab.first.extend(first)
        tab.last.extend(last)
        tab.stated_wh.extend(ints["bundle_quantity"])
        tab.face_wh.extend(ints["face_value"])
        tab.carrier.extend(strings["energy_carrier"])
        tab.energy_source.extend(strings["energy_source"])
        tab.device_id.extend(strings["device_id"])
        tab.capacity_w.extend(capacity)
        tab.start_us.extend(start)
        tab.end_us.extend(end)
        tab.status.extend(map(_STATUS.__getitem__, statuses))  # type: ignore[arg-type]
        tab.beneficiary.extend(strings["beneficiary"])
        tab.expiry_us.extend(expiry)
        tab.expiry_is_date.extend(expiry_is_date)
        tab.cancelled_us.extend(cancelled)
        tab.storage.extend(storage)
        tab.sdr_allocation_id.extend(strings["sdr_allocation_id"])
        tab.efficiency.extend(efficiency)
        tab.zone.extend(strings["zone"])
        tab.zone_field.extend(bytes(n))
        tab.issuance_id.extend(strings["issuance_id"])
        tab.line.extend(wheres)
        return True

    def _strings_column(self, values: Sequence[object], max_length: int, *, optional: bool,
                        absent: tuple[object, ...]) -> Sequence[object] | None:
        """The column with repeated strings shared (absent values as None), or None when a value is
        not a plain valid string. Checked on the distinct values: a column has few."""
        distinct = set(values)
        missing = distinct.intersection(absent)
        if missing and not optional:
            return None
        present = distinct - missing
        # `set` merges equal values of different types (1, 1.0, True); none of them is a str, so a
        # column holding any of them still fails here.
        if not all(type(v) is str for v in present):
            return None
        if present and (min(map(len, present)) < 1 or max(map(len, present)) > max_length):  # type: ignore[arg-type]
            return None
        if len(present) * 4 > len(values) and not missing:
            return values  # mostly unique (device ids): sharing would not pay
        shared: dict[object, object] = dict.fromkeys(missing)
        for v in present:
            shared[v] = self._strings.setdefault(v, v) if len(self._strings) < 65_536 else v  # type: ignore[arg-type]
        return list(map(shared.__getitem__, values))

    def _floats_column(self, values: Sequence[object], *, upper: float | None,
                       absent: tuple[object, ...]) -> array | None:
        """Positive finite numbers (nan where absent), parsed once per distinct value."""
        if not self.text and not set(map(type, values)) <= {int, float, type(None)}:
            return None  # checked on every value: `set` would merge True into 1
        parsed: dict[object, float] = {}
        for v in set(values):
            if v in absent:
                parsed[v] = math.nan
                continue
            number = float(v)  # type: ignore[arg-type]
            if not (math.isfinite(number) and number > 0 and (upper is None or number <= upper)):
                return None
            parsed[v] = number
        return array("d", map(parsed.__getitem__, values))

    def _times_column(self, values: Sequence[object], *, optional: bool, absent: tuple[object, ...]) -> array | None:
        distinct = set(values)
        missing = distinct.intersection(absent)
        if missing and not optional:
            return None
        times: dict[object, int] = dict.fromkeys(missing, NONE_US)
        for v in distinct - missing:
            times[v] = self._time("time", v)
        return array("q", map(times.__getitem__, values))

    # -- one row ---------------------------------------------------------------------------
    def add(self, row: Mapping[str, object], where: int) -> None:
        """Validate `row` and append it; raises RowError and appends nothing when any field is bad."""
        t = self
        kind = t._present(row, "kind")
        if kind is not None and kind != "granular":
            raise RowError("kind", f"{kind!r} is not 'granular'")
        registry = t._str("registry", t._required(row, "registry"), 64)
        first = t._int("certificate_bundle_id_range_start", t._required(row, "certificate_bundle_id_range_start"),
                       0, MAX_CERTIFICATE_ID)
        last = t._int("certificate_bundle_id_range_end", t._required(row, "certificate_bundle_id_range_end"),
                      0, MAX_CERTIFICATE_ID)
        if last < first:
            raise RowError("certificate_bundle_id_range_end", "is before certificate_bundle_id_range_start")
        stated = t._int("bundle_quantity", t._required(row, "bundle_quantity"), 1, 2**63 - 1)
        face = t._int("face_value", t._required(row, "face_value"), 1, 2**63 - 1)
        carrier = t._str("energy_carrier", t._required(row, "energy_carrier"), 64)
        source = t._str("energy_source", t._required(row, "energy_source"), 64)
        device = t._str("device_id", t._required(row, "device_id"), 2**31, allow_int=not t.text)
        raw_cap = t._present(row, "device_capacity")
        capacity = math.nan
        if raw_cap is not None:
            capacity = t._float("device_capacity", raw_cap)
            if capacity <= 0:
                raise RowError("device_capacity", "must be greater than 0")
        start = t._time("production_starting_interval", t._required(row, "production_starting_interval"))
        end = t._time("production_ending_interval", t._required(row, "production_ending_interval"))
        if end <= start:
            raise RowError("production_ending_interval", "must be after production_starting_interval")
        raw_status = t._required(row, "certificate_bundle_status")
        status = _STATUS.get(raw_status) if isinstance(raw_status, str) else None
        if status is None:
            raise RowError("certificate_bundle_status", f"{raw_status!r} is not one of {', '.join(STATUSES)}")
        raw_ben = t._present(row, "beneficiary")
        beneficiary = None if raw_ben is None else t._str("beneficiary", raw_ben, 256)
        expiry, expiry_is_date = t._date_or_time("expiry_datestamp", t._required(row, "expiry_datestamp"))
        raw_cancel = t._present(row, "cancellation_timestamp")
        cancelled = NONE_US if raw_cancel is None else t._time("cancellation_timestamp", raw_cancel)
        raw_storage = t._present(row, "is_storage")
        storage = False if raw_storage is None else t._bool("is_storage", raw_storage)
        raw_sdr = t._present(row, "sdr_allocation_id")
        sdr = None if raw_sdr is None else t._str("sdr_allocation_id", raw_sdr, 2**31, allow_int=not t.text)
        raw_eff = t._present(row, "storage_efficiency_factor")
        efficiency = math.nan
        if raw_eff is not None:
            efficiency = t._float("storage_efficiency_factor", raw_eff)
            if not 0 < efficiency <= 1:
                raise RowError("storage_efficiency_factor", "must be greater than 0 and at most 1")
        raw_zone = t._present(row, "zone")
        raw_imz = t._present(row, "issue_market_zone")
        if (raw_zone is None) == (raw_imz is None):
            raise RowError("zone", "give exactly one of 'zone' or 'issue_market_zone'")
        zone = t._str("zone" if raw_imz is None else "issue_market_zone",
                      raw_zone if raw_imz is None else raw_imz, 64)
        raw_iss = t._present(row, "issuance_id")
        issuance = None if raw_iss is None else t._str("issuance_id", raw_iss, 2**31, allow_int=not t.text)

        tab = t.table
        tab.registry.append(registry)
        tab.first.append(first)
        tab.last.append(last)
        tab.stated_wh.append(stated)
        tab.face_wh.append(face)
        tab.carrier.append(carrier)
        tab.energy_source.append(source)
        tab.device_id.append(device)
        tab.capacity_w.append(capacity)
        tab.start_us.append(start)
        tab.end_us.append(end)
        tab.status.append(status)
        tab.beneficiary.append(beneficiary)
        tab.expiry_us.append(expiry)
        tab.expiry_is_date.append(expiry_is_date)
        tab.cancelled_us.append(cancelled)
        tab.storage.append(storage)
        tab.sdr_allocation_id.append(sdr)
        tab.efficiency.append(efficiency)
        tab.zone.append(zone)
        tab.zone_field.append(raw_imz is not None)
        tab.issuance_id.append(issuance)
        tab.line.append(where)


def located(source: str, error: RowError, line: int | None = None, path: str | None = None) -> Problem:
    """`FILE:line: field: message` (CSV/JSONL) or `FILE: $.path.field: message` (JSON)."""
    if path is not None:
        return Problem(error.message, source=source, field_path=f"{path}.{error.field_name}")
    return Problem(error.message, source=source, line=line, field_path=error.field_name)


RowAdder = Callable[[Mapping[str, object], int], None]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many long-lived objects.

    Loading or matching a large export creates millions of small objects that all survive; the
    collector would rescan them on every generation threshold without freeing any (about a third
    of the run time at a million bundles). Restores the collector's previous state.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
