"""`action: reschedule` makes the decision carry a window and zone, or fall back with the reason."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from carbonguard.gate import evaluate
from carbonguard.models import IntensityPoint, Origin, Outcome, RunFootprint
from carbonguard.policy import parse_policy

AS_OF = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {{name: resched, version: "1"}}
spec:
  location: {{zone: GB}}
  pue: 1.0
  budgets:
    - {{id: run-co2e, metric: co2e_kg, limit: 1.0, action: reschedule, fallback: {fallback}}}
  scheduling: {{max_delay_h: 24, candidate_zones: [{zones}], min_saving_fraction: 0.2}}
"""


def policy(fallback: str = "block", zones: str = ""):
    return parse_policy(POLICY.format(fallback=fallback, zones=zones), "resched.yaml")


def run(co2e: float = 2.0, hours: int = 2) -> RunFootprint:
    start = AS_OF - timedelta(hours=hours)
    return RunFootprint(run_id="r", zone="GB", pue=1.0, start=start, end=AS_OF, it_energy_kwh=10.0,
                        energy_kwh=10.0, energy_upper_kwh=10.0, co2e_kg=co2e, co2e_upper_kg=co2e)


def hourly(zone: str, values: list[float]) -> list[IntensityPoint]:
    return [IntensityPoint(zone=zone, start=AS_OF + timedelta(hours=h), duration_s=3600, intensity_g_per_kwh=v,
                           kind="forecast", provider="test", origin=Origin.LIVE) for h, v in enumerate(values)]


def test_a_cleaner_window_is_proposed_and_carried_by_the_decision() -> None:
    forecast = {"GB": hourly("GB", [300, 300, 300, 100, 100, 300] + [300] * 24)}
    decision = evaluate(policy(), run(), as_of=AS_OF, forecasts=forecast)
    assert decision.outcome == Outcome.RESCHEDULE
    proposal = decision.reschedule
    assert proposal.proposed and proposal.zone == "GB"
    assert (proposal.start, proposal.end) == (AS_OF + timedelta(hours=3), AS_OF + timedelta(hours=5))
    assert proposal.mean_g_per_kwh == pytest.approx(100)
    assert proposal.run_now_g_per_kwh == pytest.approx(300)
    assert proposal.saving_fraction == pytest.approx(2 / 3)
    assert proposal.saving_co2e_kg == pytest.approx(10.0 * 200 / 1000)


def test_another_zone_can_be_the_proposal() -> None:
    forecasts = {"GB": hourly("GB", [300] * 30), "FR": hourly("FR", [50] * 30)}
    decision = evaluate(policy(zones="FR"), run(), as_of=AS_OF, forecasts=forecasts)
    assert decision.outcome == Outcome.RESCHEDULE
    assert decision.reschedule.zone == "FR" and decision.reschedule.start == AS_OF


def test_no_window_beats_now_enough_so_the_fallback_applies_with_the_reason() -> None:
    forecast = {"GB": hourly("GB", [300, 280] + [290] * 28)}  # at most ~7 % cleaner: under 20 %
    decision = evaluate(policy(fallback="warn"), run(), as_of=AS_OF, forecasts=forecast)
    assert decision.outcome == Outcome.WARN
    assert not decision.reschedule.proposed
    assert decision.reschedule.start is None and decision.reschedule.end is None  # nothing to act on
    assert decision.reschedule.mean_g_per_kwh is None
    assert "min_saving_fraction 0.2" in decision.findings[0].message


def test_within_budget_there_is_nothing_to_reschedule() -> None:
    decision = evaluate(policy(), run(co2e=0.5), as_of=AS_OF, forecasts={"GB": hourly("GB", [300] * 30)})
    assert decision.outcome == Outcome.ALLOW and decision.reschedule is None


def test_the_same_inputs_propose_the_same_window() -> None:
    forecast = {"GB": hourly("GB", [300, 100, 100] + [300] * 27)}
    first = evaluate(policy(), run(), as_of=AS_OF, forecasts=forecast)
    assert first.model_dump_json() == evaluate(policy(), run(), as_of=AS_OF, forecasts=forecast).model_dump_json()


