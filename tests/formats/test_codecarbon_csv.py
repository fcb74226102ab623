"""CodeCarbon emissions.csv export: the exact column layout, units, empty-not-zero, hostile strings."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import pytest

from carbonguard.accounting import compute_footprint, intensity_span
from carbonguard.formats.codecarbon_csv import COLUMNS, render
from carbonguard.intensity import build_source
from carbonguard.intensity.dataset import country_names
from carbonguard.models import ComponentEnergy, EnergyMethod, StageRecord

UTC = timezone.utc
# CodeCarbon 3.3.2, codecarbon/output_methods/emissions_data.py, class EmissionsData, in field order
CODECARBON_3_3_2_COLUMNS = (  # noqa: SIM905 - kept as one string to compare with the source by eye
    "timestamp,project_name,run_id,experiment_id,duration,emissions,emissions_rate,cpu_power,gpu_power,"
    "ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,water_consumed,country_name,country_iso_code,"
    "region,cloud_provider,cloud_region,os,python_version,codecarbon_version,cpu_count,cpu_model,gpu_count,"
    "gpu_model,longitude,latitude,ram_total_size,tracking_mode,cpu_utilization_percent,gpu_utilization_percent,"
    "ram_utilization_percent,ram_used_gb,on_cloud,pue,wue"
).split(",")


def component(kind: str, kwh: float | None, device: str = "dev0") -> ComponentEnergy:
    if kwh is None:
        return ComponentEnergy(component=kind, device=device, method=EnergyMethod.UNAVAILABLE, source="test")
    return ComponentEnergy(component=kind, device=device, method=EnergyMethod.COUNTER, energy_kwh=kwh, source="test")


def record(
    stage: str, *components: ComponentEnergy, flow: str = "train-flow", run_id: str = "run-1", hour: int = 12
) -> StageRecord:
    return StageRecord(
        run_id=run_id,
        flow_name=flow,
        stage=stage,
        start=datetime(2025, 5, 4, hour, tzinfo=UTC),
        end=datetime(2025, 5, 4, hour + 1, tzinfo=UTC),
        host="h",
        pid=1,
        components=components,
    )


def export(records: list[StageRecord], zone: str = "DE", pue: float = 1.2, run_id: str = "run-1") -> dict[str, str]:
    span = intensity_span(records)
    points = build_source(None).series(zone, *span) if span else []
    fp = compute_footprint(records, run_id=run_id, zone=zone, pue=pue, points=points)
    text = render([(fp, records)], countries=country_names())
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(COLUMNS) and len(rows) == 2
    return dict(zip(rows[0], rows[1], strict=True))


def test_header_is_codecarbons_emissions_csv_layout() -> None:
    assert list(COLUMNS) == CODECARBON_3_3_2_COLUMNS
    assert render([]).splitlines() == [",".join(CODECARBON_3_3_2_COLUMNS)]


def test_a_run_row_carries_energy_emissions_and_provenance_in_codecarbons_units() -> None:
    records = [
        record(
            "train",
            component("gpu", 2.0, "GPU-a"),
            component("gpu", 1.0, "GPU-b"),
            component("cpu", 0.5),
            component("dram", 0.1),
        ),
        record("eval", component("gpu", 0.4, "GPU-a"), component("cpu", 0.1), component("dram", 0.02), hour=13),
    ]
    row = export(records)
    it_kwh = 2.0 + 1.0 + 0.5 + 0.1 + 0.4 + 0.1 + 0.02
    assert float(row["energy_consumed"]) == pytest.approx(it_kwh * 1.2)  # kWh, PUE included as CodeCarbon does
    assert float(row["gpu_energy"]) == pytest.approx(3.4 * 1.2)
    assert float(row["cpu_energy"]) == pytest.approx(0.6 * 1.2)
    assert float(row["ram_energy"]) == pytest.approx(0.12 * 1.2)
    assert float(row["emissions"]) == pytest.approx(it_kwh * 1.2 * 380.95 / 1000)  # kg, DE 2023
    assert float(row["duration"]) == 7200.0
    assert float(row["emissions_rate"]) == pytest.approx(float(row["emissions"]) / 7200)  # kg/s
    assert row["timestamp"] == "2025-05-04T14:00:00"
    assert (row["project_name"], row["run_id"], row["region"]) == ("train-flow", "run-1", "DE")
    assert (row["country_name"], row["country_iso_code"]) == ("Germany", "DEU")
    assert row["gpu_count"] == "2" and row["pue"] == "1.2"
    # what carbonguard does not record stays empty, never 0
    for column in ("cpu_power", "gpu_power", "ram_power", "water_consumed", "os", "wue", "on_cloud", "latitude"):
        assert row[column] == "", column


def test_unknown_energy_is_an_empty_cell_never_zero() -> None:
    row = export([record("train", component("gpu", 2.0), component("cpu", None))])
    assert row["cpu_energy"] == ""  # the CPU reading was unavailable
    assert row["ram_energy"] == ""  # no DRAM reading was taken at all
    assert row["energy_consumed"] == "" and row["emissions"] == "" and row["emissions_rate"] == ""
    assert float(row["gpu_energy"]) == pytest.approx(2.4)  # the known part is still exported


def test_cloud_region_from_the_zone_resolution() -> None:
    row = export([record("train", component("gpu", 1.0))], zone="aws:us-east-1")
    assert (row["cloud_provider"], row["cloud_region"], row["on_cloud"]) == ("aws", "us-east-1", "Y")


@pytest.mark.parametrize("hostile", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1:A9)", "\tcmd"])
def test_formula_injection_is_neutralised_in_every_user_string(hostile: str) -> None:
    # A run id is a label: one with a control character (the tab) is refused where it enters.
    run_id = hostile if hostile.isprintable() else "run-1"
    records = [record("train", component("gpu", 1.0), flow=hostile, run_id=run_id)]
    row = export(records, run_id=run_id)
    assert row["project_name"] == "'" + hostile
    if hostile.isprintable():
        assert row["run_id"] == "'" + hostile


def test_control_characters_cannot_split_a_row() -> None:
    records = [record("train", component("gpu", 1.0), flow='a\nb\r\nc,"d"')]
    row = export(records)  # export() asserts exactly one data row
    assert row["project_name"] == 'a b  c,"d"'


def test_audit_export_writes_codecarbon_csv_for_gated_runs(tmp_path) -> None:
    import csv as csv_module

    from carbonguard.cli.main import main
    from carbonguard.ledger import open_ledger

    ledger = str(tmp_path / "l.db")
    with open_ledger(ledger) as led:
        led.append("stage", record("train", component("gpu", 1.0), run_id="run-cc").model_dump(mode="json"))
        led.append("stage", record("evaluate", component("gpu", 0.5), run_id="run-cc", hour=13).model_dump(mode="json"))
    policy = tmp_path / "p.yaml"
    policy.write_text('apiVersion: carbonguard/v1\nkind: CarbonPolicy\nmetadata: {name: cc, version: "1"}\n'
                      "spec:\n  location: {zone: DE}\n  pue: 1.2\n")
    assert main(["gate", "--policy", str(policy), "--run", "run-cc", "--ledger", ledger, "--json"]) == 0
    out = tmp_path / "emissions.csv"
    assert main(["audit", "export", "--ledger", ledger, "--format", "codecarbon-csv", "--out", str(out)]) == 0
    (row,) = list(csv_module.DictReader(out.open()))
    assert row["run_id"] == "run-cc" and row["country_iso_code"] == "DEU"
    assert float(row["energy_consumed"]) == pytest.approx(1.5 * 1.2)


def test_codecarbon_export_refuses_a_tampered_ledger(tmp_path) -> None:
    from carbonguard.cli.main import main
    from carbonguard.ledger import open_ledger
    from tests.ledger import tamper

    ledger = str(tmp_path / "l.db")
    with open_ledger(ledger) as led:
        led.append("stage", record("train", component("gpu", 1.0), run_id="run-t").model_dump(mode="json"))
    with tamper.raw(ledger) as run:  # an edit that does not re-hash: the chain no longer verifies
        run("UPDATE records SET envelope = replace(envelope, X'312e30', X'392e30') WHERE seq = 1")
    out = tmp_path / "emissions.csv"
    assert main(["audit", "export", "--ledger", ledger, "--format", "codecarbon-csv", "--out", str(out)]) == 10
    assert not out.exists()
