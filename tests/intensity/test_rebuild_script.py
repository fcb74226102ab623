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


FIXTURE_JSON = Path(__file__).resolve().parents[1] / "fixtures" / "owid_global_energy_mix_sample.json"


def _copy_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(Path(str(resources.files("carbonguard.intensity").joinpath("data"))), data)
    return data


def test_rebuild_from_a_local_copy_of_codecarbons_owid_json(script, tmp_path, capsys) -> None:
    data = _copy_data(tmp_path)
    before = (data / "cloud_regions.csv").read_bytes()
    code = script.main(
        [
            "--owid-json",
            str(FIXTURE_JSON),
            "--owid-json-origin",
            "CodeCarbon 3.3.2",
            "--skip-google",
            "--data-dir",
            str(data),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    rows = {r["zone"]: r for r in csv.DictReader((data / "grid_annual.csv").open())}
    # each row keeps its own data year and says where the figure came from
    assert (rows["DE"]["intensity_g_per_kwh"], rows["DE"]["year"]) == ("380.95", "2023")
    assert (rows["SA"]["intensity_g_per_kwh"], rows["SA"]["year"]) == ("706.791", "2022")
    assert (rows["EH"]["intensity_g_per_kwh"], rows["EH"]["year"]) == ("666.667", "2009")
    assert rows["FR"]["quality"] == "published-secondary"
    assert "year 2023" in rows["FR"]["source"] and "CodeCarbon 3.3.2" in rows["FR"]["source"]
    assert rows["FR"]["note"] == "alpha-3 FRA" and rows["FR"]["licence"] == "CC-BY-4.0"
    # countries missing from the JSON are dropped (the JSON is the whole country table), others kept
    assert "IN" not in rows and "US-CAMX" in rows and "AU-NSW" in rows and "WORLD" in rows
    assert "NAR Narnia" in out  # listed to be mapped by hand, not written as a row
    assert "2023: 2, 2022: 1, 2009: 1" in out
    assert "sha256 " in out
    assert (data / "cloud_regions.csv").read_bytes() == before  # --skip-google leaves it alone


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"DEU": {"carbon_intensity": "380", "year": 2023}}', "DEU.carbon_intensity: expected a number"),
        ('{"DEU": {"carbon_intensity": -1, "year": 2023}}', "DEU.carbon_intensity: expected a number >= 0"),
        ('{"DEU": {"carbon_intensity": 380.95}}', "DEU.year: expected an integer year"),
        ('{"DEU": [380.95]}', "DEU: expected an object"),
        ("[1, 2]", "expected an object keyed by ISO alpha-3 code"),
        ('{"DEU": {', "not JSON: line 1"),
    ],
)
def test_bad_owid_json_names_file_and_field_and_writes_nothing(script, tmp_path, capsys, text, message) -> None:
    data = _copy_data(tmp_path)
    before = (data / "grid_annual.csv").read_bytes()
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    with pytest.raises(SystemExit) as exc:
        script.main(["--owid-json", str(bad), "--skip-google", "--data-dir", str(data)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"{bad}: " in err and message in err
    assert (data / "grid_annual.csv").read_bytes() == before


def test_year_does_not_apply_to_the_json(script, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        script.main(["--owid-json", str(FIXTURE_JSON), "--year", "2023", "--data-dir", str(_copy_data(tmp_path))])
    assert exc.value.code == 2 and "--year does not apply" in capsys.readouterr().err
