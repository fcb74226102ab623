"""Forecasts from a configured provider (the GB Carbon Intensity API's format, served on 127.0.0.1)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from carbonguard.cli.main import main
from tests.intensity.fakes import UkCarbonIntensityFake


@pytest.fixture
def uk_server() -> Iterator[UkCarbonIntensityFake]:
    server = UkCarbonIntensityFake()
    yield server
    server.close()


def test_provider_forecast_gives_the_same_window_and_annual_fill_is_left_out(
    uk_server, monkeypatch, tmp_path, capsys
) -> None:
    monkeypatch.setenv("CARBONGUARD_UK_CARBON_INTENSITY_URL", uk_server.url)
    code = main([
        "schedule", "--zone", "GB", "--duration", "6h", "--not-before", "2023-05-04T12:30Z",
        # past the published figures: the chain fills the rest with the flat annual figure
        "--deadline", "2023-05-07T00:00Z",
        "--provider", "uk-carbon-intensity", "--provider", "embedded", "--cache-dir", str(tmp_path), "--json",
    ])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["best"]["start"] == "2023-05-05T09:30:00Z"
    assert doc["best"]["mean_g_per_kwh"] == pytest.approx(92 / 12)
    notes = doc["searches"][0]["notes"]
    assert any("flat annual figure" in n for n in notes)
    assert any("past its end" in n for n in notes)
    assert uk_server.count("/intensity/") >= 1
