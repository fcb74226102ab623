"""Stage record payloads, in exactly the form the ledger writes them, read straight into rows.

Why: the gate of a run of 99,000 stages validated each payload with pydantic (into dicts) and then
built its row, most of the time spent building objects the row does not keep. The ledger writes
every stage payload the same way (RFC 8785: sorted keys, no whitespace, quantities as decimal
strings, times as `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`), so one regular expression recognises that
form and captures the few fields a row holds; the captured values are then checked and converted
a column at a time (map, zip, set: in C), not a record at a time.

It accepts a subset of what `StageRecord` accepts and gives the same row for it, never more: every
key present and in order (no extra, none missing), ASCII only, no escape sequences in strings,
integers and booleans as JSON literals, quantities as non-negative decimal strings that parse to a
finite float, calendar-valid UTC times, labels checked against `LABEL_PATTERN`, and the energy/
method rule. Anything else (an older or foreign writer's form, a refused value) comes back as None
and the caller validates it in full (`models.StageRowParser`), so errors stay the model's.
tests/ledger/test_stage_row_parser.py holds it to the model, field by field and on random records.

Kept free of carbonguard imports: `models` passes in the row types it builds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from itertools import repeat
from operator import add
from typing import Any

_TEXT = rb'"([^"\\\x00-\x1f]*)"'  # a JSON string without escapes (ASCII is checked apart)
_ANY_TEXT = rb'"[^"\\\x00-\x1f]*"'
_QUANTITY = rb'"((?:0|[1-9][0-9]*)\.[0-9]+)"'  # `canonical.decimal_string` of a float >= 0
_TIME = rb'"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}):([0-9]{2}:[0-9]{2})(?:\.([0-9]{1,6}))?Z"'
_FLAGS = rb"\[(?:" + _ANY_TEXT + rb"(?:," + _ANY_TEXT + rb")*)?\]"
_COMPONENT = (rb'\{"component":"(gpu|cpu|dram)","device":' + _TEXT + rb',"energy_kwh":(?:null|' + _QUANTITY
              + rb'),"flags":' + _FLAGS + rb',"method":"(counter|sampled|estimated|unavailable)",'
              rb'"shared":(?:true|false),"source":' + _ANY_TEXT + rb',"uncertainty_kwh":' + _QUANTITY + rb"\}")
_COMPONENT_KEY = b'"component":'
_STAGE = (rb'\{"attempt":[1-9][0-9]{0,8},"cached":(true|false),"components":\[%s\],"end":' + _TIME
          + rb',"flags":' + _FLAGS + rb',"flow_name":' + _ANY_TEXT + rb',"host":' + _TEXT + rb',"kind":"stage",'
          rb'"pid":(-?(?:0|[1-9][0-9]{0,17})),"run_id":' + _TEXT + rb',"stage":' + _TEXT + rb',"start":' + _TIME
          + rb',"task_run_id":(?:null|' + _ANY_TEXT + rb'),"zone":(null|' + _ANY_TEXT + rb")\}")
_MOST_COMPONENTS = 8  # a record with more (none the meters write) is validated in full
_CHUNK = 4096  # records matched in one call (`StageBytes.many`): bounds the captured bytes held
_HOUR_US = 3_600_000_000
_EPOCH = date(1970, 1, 1)
_INF = float("inf")


class StageBytes:
    """Reads payloads into `row(stage, start_us, end_us, cached, zone, host, pid, readings)` tuples
    with `reading(component, device, method, energy_kwh, uncertainty_kwh)` tuples, or None.

    `methods` maps each method's JSON value to the value a reading holds; names are interned in
    `strings` (kept across calls), and labels, hours and minutes are checked once each.
    """

    def __init__(self, row: type, reading: type, methods: Mapping[str, Any], unavailable: Any,
                 label_pattern: str, strings: dict[str, str]) -> None:
        self.row, self.reading, self.unavailable, self.strings = row, reading, unavailable, strings
        self.method_of = {k.encode(): v for k, v in methods.items()}
        self.label = re.compile(label_pattern).fullmatch
        self._lines: dict[int, Callable[[bytes], list[Any]]] = {}  # one expression per number of components
        self.texts: dict[bytes, str] = {}  # captured bytes -> interned str
        self.zones: dict[bytes, str | None] = {b"null": None}  # a zone's JSON value -> str or None
        self.labels: set[bytes] = set()  # run ids and stage names that passed `label_pattern`
        self.hours: dict[bytes, int] = {}  # b"YYYY-MM-DDTHH" -> microseconds since the epoch
        self.minutes: dict[bytes, int] = {}  # b"MM:SS" -> microseconds

    def many(self, payloads: Sequence[bytes]) -> list[Any]:
        """Each payload's row, or None where it is not in the ledger's form or a value is refused
        (also, for simplicity, every other payload matched with it: they are then validated in full,
        as before this reader). The work per record is done a column at a time, in C (map, zip,
        set), so a run of many records costs about its matching."""
        out: list[Any] = [None] * len(payloads)
        for at in range(0, len(payloads), _CHUNK):
            chunk = payloads[at:at + _CHUNK]
            by_count: dict[int, list[int]] = {}
            for i, count in enumerate(map(bytes.count, chunk, repeat(_COMPONENT_KEY))):
                by_count.setdefault(count, []).append(i)
            for count, where in by_count.items():
                if count > _MOST_COMPONENTS:
                    continue
                joined = b"\n".join([chunk[i] for i in where])
                # One match per line, each a whole line: as many matches as lines is every line matched.
                if not joined.isascii() or joined.count(b"\n") != len(where) - 1:
                    continue
                found = self._matcher(count)(joined)
                rows = self._rows(found, count) if len(found) == len(where) else None
                if rows is not None:
                    for i, row in zip(where, rows, strict=True):
                        out[at + i] = row
        return out

    def _matcher(self, count: int) -> Callable[[bytes], list[Any]]:
        """All matches, line by line, of the form with `count` components (compiled once, when first
        needed: compiling every form took a tenth of a second)."""
        lines = self._lines.get(count)
        if lines is None:
            pattern = _STAGE % b",".join([_COMPONENT] * count)
            lines = self._lines[count] = re.compile(b"(?m)^" + pattern + b"$").findall
        return lines

    def _rows(self, found: Sequence[Sequence[bytes]], count: int) -> list[Any] | None:
        """Rows from the captured fields of records with `count` components (absent groups empty);
        None when any value is refused."""
        columns = list(zip(*found, strict=True))
        cached, end_h, end_m, end_f, host, pid, run_id, stage, start_h, start_m, start_f, zone = (
            columns[0], *columns[1 + 5 * count:])
        texts, zones, hours, minutes, strings = self.texts, self.zones, self.hours, self.minutes, self.strings
        names = set(run_id)
        names.update(stage)
        for raw in names.difference(self.labels):
            if self.label(raw.decode("ascii")) is None:
                return None
            self.labels.add(raw)
        for raw in set(start_h).union(end_h).difference(hours):
            try:
                day = date(int(raw[:4]), int(raw[5:7]), int(raw[8:10]))
            except ValueError:  # no such day (or year 0)
                return None
            if int(raw[11:13]) > 23:
                return None
            hours[raw] = ((day - _EPOCH).days * 24 + int(raw[11:13])) * _HOUR_US
        for raw in set(start_m).union(end_m).difference(minutes):
            if int(raw[:2]) > 59 or int(raw[3:]) > 59:
                return None
            minutes[raw] = (int(raw[:2]) * 60 + int(raw[3:])) * 1_000_000
        for raw in set(host).union(stage, *columns[1:1 + 5 * count:5], *columns[2:2 + 5 * count:5]).difference(texts):
            decoded = raw.decode("ascii")
            texts[raw] = strings.setdefault(decoded, decoded)
        for raw in set(zone).difference(zones):
            decoded = raw[1:-1].decode("ascii")  # `"DE"`: `null` is there from the start
            zones[raw] = strings.setdefault(decoded, decoded)
        micros = []
        for h, m, f in ((start_h, start_m, start_f), (end_h, end_m, end_f)):
            fraction = map(int, map(bytes.ljust, f, repeat(6), repeat(b"0")))  # b"5" is 500,000 us; b"" 0
            micros.append(map(add, map(add, map(hours.__getitem__, h), map(minutes.__getitem__, m)), fraction))
        text = texts.__getitem__
        slots = []
        for i in range(1, 1 + 5 * count, 5):
            methods = list(map(self.method_of.__getitem__, columns[i + 3]))
            figures = columns[i + 2]
            if b"" in figures or self.unavailable in methods:  # some readings without a figure
                if [not e for e in figures] != [m is self.unavailable for m in methods]:
                    return None  # `ComponentEnergy._energy_matches_method`
                energies = [float(e) if e else None for e in figures]
            else:
                energies = list(map(float, figures))
            bands = list(map(float, columns[i + 4]))
            if _INF in energies or _INF in bands:
                return None
            slots.append(map(tuple.__new__, repeat(self.reading), zip(
                map(text, columns[i]), map(text, columns[i + 1]), methods, energies, bands, strict=True)))
        readings = zip(*slots, strict=True) if slots else repeat((), len(stage))
        return list(map(tuple.__new__, repeat(self.row), zip(
            map(text, stage), *micros, map(b"true".__eq__, cached), map(zones.__getitem__, zone), map(text, host),
            map(int, pid), readings, strict=True)))
