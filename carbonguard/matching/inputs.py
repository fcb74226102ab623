"""Parse a certificate export's bytes (JSON, JSON Lines or CSV) into one `CertificateFile`.

Pure: bytes in, validated values out (the loader reads the file and its signature). Every problem
is located: `FILE:line: field: message` for CSV and JSON Lines, `FILE: $.path.field: message` for
JSON. A file with any bad row raises `InputError` and yields nothing, so nothing is half-loaded.

Row kinds: a granular certificate bundle (the default), an annual certificate (`"kind": "annual"`)
or a carbon offset (`"kind": "offset"`). A JSON document may instead group them under
`granular_certificate_bundles` (the key of the gc_registry query response), `annual_certificates`
and `offsets`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal, NoReturn

from pydantic import BaseModel, ValidationError

from carbonguard.errors import InputError, Problem
from carbonguard.matching.models import AnnualCertificate, CarbonOffset
from carbonguard.matching.signature import SignatureCheck
from carbonguard.matching.table import BUNDLE_FIELDS, BundleParser, BundleTable, RowError, gc_paused, located

Format = Literal["json", "jsonl", "csv"]
MAX_PROBLEMS = 20
CHUNK_ROWS = 20_000  # bundles validated together, column by column
SUFFIXES: dict[str, Format] = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
_DOCUMENT_KEYS = {"granular_certificate_bundles": "granular", "annual_certificates": "annual", "offsets": "offset"}


@dataclass(frozen=True)
class Located:
    """Where a row came from: a line (CSV/JSONL) or a JSON path."""

    line: int | None = None
    path: str | None = None


@dataclass
class CertificateFile:
    """Everything one export holds, validated, with its SHA-256 and signature verdict."""

    source: str
    sha256: str
    bundles: BundleTable
    annual: list[tuple[AnnualCertificate, Located]] = field(default_factory=list)
    offsets: list[tuple[CarbonOffset, Located]] = field(default_factory=list)
    signature: SignatureCheck | None = None  # None: not checked, so nothing in it is verified

    @property
    def registries(self) -> set[str]:
        names = set(self.bundles.registry)
        names.update(a.registry for a, _ in self.annual)
        return names


def format_of(name: str) -> Format:
    lowered = name.lower()
    for suffix, fmt in SUFFIXES.items():
        if lowered.endswith(suffix):
            return fmt
    raise InputError(Problem(f"unknown certificate file type; use one of {', '.join(SUFFIXES)}", source=name))


class _Collector:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)
        if len(self.problems) >= MAX_PROBLEMS:
            self.raise_all(truncated=True)

    def raise_all(self, truncated: bool = False) -> None:
        if self.problems:
            problems = list(self.problems)
            if truncated:
                problems.append(Problem(f"stopped after {MAX_PROBLEMS} problems", source=self.source))
            raise InputError(problems)


def _pydantic_problems(source: str, error: ValidationError, where: Located) -> list[Problem]:
    out = []
    for item in error.errors(include_url=False):
        loc = ".".join(str(p) for p in item["loc"])
        if where.path is not None:
            out.append(Problem(item["msg"], source=source, field_path=f"{where.path}.{loc}" if loc else where.path))
        else:
            out.append(Problem(item["msg"], source=source, line=where.line, field_path=loc or None))
    return out


def parse_certificates(data: bytes, source: str, fmt: Format | None = None) -> CertificateFile:
    """Validate an export's bytes; raises `InputError` listing located problems (up to 20)."""
    with gc_paused():
        return _parse(data, source, fmt)


