"""Runs in CodeCarbon's `emissions.csv` column layout, so dashboards built for CodeCarbon read them.

The columns and their order are those of CodeCarbon 3.3.2's `EmissionsData` dataclass
(mlco2/codecarbon, `codecarbon/output_methods/emissions_data.py`), which CodeCarbon's file output
writes as the header of `emissions.csv`. Units as CodeCarbon's: `duration` s, `emissions` kg CO2e,
`emissions_rate` kg CO2e/s, `*_energy` and `energy_consumed` kWh *including PUE* (CodeCarbon
multiplies each device's energy by the PUE), `*_power` W.

One row per run. What carbonguard does not know stays an empty cell, never 0: an energy column
is empty when any reading of it was unavailable or none was taken, and `energy_consumed`,
`emissions` and `emissions_rate` are empty when any reading of the run was unavailable or no
intensity covered it (a partial sum would read as a total). Columns carbonguard never records
(power, utilisation, water, host description, location coordinates) are empty. `timestamp` is
the run's end in UTC, written as CodeCarbon writes it (`YYYY-MM-DDTHH:MM:SS`, no offset).

Every string cell is hostile (flow names, run ids and zones come from users): control characters
become spaces, and a cell starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading
`'` so a spreadsheet does not run it as a formula (OWASP, "CSV Injection").
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from datetime import timezone

from carbonguard.models import RunFootprint, StageRecord

COLUMNS: tuple[str, ...] = (
    "timestamp",
    "project_name",
    "run_id",
    "experiment_id",
    "duration",
    "emissions",
    "emissions_rate",
    "cpu_power",
    "gpu_power",
    "ram_power",
    "cpu_energy",
    "gpu_energy",
    "ram_energy",
    "energy_consumed",
    "water_consumed",
    "country_name",
    "country_iso_code",
    "region",
    "cloud_provider",
    "cloud_region",
    "os",
    "python_version",
    "codecarbon_version",
    "cpu_count",
    "cpu_model",
    "gpu_count",
    "gpu_model",
    "longitude",
    "latitude",
    "ram_total_size",
    "tracking_mode",
    "cpu_utilization_percent",
    "gpu_utilization_percent",
    "ram_utilization_percent",
    "ram_used_gb",
    "on_cloud",
    "pue",
    "wue",
)
"""CodeCarbon 3.3.2 `EmissionsData` field order (38 columns)."""

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_COMPONENT_COLUMN = {"cpu": "cpu_energy", "gpu": "gpu_energy", "dram": "ram_energy"}


def csv_cell(value: str) -> str:
    """A user-supplied string made safe for a CSV cell a spreadsheet may open."""
    value = _CONTROL.sub(" ", value)
    return "'" + value if value.startswith(_FORMULA_START) else value


def _number(value: float | int | None) -> str:
    return "" if value is None else repr(value)


def _component_energy(records: Sequence[StageRecord], pue: float) -> dict[str, str]:
    """Energy per CodeCarbon device column, x PUE; empty where any reading is missing or none exists."""
    sums: dict[str, float] = {}
    unknown: set[str] = set()
    for record in records:
        if record.cached:
            continue  # a cached task run did no work
        for c in record.components:
            column = _COMPONENT_COLUMN[c.component]
            if c.energy_kwh is None:
                unknown.add(column)
            else:
                sums[column] = sums.get(column, 0.0) + c.energy_kwh
    return {
        col: "" if col in unknown or col not in sums else repr(sums[col] * pue) for col in _COMPONENT_COLUMN.values()
    }


def _cloud(footprint: RunFootprint) -> tuple[str, str]:
    for flag in footprint.flags:  # "cloud-region:<provider>:<region>-><zone>"
        if flag.startswith("cloud-region:"):
            provider, _, rest = flag.removeprefix("cloud-region:").partition(":")
            return provider, rest.partition("->")[0]
    return "", ""


def _row(
    footprint: RunFootprint, records: Sequence[StageRecord], countries: Mapping[str, tuple[str, str]]
) -> dict[str, str]:
    row = dict.fromkeys(COLUMNS, "")
    duration_s = (footprint.end - footprint.start).total_seconds() if footprint.start and footprint.end else None
    complete = footprint.unavailable_components == 0 and bool(records)
    emissions_kg = footprint.co2e_kg if complete else None
    country_name, alpha3 = countries.get(footprint.zone.upper().split("-")[0], ("", ""))
    provider, region = _cloud(footprint)
    gpus = {c.device for r in records if not r.cached for c in r.components if c.component == "gpu"}
    row.update(
        timestamp=footprint.end.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") if footprint.end else "",
        project_name=csv_cell(next((r.flow_name for r in records), "")),
        run_id=csv_cell(footprint.run_id),
        duration=_number(duration_s),
        emissions=_number(emissions_kg),
        emissions_rate=_number(emissions_kg / duration_s if emissions_kg is not None and duration_s else None),
        energy_consumed=_number(footprint.energy_kwh if complete else None),
        country_name=csv_cell(country_name),
        country_iso_code=csv_cell(alpha3),
        region=csv_cell(footprint.zone),
        cloud_provider=csv_cell(provider),
        cloud_region=csv_cell(region),
        gpu_count=str(len(gpus)) if gpus else "",
        on_cloud="Y" if provider else "",
        pue=_number(footprint.pue),
        **_component_energy(records, footprint.pue),
    )
    return row


def render(
    runs: Sequence[tuple[RunFootprint, Sequence[StageRecord]]],
    *,
    countries: Mapping[str, tuple[str, str]] | None = None,
) -> str:
    """CSV text, header first, one row per (footprint, the stage records it was computed from).

    `countries` maps an ISO alpha-2 code to (country name, ISO alpha-3 code), which CodeCarbon
    writes in `country_name`/`country_iso_code`; `intensity.dataset.country_names()` builds it from the
    embedded dataset. Without it those two columns stay empty.
    """
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for footprint, records in runs:
        writer.writerow(_row(footprint, records, countries or {}))
    return out.getvalue()
