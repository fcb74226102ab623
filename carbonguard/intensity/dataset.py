"""The embedded, versioned grid-intensity dataset shipped inside the package.

Offline by default: these CSV files are the figures carbonguard uses when no live provider is
configured or every live provider failed. Each row cites its source, year and licence, and says how
sure we are of it (`quality`). The SHA-256 over the files is recorded on every figure taken from
them, so an audit can tell exactly which data a footprint used.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass
from functools import lru_cache

DATASET_VERSION = "2026.1"
"""Bump whenever any file under `data/` changes; the hash below changes with it."""

DATA_FILES: tuple[str, ...] = ("grid_annual.csv", "residual_mix.csv", "cloud_regions.csv", "zone_aliases.csv")
WORLD_ZONE = "WORLD"
QUALITIES = ("published", "published-secondary", "derived", "approximate")


@dataclass(frozen=True)
class AnnualFigure:
    """One annual average (or residual-mix) grid intensity with its citation."""

    zone: str
    name: str
    year: int
    intensity_g_per_kwh: float
    source: str
    licence: str
    quality: str
    note: str = ""


@dataclass(frozen=True)
class CloudRegion:
    """A cloud region, the grid zone it draws from, and the provider's own figure if it publishes one."""

    provider: str
    region: str
    location: str
    zone: str
    provider_intensity_g_per_kwh: float | None
    provider_year: int | None
    provider_source: str | None


@dataclass(frozen=True)
class ZoneAlias:
    alias: str
    zone: str
    note: str


@dataclass(frozen=True)
class Dataset:
    """All embedded tables, loaded once; lookups are by canonical (upper-case) zone code."""

    version: str
    sha256: str
    annual: dict[str, AnnualFigure]
    residual: dict[str, AnnualFigure]
    cloud_regions: dict[tuple[str, str], CloudRegion]
    aliases: dict[str, ZoneAlias]
    alpha3: dict[str, str]


def _read_bytes(name: str) -> bytes:
    """A data file, through the package's own loader (as `pkgutil.get_data`), so a zipped install
    reads it too; `importlib.resources` would do the same at a tenth of `intensity DE`'s start-up."""
    from carbonguard import intensity

    path = os.path.join(os.path.dirname(intensity.__file__), "data", name)
    return intensity.__spec__.loader.get_data(path)  # type: ignore[union-attr]


def dataset_hash(blobs: dict[str, bytes]) -> str:
    """SHA-256 over the data files in a fixed order, each prefixed by its name and length."""
    digest = hashlib.sha256()
    for name in sorted(blobs):
        data = blobs[name]
        digest.update(f"{name}\n{len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()


def _rows(name: str, blob: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(blob.decode("utf-8"))))


def _figure(row: dict[str, str], *, name_default: str = "") -> AnnualFigure:
    return AnnualFigure(
        zone=row["zone"].upper(),
        name=row.get("name") or name_default,
        year=int(row["year"]),
        intensity_g_per_kwh=float(row["intensity_g_per_kwh"]),
        source=row["source"],
        licence=row["licence"],
        quality=row["quality"],
        note=row.get("note", ""),
    )


@lru_cache(maxsize=1)
def load_dataset() -> Dataset:
    """Read and index the embedded files (cached: they never change while the process runs)."""
    blobs = {name: _read_bytes(name) for name in DATA_FILES}
    annual: dict[str, AnnualFigure] = {}
    alpha3: dict[str, str] = {}
    for row in _rows("grid_annual.csv", blobs["grid_annual.csv"]):
        fig = _figure(row)
        annual[fig.zone] = fig
        note = row.get("note", "")
        if note.startswith("alpha-3 "):
            alpha3[note.split()[1].upper()] = fig.zone
    residual = {}
    for row in _rows("residual_mix.csv", blobs["residual_mix.csv"]):
        country = annual.get(row["zone"].upper())
        fig = _figure(row, name_default=country.name if country else "")
        residual[fig.zone] = fig
    cloud: dict[tuple[str, str], CloudRegion] = {}
    for row in _rows("cloud_regions.csv", blobs["cloud_regions.csv"]):
        value = row["provider_intensity_g_per_kwh"]
        cloud[(row["provider"], row["region"])] = CloudRegion(
            provider=row["provider"],
            region=row["region"],
            location=row["location"],
            zone=row["zone"].upper(),
            provider_intensity_g_per_kwh=float(value) if value else None,
            provider_year=int(row["provider_year"]) if row["provider_year"] else None,
            provider_source=row["provider_source"] or None,
        )
    aliases = {
        row["alias"].upper(): ZoneAlias(row["alias"].upper(), row["zone"].upper(), row["note"])
        for row in _rows("zone_aliases.csv", blobs["zone_aliases.csv"])
    }
    return Dataset(
        version=DATASET_VERSION,
        sha256=dataset_hash(blobs),
        annual=annual,
        residual=residual,
        cloud_regions=cloud,
        aliases=aliases,
        alpha3=alpha3,
    )


def country_names() -> dict[str, tuple[str, str]]:
    """Alpha-2 zone -> (country name, alpha-3 code), for exports that name countries (CodeCarbon CSV)."""
    data = load_dataset()
    return {zone: (data.annual[zone].name, alpha3) for alpha3, zone in data.alpha3.items()}
