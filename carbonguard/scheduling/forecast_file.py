"""Read a carbon-intensity forecast from a CSV or JSON file (the one module here that reads files).

CSV: a header row, then one row per figure. The time column is `--time-column` or the first column
whose first value parses as an ISO 8601 time; the value column (g/kWh) is `--value-column`, else
the first numeric column whose name contains "intensity", else the first numeric column. A column
named `end`/`to` (a time) or `duration_s` gives each figure's interval; without one, each figure
holds for the file's usual step (the most common gap between consecutive times) or until the next
row if sooner, and a longer gap stays a gap. JSON: a list of objects, or an object holding that
list under `points`, `data` or `forecast` (carbonguard's own `intensity --json` output works);
columns are keys, dotted for nested values (`intensity.forecast`).

Times must carry an offset or `Z`: a naive time is refused, because its hour would be a guess.
An empty value is a gap, never 0. Every refusal names the file, the line and the column.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

from carbonguard.errors import InputError, Problem
from carbonguard.models import IntensityPoint, Origin, Signal

MAX_BYTES = 64 * 1024 * 1024
LIST_KEYS = ("points", "data", "forecast")
END_NAMES = ("end", "to", "until", "end_time")
DURATION_NAMES = ("duration_s",)


@dataclass(frozen=True)
class ForecastFile:
    """Points read from a file and how they were read (for the answer's provenance)."""

    path: str
    points: tuple[IntensityPoint, ...]
    time_column: str
    value_column: str
    interval: str  # "end column X", "duration column X", or "step N s (inferred)"


def _problem(source: str, line: int | None, column: str | None, message: str) -> InputError:
    return InputError(Problem(message, source=source, line=line, field_path=column))


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time, aware or naive; None when the text is not a time."""
    t = text.strip()
    if len(t) < 10 or not t[:4].isdigit() or t[4] != "-":
        return None
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(t)
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


@dataclass
class _Row:
    line: int | None
    fields: dict[str, Any]


def _get(fields: dict[str, Any], key: str) -> Any:
    if key in fields:
        return fields[key]
    cur: Any = fields
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _flat_keys(fields: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in fields.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out += _flat_keys(v, name + ".")
        else:
            out.append(name)
    return out


def _choose_columns(
    source: str, rows: list[_Row], columns: list[str], time_column: str | None, value_column: str | None
) -> tuple[str, str]:
    first = rows[0]
    for given, flag in ((time_column, "--time-column"), (value_column, "--value-column")):
        if given is not None and given not in columns:
            raise _problem(source, first.line, flag, f"no column {given!r}; columns: {', '.join(columns)}")
    if time_column is None:
        for c in columns:
            v = _get(first.fields, c)
            if isinstance(v, str) and parse_time(v) is not None:
                time_column = c
                break
        else:
            raise _problem(source, first.line, "--time-column",
                           f"no column holds ISO 8601 times in the first row; columns: {', '.join(columns)}")
    if value_column is None:
        numeric = [
            c for c in columns
            if c != time_column and c not in END_NAMES and _number(_get(first.fields, c)) is not None
        ]
        named = [c for c in numeric if "intensity" in c.lower()]
        if not numeric:
            raise _problem(source, first.line, "--value-column",
                           f"no numeric column in the first row; columns: {', '.join(columns)}")
        value_column = (named or numeric)[0]
    return time_column, value_column


def _aware(source: str, row: _Row, column: str, raw: Any) -> datetime:
    t = parse_time(raw) if isinstance(raw, str) else None
    if t is None:
        raise _problem(source, row.line, column, f"not an ISO 8601 time: {str(raw)[:60]!r}")
    if t.tzinfo is None or t.utcoffset() is None:
        raise _problem(source, row.line, column,
                       f"time {str(raw)[:60]!r} has no UTC offset; write e.g. {str(raw)[:40]}Z "
                       "so the hour is not a guess")
    return t.astimezone(timezone.utc)


def _build(source: str, zone: str, rows: list[_Row], columns: list[str],
           time_column: str | None, value_column: str | None) -> ForecastFile:
    if not rows:
        raise _problem(source, None, None, "no forecast rows")
    tcol, vcol = _choose_columns(source, rows, columns, time_column, value_column)
    end_col = next((c for c in columns if c.lower() in END_NAMES and c != tcol), None)
    dur_col = next((c for c in columns if c.lower() in DURATION_NAMES and c != vcol), None)
    items: list[tuple[datetime, datetime | None, float, _Row]] = []
    for row in rows:
        start = _aware(source, row, tcol, _get(row.fields, tcol))
        raw = _get(row.fields, vcol)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue  # no figure: a gap, never 0
        value = _number(raw)
        if value is None or not math.isfinite(value) or value < 0:
            raise _problem(source, row.line, vcol, f"not a finite, non-negative g/kWh figure: {str(raw)[:60]!r}")
        end = None
        if end_col is not None:
            end = _aware(source, row, end_col, _get(row.fields, end_col))
        elif dur_col is not None:
            d = _number(_get(row.fields, dur_col))
            if d is None or not math.isfinite(d) or d <= 0:
                raise _problem(source, row.line, dur_col, "duration must be a positive number of seconds")
            end = start + timedelta(seconds=d)
        if end is not None and end <= start:
            raise _problem(source, row.line, end_col or dur_col, "the interval ends before it starts")
        items.append((start, end, value, row))
    if not items:
        raise _problem(source, None, vcol, "every value is empty: no figures")
    items.sort(key=lambda it: it[0])
    for (a, _, _, ra), (b, _, _, rb) in pairwise(items):
        if a == b:
            raise _problem(source, rb.line, tcol, f"time {a.isoformat()} repeats (first at line {ra.line})")
    if end_col is not None or dur_col is not None:
        interval = f"end column {end_col}" if end_col else f"duration column {dur_col}"
        for (_, ea, _, _), (b, _, _, rb) in pairwise(items):
            if ea is not None and ea > b:
                raise _problem(source, rb.line, tcol, "this interval overlaps the previous one")
        spans = [(a, e, v, r) for a, e, v, r in items]
    else:
        gaps = Counter((b - a) for (a, _, _, _), (b, _, _, _) in pairwise(items))
        if not gaps:
            raise _problem(source, items[0][3].line, tcol,
                           "one row cannot say how long its figure holds: add an 'end' or 'duration_s' column")
        step = max(gaps.items(), key=lambda kv: (kv[1], -kv[0]))[0]
        interval = f"step {step.total_seconds():g} s (inferred: the most common gap between rows)"
        spans = []
        for k, (a, _, v, r) in enumerate(items):
            nxt = items[k + 1][0] if k + 1 < len(items) else None
            spans.append((a, min(a + step, nxt) if nxt else a + step, v, r))
    points = []
    name = Path(source).name
    for a, e, v, r in spans:
        assert e is not None
        seconds = (e - a).total_seconds()
        if seconds != int(seconds):
            raise _problem(source, r.line, tcol, "intervals must be whole seconds")
        points.append(
            IntensityPoint(
                zone=zone, start=a, duration_s=int(seconds), intensity_g_per_kwh=v, signal=Signal.AVERAGE,
                kind="forecast", provider="file", origin=Origin.LIVE,
                source=f"forecast file {name} (time {tcol}, g/kWh {vcol}, {interval})", flags=("forecast-file",),
            )
        )
    return ForecastFile(source, tuple(points), tcol, vcol, interval)


def _csv_rows(source: str, text: str) -> tuple[list[_Row], list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise _problem(source, None, None, "empty file: expected a header row") from None
    except csv.Error as err:
        raise _problem(source, 1, None, f"not valid CSV: {err}") from None
    columns = [h.strip() for h in header]
    if len(set(columns)) != len(columns):
        raise _problem(source, 1, None, "the header names a column twice")
    rows = []
    try:
        for rec in reader:
            if not any(x.strip() for x in rec):
                continue
            line = reader.line_num
            if len(rec) != len(columns):
                raise _problem(source, line, None, f"{len(rec)} fields, the header has {len(columns)}")
            rows.append(_Row(line, dict(zip(columns, rec, strict=True))))
    except csv.Error as err:
        raise _problem(source, reader.line_num, None, f"not valid CSV: {err}") from None
    return rows, columns


def _record_lines(text: str, key: str | None) -> list[int]:
    """1-based line of each element of the record list (only computed when reading JSON)."""
    dec = json.JSONDecoder()
    i = 0

    def ws(j: int) -> int:
        while j < len(text) and text[j] in " \t\r\n":
            j += 1
        return j

    i = ws(i)
    if key is not None:  # walk the top-level object to the list under `key`
        i = ws(i + 1)
        while text[i] != "}":
            name, i = dec.raw_decode(text, i)
            i = ws(ws(i) + 1)  # the colon
            if name == key:
                break
            _, i = dec.raw_decode(text, i)
            i = ws(i)
            if text[i] == ",":
                i = ws(i + 1)
    lines = []
    i = ws(i + 1)  # past '['
    while i < len(text) and text[i] != "]":
        lines.append(text.count("\n", 0, i) + 1)
        _, i = dec.raw_decode(text, i)
        i = ws(i)
        if i < len(text) and text[i] == ",":
            i = ws(i + 1)
    return lines


def _json_rows(source: str, text: str) -> tuple[list[_Row], list[str]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise _problem(source, err.lineno, None, f"not valid JSON: {err.msg} (column {err.colno})") from None
    key = None
    if isinstance(doc, dict):
        key = next((k for k in LIST_KEYS if isinstance(doc.get(k), list)), None)
        if key is None:
            raise _problem(
                source, 1, None, f"expected a list of objects, or an object with one of {', '.join(LIST_KEYS)}"
            )
        records = doc[key]
    elif isinstance(doc, list):
        records = doc
    else:
        raise _problem(source, 1, None, "expected a list of objects")
    lines = _record_lines(text, key)
    rows = []
    for n, rec in enumerate(records):
        line = lines[n] if n < len(lines) else None
        if not isinstance(rec, dict):
            raise _problem(source, line, f"{key or ''}[{n}]", "expected an object")
        rows.append(_Row(line, rec))
    columns = _flat_keys(rows[0].fields) if rows else []
    return rows, columns


def read_forecast(
    path: str | Path, zone: str, *, time_column: str | None = None, value_column: str | None = None
) -> ForecastFile:
    """The points of a forecast file, for `zone`. Raises InputError naming file, line and column."""
    source = str(path)
    p = Path(path)
    size = p.stat().st_size
    if size > MAX_BYTES:
        raise _problem(source, None, None, f"{size} bytes is over the {MAX_BYTES} byte limit for a forecast file")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise _problem(source, raw.count(b"\n", 0, err.start) + 1, None, "not UTF-8 text") from None
    if text.lstrip()[:1] in ("[", "{") or p.suffix.lower() == ".json":
        rows, columns = _json_rows(source, text)
    else:
        rows, columns = _csv_rows(source, text)
    return _build(source, zone, rows, columns, time_column, value_column)
