#!/usr/bin/env python3
"""Rebuild carbonguard's embedded grid-intensity CSVs from the upstream downloadable files.

Needs the network (or local copies passed with --owid-csv / --google-csv / --egrid-xlsx); carbonguard
itself never runs this and never needs the network at run time. After a rebuild: review the diff,
bump DATASET_VERSION in carbonguard/intensity/dataset.py, update docs/data-sources.md, run the tests.

Sources it reads:
  * Our World in Data energy dataset, column carbon_intensity_elec (Ember / Energy Institute),
    latest year per country (or --year): https://github.com/owid/energy-data (CC BY 4.0)
  * Google Cloud region-carbon-info, data/yearly/<year>.csv (grid carbon intensity per region)
  * US EPA eGRID summary workbook (subregion sheet, e.g. SRL22): CO2, CH4, N2O output rates in lb/MWh,
    combined with AR5 GWP100 (28, 265) and converted with 1 lb/MWh = 0.45359237 g/kWh (needs openpyxl)
Figures published only as PDF tables (Australian NGA Factors, Canada's National Inventory Report
Annex 13, AIB European Residual Mixes) are kept as rows in the CSVs and edited by hand, each with its
source, year and quality; the script leaves those rows untouched.

Usage:
  python scripts/rebuild_intensity_data.py [--year 2023] [--google-year 2023] [--egrid-xlsx FILE]
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import urllib.request
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--year", type=int, help="OWID data year (default: latest per country)")
    ap.add_argument("--owid-csv", default=OWID_URL, help="URL or local path of owid-energy-data.csv")
    ap.add_argument("--google-year", type=int, default=2023)
    ap.add_argument("--google-csv", help="URL or local path (default: region-carbon-info yearly CSV)")
    ap.add_argument("--egrid-xlsx", help="local path of the eGRID summary tables workbook")
    ap.add_argument("--data-dir", type=Path, default=DATA, help="directory of the CSVs to rewrite")
    args = ap.parse_args(argv)
    data = args.data_dir

    annual = read_rows(data, "grid_annual.csv")
    alpha3_to_2 = {r["note"].split()[1]: r["zone"] for r in annual if r["note"].startswith("alpha-3 ")}
    countries, unmapped = owid_rows(fetch(args.owid_csv), args.year, alpha3_to_2)
    keep = [r for r in annual if not r["note"].startswith("alpha-3 ")]
    if args.egrid_xlsx:
        egrid = egrid_rows(args.egrid_xlsx)
        keep = [r for r in keep if not r["source"].startswith("US EPA eGRID")] + egrid
    write_rows(data, "grid_annual.csv", keep + countries, FIELDS)
    print(f"grid_annual.csv: {len(countries)} countries from OWID")
    if unmapped:
        print("no alpha-2 code known for (add an 'alpha-3 XXX' row by hand):", "; ".join(unmapped))

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
