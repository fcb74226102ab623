"""The pure pipeline: hand-made stage records and points in, footprint and Decision out, no ledger."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from carbonguard.models import ComponentEnergy, EnergyMethod, IntensityPoint, Origin, Outcome, StageRecord
from carbonguard.pipeline import intensity_request, judge
from carbonguard.policy import parse_policy

AS_OF = datetime(2026, 3, 3, tzinfo=timezone.utc)
START = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {name: pipeline-test, version: "1"}
spec:
  location: {zone: DE}
  pue: 1.2
  budgets:
    - {id: run-co2e, metric: co2e_kg, limit: 1.0, action: block}
  measurement: {estimated: allow, unavailable: block}
"""


def stage(name: str, kwh: float | None, offset_h: float, *, zone: str | None = None) -> StageRecord:
    start = START + timedelta(hours=offset_h)
    method = EnergyMethod.COUNTER if kwh is not None else EnergyMethod.UNAVAILABLE
    return StageRecord(
        run_id="run-p", flow_name="hand-made", stage=name, start=start, end=start + timedelta(minutes=30),
        host="h", pid=1, zone=zone,
        components=(ComponentEnergy(component="gpu", device="GPU-0", method=method, energy_kwh=kwh,
                                    source="test"),),
    )


def hourly(value: float) -> list[IntensityPoint]:
    return [IntensityPoint(zone="DE", start=START.replace(minute=0) + timedelta(hours=h), duration_s=3600,
                           intensity_g_per_kwh=value, provider="test", origin=Origin.LIVE) for h in range(3)]


def test_judges_hand_made_records_with_no_ledger() -> None:
    loaded = parse_policy(POLICY, "p.yaml")
    records = [stage("train", 2.0, 0), stage("evaluate", 1.0, 1)]
    result = judge(loaded, records, hourly(500.0), run_id="run-p", as_of=AS_OF)
    assert result.footprint.energy_kwh == pytest.approx(3.0 * 1.2)
    assert result.footprint.co2e_kg == pytest.approx(3.0 * 1.2 * 0.5)
    assert result.decision.outcome == Outcome.BLOCK
    assert [f.rule_id for f in result.decision.findings] == ["budget.run-co2e"]


def test_same_inputs_give_the_same_decision_bytes() -> None:
    loaded = parse_policy(POLICY, "p.yaml")
    records = [stage("train", 0.5, 0)]
    first = judge(loaded, records, hourly(100.0), run_id="run-p", as_of=AS_OF)
    second = judge(parse_policy(POLICY, "p.yaml"), list(records), hourly(100.0), run_id="run-p", as_of=AS_OF)
    assert first.decision.model_dump_json() == second.decision.model_dump_json()
    assert first.footprint.model_dump_json() == second.footprint.model_dump_json()


def test_intensity_request_names_the_zone_and_span_to_fetch() -> None:
    loaded = parse_policy(POLICY, "p.yaml")
    request = intensity_request(loaded, [stage("train", 1.0, 0), stage("evaluate", 1.0, 2)])
    assert (request.zone, request.start, request.end) == ("DE", START, START + timedelta(hours=2, minutes=30))
    assert intensity_request(loaded, []) is None


def test_zone_mismatch_is_a_typed_field_the_gate_reads() -> None:
    loaded = parse_policy(POLICY, "p.yaml")
    result = judge(loaded, [stage("train", 0.1, 0, zone="FR")], hourly(100.0), run_id="run-p", as_of=AS_OF)
    assert result.footprint.zone_mismatch == ("FR",)
    assert not any(f.startswith("zone-mismatch") for f in result.footprint.flags)
    (finding,) = [f for f in result.decision.findings if f.rule_id == "location.zone-mismatch"]
    assert "FR" in finding.message


def test_energy_known_is_a_fact_of_the_footprint() -> None:
    loaded = parse_policy(POLICY, "p.yaml")
    result = judge(loaded, [stage("train", None, 0)], hourly(100.0), run_id="run-p", as_of=AS_OF)
    assert not result.footprint.energy_known
    assert not result.footprint.stage("train").energy_known
    assert result.decision.energy_kwh is None and result.decision.co2e_kg is None


def test_cli_gate_goes_through_the_pipeline(monkeypatch, tmp_path) -> None:
    """The CLI judges through `pipeline.judge` (via assess), not a copy of it."""
    import carbonguard.assess as assess
    from carbonguard.cli.main import main
    from carbonguard.ledger import open_ledger

    calls = []
    real = assess.judge
    monkeypatch.setattr(assess, "judge", lambda *a, **k: calls.append(a) or real(*a, **k))
    ledger = str(tmp_path / "ledger.db")
    with open_ledger(ledger) as led:
        led.append("stage", stage("train", 0.1, 0).model_dump(mode="json"))
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY)
    assert main(["gate", "--policy", str(policy), "--run", "run-p", "--ledger", ledger, "--json"]) == 0
    assert len(calls) == 1


def test_decision_json_round_trips() -> None:
    loaded = parse_policy(POLICY, "p.yaml")
    result = judge(loaded, [stage("train", 0.1, 0)], hourly(100.0), run_id="run-p", as_of=AS_OF)
    assert json.loads(result.decision.model_dump_json())["outcome"] == "allow"
