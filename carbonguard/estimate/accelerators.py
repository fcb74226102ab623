"""The embedded accelerator power table: one row per model, its TDP and typical training draw, each cited.

Why two figures: TDP is a design ceiling from the vendor; a training job draws less. Vendors do not
publish a typical training draw, so the table derives it as a documented fraction of TDP from a
measurement study and says so in `training_basis`; the estimate's uncertainty band reflects that.
The table ships inside the package (`data/accelerators.csv`) and is read once, never from the network.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from carbonguard.errors import InputError, Problem

TABLE_RESOURCE = "data/accelerators.csv"

# Vendors that publish no per-chip power figure for these parts: named in the error so a user who
# asks for one learns why it is missing rather than suspecting a typo.
UNPUBLISHED = {
    "tpu-v5e": "Google publishes no per-chip power figure for TPU v5e",
    "tpu-v5p": "Google publishes no per-chip power figure for TPU v5p",
}


@dataclass(frozen=True)
class Accelerator:
    """One row of the table."""

    model: str
    aliases: tuple[str, ...]
    vendor: str
    memory_gb: float
    tdp_w: float
    tdp_basis: str  # datasheet | paper | reported-power-limit
    tdp_source: str
    training_w: float
    training_basis: str  # "published" or "derived: ..." (a fraction of TDP)
    training_source: str

    @property
    def training_derived(self) -> bool:
        return self.training_basis.startswith("derived")

    def citation(self) -> str:
        """The row and its sources, short enough for a record's `source` field."""
        return (
            f"accelerators.csv:{self.model} training_w={self.training_w:g} ({self.training_basis}); "
            f"TDP {self.tdp_w:g} W: {self.tdp_source}; training draw: {self.training_source}"
        )


@dataclass(frozen=True)
class AcceleratorTable:
    rows: tuple[Accelerator, ...]
    sha256: str

    def names(self) -> list[str]:
        return sorted(r.model for r in self.rows)

    def find(self, name: str) -> Accelerator | None:
        key = normalise(name)
        for row in self.rows:
            if key == row.model or key in row.aliases:
                return row
        return None

    def lookup(self, name: str, *, source: str | None = None, field_path: str | None = None,
               line: int | None = None, column: int | None = None) -> Accelerator:
        """The row for `name` (model or alias, case-insensitive); an InputError listing known models if none."""
        row = self.find(name)
        if row is not None:
            return row
        why = UNPUBLISHED.get(normalise(name).removeprefix("google-"))
        reason = f" ({why})" if why else ""
        raise InputError(
            Problem(
                f"unknown accelerator model {name!r}{reason}; known models: {', '.join(self.names())}",
                source, line, column, field_path,
            )
        )


def normalise(name: str) -> str:
    return "-".join(name.strip().lower().replace("_", "-").split())


def parse_table(text: str, source: str = TABLE_RESOURCE) -> AcceleratorTable:
    """Parse the CSV; every bad row is an InputError naming the line and column (field)."""
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for record in reader:
        line = reader.line_num

        def number(field: str, rec: dict[str, str] = record, at: int = line) -> float:
            try:
                value = float(rec[field])
            except (TypeError, ValueError):
                value = float("nan")
            if not value > 0 or value == float("inf"):
                raise InputError(Problem(f"must be a positive number, got {rec.get(field)!r}", source, at,
                                         field_path=field))
            return value

        for field in ("model", "tdp_source", "training_basis", "training_source"):
            if not (record.get(field) or "").strip():
                raise InputError(Problem("must not be empty (every figure needs its source)", source, line,
                                         field_path=field))
        row = Accelerator(
            model=normalise(record["model"]),
            aliases=tuple(normalise(a) for a in (record.get("aliases") or "").split("|") if a.strip()),
            vendor=record.get("vendor") or "",
            memory_gb=number("memory_gb"),
            tdp_w=number("tdp_w"),
            tdp_basis=record.get("tdp_basis") or "",
            tdp_source=record["tdp_source"].strip(),
            training_w=number("training_w"),
            training_basis=record["training_basis"].strip(),
            training_source=record["training_source"].strip(),
        )
        if row.training_w > row.tdp_w:
            raise InputError(Problem("typical training draw exceeds TDP", source, line, field_path="training_w"))
        rows.append(row)
    seen: set[str] = set()
    for row in rows:
        for name in (row.model, *row.aliases):
            if name in seen:
                raise InputError(Problem(f"model or alias {name!r} appears twice", source, field_path="aliases"))
            seen.add(name)
    return AcceleratorTable(tuple(rows), hashlib.sha256(text.encode("utf-8")).hexdigest())


@lru_cache(maxsize=1)
def load_table() -> AcceleratorTable:
    """The embedded table (read once per process)."""
    text = resources.files("carbonguard.estimate").joinpath(TABLE_RESOURCE).read_text(encoding="utf-8")
    return parse_table(text)