def test_the_proposal_is_shown_in_text_and_markdown() -> None:
    from carbonguard.formats import render

    forecast = {"GB": hourly("GB", [300, 300, 300, 100, 100, 300] + [300] * 24)}
    decision = evaluate(policy(), run(), as_of=AS_OF, forecasts=forecast)
    assert "reschedule: run in GB from 2026-03-02T15:00Z to 2026-03-02T17:00Z at 100 g/kWh" in render(
        "text", decision)
    assert "**Reschedule:** run in GB from 2026" in render("markdown", decision)


def test_the_cli_prints_the_proposal_from_a_forecast_file(tmp_path, capsys) -> None:
    import json

    from carbonguard.cli.main import main
    from carbonguard.ledger import open_ledger
    from carbonguard.models import ComponentEnergy, StageRecord

    start = datetime.now(timezone.utc) - timedelta(minutes=30)
    ledger = str(tmp_path / "l.db")
    with open_ledger(ledger) as led:
        led.append("stage", StageRecord(
            run_id="r-cli", flow_name="f", stage="train", start=start, end=start + timedelta(minutes=20),
            host="h", pid=1, components=(ComponentEnergy(component="gpu", device="g", method="counter",
                                                         energy_kwh=10.0, source="t"),)).model_dump(mode="json"))
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    forecast = tmp_path / "f.csv"
    forecast.write_text("time,intensity\n" + "".join(
        f"{(hour + timedelta(hours=h)).isoformat()},{100 if 4 <= h < 6 else 300}\n" for h in range(30)))
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY.format(fallback="block", zones=""))
    code = main(["gate", "--policy", str(policy), "--run", "r-cli", "--ledger", ledger,
                 "--forecast", str(forecast), "--json"])
    proposal = json.loads(capsys.readouterr().out)["decision"]["reschedule"]
    assert code == 1  # reschedule: not now
    assert proposal["proposed"] and proposal["zone"] == "GB"
    assert datetime.fromisoformat(proposal["start"].replace("Z", "+00:00")) == hour + timedelta(hours=4)


def test_a_run_with_no_duration_cannot_be_sized_for_a_window() -> None:
    instant = run().model_copy(update={"start": AS_OF, "end": AS_OF})
    decision = evaluate(policy(), instant, as_of=AS_OF, forecasts={"GB": hourly("GB", [300, 100] * 15)})
    assert decision.outcome == Outcome.BLOCK and "no duration" in decision.reschedule.reason


def test_a_waived_finding_neither_asks_for_a_window_nor_takes_the_fallback() -> None:
    waived = POLICY.format(fallback="warn", zones="") + (
        "  measurement: {estimated: block}\n"
        "  waivers: [{rule: measurement.estimated, reason: r, approved_by: a, expires: 2099-01-01}]\n")
    estimated = run().model_copy(update={"estimated_components": 1})
    calm = evaluate(parse_policy(waived, "p.yaml"), estimated.model_copy(update={"co2e_kg": 0.1}), as_of=AS_OF)
    assert calm.reschedule is None  # only a waived block: nothing asks to reschedule
    mixed = evaluate(parse_policy(waived, "p.yaml"), estimated, as_of=AS_OF, forecasts=None)
    (kept,) = [f for f in mixed.findings if f.rule_id == "measurement.estimated"]
    assert kept.outcome == Outcome.BLOCK and kept.waived_by is not None and "reschedule" not in kept.message


def test_other_findings_neither_ask_for_a_window_nor_take_the_fallback() -> None:
    strict = POLICY.format(fallback="block", zones="") + "  measurement: {estimated: warn}\n"
    estimated = run().model_copy(update={"estimated_components": 1})
    only_warn = evaluate(parse_policy(strict, "p.yaml"), estimated.model_copy(update={"co2e_kg": 0.1}), as_of=AS_OF)
    assert only_warn.outcome == Outcome.WARN and only_warn.reschedule is None
    both = evaluate(parse_policy(strict, "p.yaml"), estimated, as_of=AS_OF)  # over budget, no forecast
    (warn,) = [f for f in both.findings if f.rule_id == "measurement.estimated"]
    assert warn.outcome == Outcome.WARN and "cannot reschedule" not in warn.message