def _parse(data: bytes, source: str, fmt: Format | None) -> CertificateFile:
    fmt = fmt or format_of(source)
    result = CertificateFile(source=source, sha256=hashlib.sha256(data).hexdigest(), bundles=BundleTable(source))
    problems = _Collector(source)
    text = fmt == "csv"
    parser = BundleParser(result.bundles, text=text)
    header: list[str] = []
    rows_: list[Any] = []  # the chunk: CSV cell lists or JSON objects
    lines_: list[int] = []  # their CSV/JSONL lines, or JSON array indexes
    paths_: list[str | None] = []  # their JSON paths (JSON files only)

    def flush() -> None:
        if not rows_:
            return
        if text:  # CSV rows are lists of cells: transpose them into columns in one go
            columns = dict(zip(header, zip(*rows_, strict=True), strict=True))
        else:
            columns = {name: [row.get(name) for row in rows_] for name in BUNDLE_FIELDS}
        if problems.problems or not parser.add_columns(columns, lines_):
            for row, where, path in zip(rows_, lines_, paths_ or [None] * len(rows_), strict=True):
                try:  # row by row: the exact row and field of each problem
                    parser.add(dict(zip(header, row, strict=True)) if text else row, where)
                except RowError as exc:
                    problems.add(located(source, exc, None if path else where, path))
        rows_.clear()
        lines_.clear()
        paths_.clear()

    def other(kind: str, row: Mapping[str, object], where: Located) -> None:
        model: type[BaseModel] = AnnualCertificate if kind == "annual" else CarbonOffset
        try:
            value = model.model_validate_strings(row) if text else model.model_validate(row)
        except ValidationError as exc:
            for problem in _pydantic_problems(source, exc, where):
                problems.add(problem)
            return
        if isinstance(value, AnnualCertificate):
            result.annual.append((value, where))
        else:
            result.offsets.append((value, where))  # type: ignore[arg-type]

    if text:
        for kind, rows, lines in _csv_batches(data, source, problems, header):
            if kind != "granular":
                other(kind, rows, Located(line=lines))
                continue
            rows_.extend(rows)
            lines_.extend(lines)
            flush()
    else:
        for kind, row, where, index in _rows(data, source, fmt, problems, result):
            if kind == "granular":
                rows_.append(row)
                lines_.append(index)
                if where.path is not None:
                    paths_.append(where.path)
                if len(rows_) >= CHUNK_ROWS:
                    flush()
            else:
                other(kind, row, where)
    flush()
    problems.raise_all()
    return result


def _kind(row: Mapping[str, object], default: str, source: str, where: Located,
          problems: _Collector) -> str | None:
    kind = row.get("kind") or default
    if kind not in ("granular", "annual", "offset"):
        field_path = f"{where.path}.kind" if where.path else "kind"
        problems.add(Problem(f"{kind!r} is not one of granular, annual, offset", source=source, line=where.line,
                             field_path=field_path))
        return None
    return str(kind)


def _rows(data: bytes, source: str, fmt: Format, problems: _Collector,
          result: CertificateFile) -> Iterator[tuple[str, Any, Located, int]]:
    if fmt == "json":
        yield from _json_rows(data, source, problems, result)
    else:
        yield from _jsonl_rows(data, source, problems)


def _json_rows(data: bytes, source: str, problems: _Collector,
               result: CertificateFile) -> Iterator[tuple[str, Mapping[str, object], Located, int]]:
    try:
        document = json.loads(data)
    except UnicodeDecodeError as exc:
        raise InputError(Problem(f"not UTF-8 text ({exc.reason})", source=source)) from None
    except json.JSONDecodeError as exc:
        raise InputError(Problem(f"not JSON: {exc.msg}", source=source, line=exc.lineno, column=exc.colno)) from None
    if isinstance(document, list):
        groups = [("$", None, document)]
        result.bundles.json_path = "$"
    elif isinstance(document, dict) and any(k in document for k in _DOCUMENT_KEYS):
        groups = []
        for key, kind in _DOCUMENT_KEYS.items():
            rows = document.get(key, [])
            if not isinstance(rows, list):
                raise InputError(Problem("must be an array", source=source, field_path=f"$.{key}"))
            groups.append((f"$.{key}", kind, rows))
        result.bundles.json_path = "$.granular_certificate_bundles"
    else:
        raise InputError(Problem("expected an array of certificate rows or an object with "
                                 + ", ".join(_DOCUMENT_KEYS), source=source, field_path="$"))
    for base, fixed_kind, rows in groups:
        for index, row in enumerate(rows):
            where = Located(path=f"{base}[{index}]")
            if not isinstance(row, dict):
                problems.add(Problem("must be an object", source=source, field_path=where.path))
                continue
            kind = fixed_kind or _kind(row, "granular", source, where, problems)
            if kind is not None:
                yield kind, row, where, index


