"""Numbers for people: 3 significant figures, one fixed unit, counted nouns; JSON keeps every digit."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from carbonguard.formats import numbers
from carbonguard.formats.registry import render
from carbonguard.models import Decision, Outcome, RunFootprint, StageFootprint
from carbonguard.reporting.run import RunReport


@pytest.mark.parametrize(("value", "unit", "shown"), [
    ("0.00001359822088842567179235", "kWh", "0.0000136 kWh"),  # a ledger decimal string
    ("1500.000000000", "g CO2e", "1,500 g CO2e"),
    (3.84, "kWh", "3.84 kWh"),
    (0.5, "h", "0.500 h"),
    (999.6, "", "1,000"),
    (7.96e-07, "kWh", "0.000000796 kWh"),  # a short test run: no exponent
    (1.2e-9, "kWh", "0.00000000120 kWh"),
    (1.2e-13, "kWh", "1.2e-13 kWh"),
    (None, "kWh", "unknown"),  # never 0
    ("0", "kWh", "0 kWh"),
])
def test_figure(value: object, unit: str, shown: str) -> None:
    assert numbers.figure(value, unit) == shown  # type: ignore[arg-type]


def test_period_energy_in_mwh_only_from_one_mwh() -> None:
    assert numbers.period_energy_unit([3.7, None, 999.4]) == ("kWh", 1.0)
    assert numbers.period_energy_unit([999.6]) == ("MWh", 1e3)  # reads 1,000 kWh: say 1.00 MWh
    assert numbers.period_energy_unit([]) == ("kWh", 1.0)


def test_plural() -> None:
    assert (numbers.plural(1, "stage"), numbers.plural(2, "stage"), numbers.plural(0, "run")) == \
        ("1 stage", "2 stages", "0 runs")


def _report() -> RunReport:
    kwh, kg = 0.013598220888425672, 0.0054392883553702686
    stages = tuple(StageFootprint(stage=name, records=n, it_energy_kwh=kwh / 1.5, energy_kwh=kwh,
                                  energy_upper_kwh=kwh, co2e_kg=kg) for name, n in (("train", 1), ("eval", 2)))
    footprint = RunFootprint(run_id="r", zone="FR", pue=1.5, it_energy_kwh=2 * kwh / 1.5, energy_kwh=2 * kwh,
                             energy_upper_kwh=2 * kwh, co2e_kg=2 * kg, stages=stages)
    decision = Decision(outcome=Outcome.ALLOW, run_id="r", policy_name="p", policy_version="1",
                        policy_hash="a" * 64, evaluated_at=datetime(2026, 3, 2, tzinfo=timezone.utc),
                        energy_kwh=2 * kwh, co2e_kg=2 * kg, findings=())
    return RunReport(decision, footprint)


def test_gate_text_and_markdown_print_3_figures_in_kwh_and_json_keeps_every_digit() -> None:
    report = _report()
    text = render("text", report)
    assert "energy_kwh: 0.0272 kWh" in text and "co2e_kg (location-based): 0.0109 kg" in text
    assert "IT energy 0.0181 kWh" in text
    assert "stage train: 0.0136 kWh, 0.00544 kg CO2e (1 record)" in text
    assert "stage eval: 0.0136 kWh, 0.00544 kg CO2e (2 records)" in text
    markdown = render("markdown", report)
    assert "| energy_kwh (facility) | 0.0272 kWh |" in markdown
    assert "| train | 1 | 0.0136 kWh | 0.00544 kg CO2e |" in markdown
    assert "0.01359822" not in text + markdown
    doc = json.loads(render("json", report))
    assert doc["decision"]["energy_kwh"] == 2 * 0.013598220888425672
    assert doc["footprint"]["stages"][0]["energy_kwh"] == 0.013598220888425672
