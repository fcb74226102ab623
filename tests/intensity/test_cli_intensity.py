"""`carbonguard intensity`: figures with provenance, clear exit-2 errors, live providers via env URLs."""

from __future__ import annotations

import json

import pytest

from carbonguard.cli.main import main
from carbonguard.intensity.dataset import load_dataset


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["intensity", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_embedded_figure_with_provenance(capsys) -> None:
    code, out, _ = run(capsys, "DE", "--at", "2024-05-04T12:00Z")
    assert code == 0
    assert "intensity_g_per_kwh: 380.9" in out
    assert "Our World in Data" in out and "data year 2023" in out
    assert load_dataset().sha256 in out


def test_json_output_carries_every_field(capsys) -> None:
    code, out, _ = run(
        capsys, "US-CA", "--start", "2024-05-04T12:00Z", "--end", "2024-05-04T14:00Z", "--json"
    )
    data = json.loads(out)
    assert code == 0 and data["intensity_g_per_kwh"] == pytest.approx(226.498)
    assert data["points"][0]["zone"] == "US-CAMX"
    assert "zone-alias:US-CA->US-CAMX" in data["points"][0]["flags"]
    assert data["gaps"] == []


def test_cloud_region_option(capsys) -> None:
    code, out, _ = run(
        capsys, "--cloud-provider", "azure", "--cloud-region", "westeurope", "--at", "2024-01-02T00:00Z"
    )
    assert code == 0 and "zone: NL" in out


def test_live_provider_through_env_url(capsys, uk_server, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CARBONGUARD_UK_CARBON_INTENSITY_URL", uk_server.url)
    code, out, _ = run(
        capsys,
        "GB",
        "--start",
        "2023-05-04T12:30Z",
        "--end",
        "2023-05-04T14:00Z",
        "--provider",
        "uk-carbon-intensity",
        "--provider",
        "embedded",
        "--cache-dir",
        str(tmp_path),
        "--json",
    )
    data = json.loads(out)
    assert code == 0
    assert data["intensity_g_per_kwh"] == pytest.approx((11 + 15 + 15) / 3)
    assert {p["provider"] for p in data["points"]} == {"uk-carbon-intensity"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["XX-NOWHERE"], "no grid carbon intensity for zone 'XX-NOWHERE'"),
        (["DE", "--at", "2024-05-04T12:00"], "has no UTC offset"),
        (["DE", "--at", "yesterday"], "not an ISO 8601 time"),
        (["DE", "--start", "2024-05-04T12:00Z"], "--start needs --end"),
        (["DE", "--start", "2024-05-04T12:00Z", "--end", "2024-05-04T11:00Z"], "--end must be after --start"),
        (["--cloud-provider", "aws", "--cloud-region", "mars-1"], "unknown aws region 'mars-1'"),
        ([], "no zone given"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(capsys, argv: list[str], message: str) -> None:
    code, _out, err = run(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_unknown_zone_warn_prints_flagged_world_average(capsys) -> None:
    code, out, _ = run(capsys, "XX", "--unknown-zone", "warn", "--at", "2024-01-01T00:00Z")
    assert code == 0 and "world-average-fallback" in out


def test_list_zones(capsys) -> None:
    code, out, _ = run(capsys, "--list-zones", "--json")
    data = json.loads(out)
    assert code == 0 and len(data["zones"]) == len(load_dataset().annual)
    assert data["dataset_hash"] == load_dataset().sha256