def _jsonl_rows(data: bytes, source: str,
                problems: _Collector) -> Iterator[tuple[str, Mapping[str, object], Located, int]]:
    for number, raw in enumerate(io.BytesIO(data), start=1):
        if not raw.strip():
            continue
        where = Located(line=number)
        try:
            row = json.loads(raw)
        except UnicodeDecodeError as exc:
            problems.add(Problem(f"not UTF-8 text ({exc.reason})", source=source, line=number))
            continue
        except json.JSONDecodeError as exc:
            problems.add(Problem(f"not JSON: {exc.msg}", source=source, line=number, column=exc.colno))
            continue
        if not isinstance(row, dict):
            problems.add(Problem("each line must be a JSON object", source=source, line=number))
            continue
        kind = _kind(row, "granular", source, where, problems)
        if kind is not None:
            yield kind, row, where, number


def _not_utf8(data: bytes, source: str) -> NoReturn:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(Problem(f"not UTF-8 text ({exc.reason})", source=source, line=line)) from None
    raise InputError(Problem("not UTF-8 text", source=source))


def _csv_batches(data: bytes, source: str, problems: _Collector,
                 header_out: list[str]) -> Iterator[tuple[str, Any, Any]]:
    """CSV in batches: ("granular", [cells, ...], [line, ...]) for bundles, or (kind, {field: cell},
    line) for one annual certificate or offset. `header_out` receives the header."""
    # Decoded incrementally: a StringIO of the whole text would hold 4 bytes per character.
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(Problem("empty file: expected a header row", source=source, line=1)) from None
    except csv.Error as exc:
        raise InputError(Problem(f"not CSV: {exc}", source=source, line=1)) from None
    except UnicodeDecodeError:
        _not_utf8(data, source)
    header = [h.strip() for h in header]
    header_out[:] = header
    kind_at = header.index("kind") if "kind" in header else None
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise InputError(Problem(f"column named twice: {', '.join(duplicates)}", source=source, line=1))
    width = len(header)
    while True:
        start = reader.line_num + 1
        try:
            batch = list(islice(reader, CHUNK_ROWS))
        except csv.Error as exc:
            raise InputError(Problem(f"not CSV: {exc}", source=source, line=reader.line_num)) from None
        except UnicodeDecodeError:
            _not_utf8(data, source)
        if not batch:
            return
        if reader.line_num - start + 1 == len(batch):
            lines: list[int] = list(range(start, reader.line_num + 1))
        else:  # quoted cells spanning lines: count them
            lines, line = [], start
            for cells in batch:
                lines.append(line)
                line += 1 + sum(cell.count("\n") for cell in cells)
        plain = set(map(len, batch)) == {width} and (
            kind_at is None or {cells[kind_at] for cells in batch} <= {"", "granular"})
        if plain:
            yield "granular", batch, lines
            continue
        granular: list[list[str]] = []
        granular_lines: list[int] = []
        for cells, line in zip(batch, lines, strict=True):
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if len(cells) != width:
                problems.add(Problem(f"{len(cells)} cells, but the header has {width}", source=source, line=line))
                continue
            if kind_at is None or cells[kind_at] in ("", "granular"):
                granular.append(cells)
                granular_lines.append(line)
                continue
            row = dict(zip(header, cells, strict=True))
            kind = _kind(row, "granular", source, Located(line=line), problems)
            if kind is not None:
                yield kind, {k: v for k, v in row.items() if v != "" and k != "kind"} | {"kind": kind}, line
        if granular:
            yield "granular", granular, granular_lines
