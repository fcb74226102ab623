#!/usr/bin/env python3
"""Rebuild carbonguard's embedded grid-intensity CSVs from the upstream downloadable files.

Needs the network (or local copies passed with --owid-csv or --owid-json / --google-csv / --egrid-xlsx); carbonguard
itself never runs this and never needs the network at run time. After a rebuild: review the diff,
bump DATASET_VERSION in carbonguard/intensity/dataset.py, update docs/data-sources.md, run the tests.

Sources it reads:
  * Our World in Data energy dataset, column carbon_intensity_elec (Ember / Energy Institute),
    latest year per country (or --year): https://github.com/owid/energy-data (CC BY 4.0)
  * or (--owid-json) a local copy of CodeCarbon's codecarbon/data/private_infra/global_energy_mix.json
    (MIT), which redistributes that OWID column per country as {"DEU": {"carbon_intensity": ...,
    "country_name": ..., "year": ...}, ...}; rows from it are marked published-secondary
  * Google Cloud region-carbon-info, data/yearly/<year>.csv (grid carbon intensity per region)
  * US EPA eGRID summary workbook (subregion sheet, e.g. SRL22): CO2, CH4, N2O output rates in lb/MWh,
    combined with AR5 GWP100 (28, 265) and converted with 1 lb/MWh = 0.45359237 g/kWh (needs openpyxl)
Figures published only as PDF tables (Australian NGA Factors, Canada's National Inventory Report
Annex 13, AIB European Residual Mixes) are kept as rows in the CSVs and edited by hand, each with its
source, year and quality; the script leaves those rows untouched.

Usage:
  python scripts/rebuild_intensity_data.py [--year 2023] [--google-year 2023] [--egrid-xlsx FILE]
  python scripts/rebuild_intensity_data.py --owid-json global_energy_mix.json \
      --owid-json-origin "CodeCarbon 3.3.2" --skip-google      # offline, from the wheel's copy
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
import urllib.request
from pathlib import Path
from typing import NoReturn

DATA = Path(__file__).resolve().parent.parent / "carbonguard" / "intensity" / "data"
OWID_URL = "https://raw.githubusercontent.com/owid/energy-data/master/owid-energy-data.csv"
GOOGLE_URL = (
    "https://raw.githubusercontent.com/GoogleCloudPlatform/region-carbon-info/main/data/yearly/{year}.csv"
)
LB_PER_MWH_TO_G_PER_KWH = 0.45359237
GWP_CH4, GWP_N2O = 28, 265
FIELDS = ["zone", "name", "year", "intensity_g_per_kwh", "source", "licence", "quality", "note"]


def fetch(url_or_path: str) -> str:
    if "://" not in url_or_path:
        return Path(url_or_path).read_text(encoding="utf-8")
    with urllib.request.urlopen(url_or_path, timeout=60) as resp:
        return resp.read().decode("utf-8")


def fail(message: str) -> NoReturn:
    """Bad input: one line naming the file and field on stderr, exit code 2 (nothing is written)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def read_rows(data: Path, name: str) -> list[dict[str, str]]:
    with (data / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_rows(data: Path, name: str, rows: list[dict[str, str]], fields: list[str]) -> None:
    with (data / name).open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(sorted(rows, key=lambda r: r[fields[0]]))


def owid_rows(
    text: str, year: int | None, alpha3_to_2: dict[str, str]
) -> tuple[list[dict[str, str]], list[str]]:
    latest: dict[str, dict[str, str]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        iso3, value = row.get("iso_code", ""), row.get("carbon_intensity_elec", "")
        if len(iso3) != 3 or not value:
            continue
        if year is not None and int(row["year"]) != year:
            continue
        if iso3 not in latest or int(row["year"]) > int(latest[iso3]["year"]):
            latest[iso3] = row
    out, unmapped = [], []
    for iso3, row in sorted(latest.items()):
        if iso3 not in alpha3_to_2:
            unmapped.append(f"{iso3} {row['country']}")
            continue
        out.append(
            {
                "zone": alpha3_to_2[iso3],
                "name": row["country"],
                "year": row["year"],
                "intensity_g_per_kwh": f"{float(row['carbon_intensity_elec']):.3f}".rstrip("0").rstrip("."),
                "source": "Our World in Data, owid-energy-data.csv column carbon_intensity_elec "
                f"(from Ember and the Energy Institute Statistical Review), year {row['year']}",
                "licence": "CC-BY-4.0",
                "quality": "published",
                "note": f"alpha-3 {iso3}",
            }
        )
    return out, unmapped


def _country_row(iso3: str, name: str, year: int, value: float, source: str, quality: str) -> dict[str, str]:
    return {
        "zone": "",
        "name": name,
        "year": str(year),
        "intensity_g_per_kwh": f"{value:.3f}".rstrip("0").rstrip("."),
        "source": source,
        "licence": "CC-BY-4.0",
        "quality": quality,
        "note": f"alpha-3 {iso3}",
    }


def owid_json_rows(
    text: str, origin: str, alpha3_to_2: dict[str, str], path: str = "--owid-json"
) -> tuple[list[dict[str, str]], list[str]]:
    """Country rows from CodeCarbon's global_energy_mix.json: the OWID figure and its year per country.

    The file holds one year per country (the latest OWID had when CodeCarbon copied it), so each
    row keeps its own year. A malformed entry stops the rebuild with the key and field named.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{path}: not JSON: line {exc.lineno}: {exc.msg}")
    if not isinstance(data, dict):
        fail(f"{path}: expected an object keyed by ISO alpha-3 code")
    out, unmapped = [], []
    for iso3, entry in sorted(data.items()):
        if not isinstance(entry, dict):
            fail(f"{path}: {iso3}: expected an object")
        value, year, name = entry.get("carbon_intensity"), entry.get("year"), entry.get("country_name", iso3)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            fail(f"{path}: {iso3}.carbon_intensity: expected a number >= 0, got {value!r}")
        if isinstance(year, bool) or not isinstance(year, int):
            fail(f"{path}: {iso3}.year: expected an integer year, got {year!r}")
        if iso3 not in alpha3_to_2:
            unmapped.append(f"{iso3} {name}")
            continue
        source = (
            "Our World in Data, owid-energy-data.csv column carbon_intensity_elec (from Ember and the Energy "
            f"Institute Statistical Review), year {year}, as redistributed in {origin} "
            "codecarbon/data/private_infra/global_energy_mix.json"
        )
        row = _country_row(iso3, str(name), year, float(value), source, "published-secondary")
        row["zone"] = alpha3_to_2[iso3]
        out.append(row)
    return out, unmapped


def egrid_rows(path: str) -> list[dict[str, str]]:
    try:
        import openpyxl  # type: ignore[import-not-found]
    except ImportError:
        sys.exit("--egrid-xlsx needs openpyxl (pip install openpyxl)")
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    sheet = next(ws for ws in wb.worksheets if ws.title.upper().startswith("SRL"))
    rows = list(sheet.iter_rows(values_only=True))
    header_at = next(i for i, r in enumerate(rows) if r and "SUBRGN" in r)
    header = list(rows[header_at])
    col = {name: header.index(name) for name in ("SUBRGN", "SRNAME", "SRC2ERTA", "SRCH4RTA", "SRN2ORTA")}
    edition = "20" + sheet.title[3:5]
    out = []
    for r in rows[header_at + 1 :]:
        if not r or not r[col["SUBRGN"]]:
            continue
        co2, ch4, n2o = (float(r[col[k]]) for k in ("SRC2ERTA", "SRCH4RTA", "SRN2ORTA"))
        co2e = (co2 + GWP_CH4 * ch4 + GWP_N2O * n2o) * LB_PER_MWH_TO_G_PER_KWH
        out.append(
            {
                "zone": f"US-{r[col['SUBRGN']]}",
                "name": f"eGRID subregion {r[col['SUBRGN']]} ({r[col['SRNAME']]})",
                "year": edition,
                "intensity_g_per_kwh": f"{co2e:.3f}",
                "source": f"US EPA eGRID{edition}, subregion annual output emission rates",
                "licence": "US-Government-Public-Domain",
                "quality": "derived",
                "note": f"CO2 {co2} + CH4 {ch4} x 28 + N2O {n2o} x 265 lb/MWh (AR5 GWP100) x 0.45359237",
            }
        )
    return out


def _year_counts(rows: list[dict[str, str]]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["year"]] = counts.get(r["year"], 0) + 1
    return ", ".join(f"{year}: {n}" for year, n in sorted(counts.items(), reverse=True))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--year", type=int, help="OWID data year (default: latest per country)")
    owid = ap.add_mutually_exclusive_group()
    owid.add_argument("--owid-csv", default=OWID_URL, help="URL or local path of owid-energy-data.csv")
    owid.add_argument("--owid-json", help="local path of CodeCarbon's global_energy_mix.json (same OWID figures)")
    ap.add_argument(
        "--owid-json-origin",
        default="CodeCarbon",
        help='what the JSON came from, for the source column, e.g. "CodeCarbon 3.3.2"',
    )
    ap.add_argument("--skip-google", action="store_true", help="leave cloud_regions.csv as it is")
    ap.add_argument("--google-year", type=int, default=2023)
    ap.add_argument("--google-csv", help="URL or local path (default: region-carbon-info yearly CSV)")
    ap.add_argument("--egrid-xlsx", help="local path of the eGRID summary tables workbook")
    ap.add_argument("--data-dir", type=Path, default=DATA, help="directory of the CSVs to rewrite")
    args = ap.parse_args(argv)
    data = args.data_dir

    annual = read_rows(data, "grid_annual.csv")
    alpha3_to_2 = {r["note"].split()[1]: r["zone"] for r in annual if r["note"].startswith("alpha-3 ")}
    if args.owid_json and args.year is not None:
        fail("--year does not apply to --owid-json: it holds one year per country")
    if args.owid_json:
        blob = Path(args.owid_json).read_bytes()
        print(f"{args.owid_json}: sha256 {hashlib.sha256(blob).hexdigest()}")
        countries, unmapped = owid_json_rows(blob.decode("utf-8"), args.owid_json_origin, alpha3_to_2, args.owid_json)
    else:
        countries, unmapped = owid_rows(fetch(args.owid_csv), args.year, alpha3_to_2)
    keep = [r for r in annual if not r["note"].startswith("alpha-3 ")]
    if args.egrid_xlsx:
        egrid = egrid_rows(args.egrid_xlsx)
        keep = [r for r in keep if not r["source"].startswith("US EPA eGRID")] + egrid
    write_rows(data, "grid_annual.csv", keep + countries, FIELDS)
    print(f"grid_annual.csv: {len(countries)} countries from OWID, data years {_year_counts(countries)}")
    if unmapped:
        print("no alpha-2 code known for (add an 'alpha-3 XXX' row by hand):", "; ".join(unmapped))

    if args.skip_google:
        print("now: review `git diff`, bump DATASET_VERSION, update docs/data-sources.md, run the tests")
        return 0
    google = fetch(args.google_csv or GOOGLE_URL.format(year=args.google_year))
    figures = {r["Google Cloud Region"]: r for r in csv.DictReader(io.StringIO(google))}
    regions = read_rows(data, "cloud_regions.csv")
    source = (
        "Google Cloud, Carbon free energy for Google Cloud regions (GoogleCloudPlatform/region-carbon-info "
        f"data/yearly/{args.google_year}.csv), grid carbon intensity"
    )
    for r in regions:
        if r["provider"] == "gcp" and r["region"] in figures:
            r["provider_intensity_g_per_kwh"] = figures[r["region"]]["Grid carbon intensity (gCO2eq / kWh)"]
            r["provider_year"] = str(args.google_year)
            r["provider_source"] = source
    missing = sorted(set(figures) - {r["region"] for r in regions if r["provider"] == "gcp"})
    write_rows(data, "cloud_regions.csv", regions, list(regions[0]))
    if missing:
        print("new Google regions to map to a zone by hand:", ", ".join(missing))
    print("now: review `git diff`, bump DATASET_VERSION, update docs/data-sources.md, run the tests")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
