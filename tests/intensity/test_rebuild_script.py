"""The dataset rebuild script, run offline on local copies of the upstream file formats."""

from __future__ import annotations

import csv
import importlib.util
import shutil
from importlib import resources
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "rebuild_intensity_data.py"


@pytest.fixture
def script():
    spec = importlib.util.spec_from_file_location("rebuild_intensity_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rebuild_from_owid_and_google_formats(script, tmp_path, capsys) -> None:
    data = tmp_path / "data"
    shutil.copytree(Path(str(resources.files("carbonguard.intensity").joinpath("data"))), data)
    owid = tmp_path / "owid-energy-data.csv"
    owid.write_text(
        "country,year,iso_code,carbon_intensity_elec\n"
        "Germany,2022,DEU,385.39\nGermany,2023,DEU,380.95\nFrance,2023,FRA,56.04\n"
        "Narnia,2023,NAR,100\nWorld,2023,,480.0\n"
    )
    google = tmp_path / "2024.csv"
    google.write_text(
        "Google Cloud Region,Location,Google CFE,Grid carbon intensity (gCO2eq / kWh)\n"
        "europe-west9,Paris,0.95,30\nnew-region1,Nowhere,0.5,100\n"
    )
    code = script.main(
        [
            "--owid-csv",
            str(owid),
            "--google-csv",
            str(google),
            "--google-year",
            "2024",
            "--data-dir",
            str(data),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    rows = {r["zone"]: r for r in csv.DictReader((data / "grid_annual.csv").open())}
    assert rows["DE"]["intensity_g_per_kwh"] == "380.95" and rows["DE"]["year"] == "2023"
    assert rows["FR"]["intensity_g_per_kwh"] == "56.04"
    assert "US-CAMX" in rows and "AU-NSW" in rows  # hand-maintained rows kept
    assert "NAR Narnia" in out and "new-region1" in out
    regions = {(r["provider"], r["region"]): r for r in csv.DictReader((data / "cloud_regions.csv").open())}
    assert regions[("gcp", "europe-west9")]["provider_intensity_g_per_kwh"] == "30"
    assert regions[("gcp", "europe-west9")]["provider_year"] == "2024"
