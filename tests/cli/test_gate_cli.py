"""`carbonguard gate` end to end: stage records in a real ledger, the CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from carbonguard.judged import judged_sha256
from carbonguard.ledger import open_ledger
from carbonguard.models import ComponentEnergy, StageRecord

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)

POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {{name: cli-test, version: "7"}}
spec:
  location: {{zone: {zone}}}
  pue: 1.5
  budgets:
    - {{id: run-co2e, metric: co2e_kg, limit: {limit}, action: block}}
  measurement: {{estimated: allow, unavailable: block}}
"""


def _stage(run_id: str, stage: str, kwh: float, offset_h: float, zone: str | None = None) -> StageRecord:
    start = START + timedelta(hours=offset_h)
    return StageRecord(
        run_id=run_id, flow_name="cli", stage=stage, start=start, end=start + timedelta(minutes=40),
        host="trainer-1", pid=4242, zone=zone,
        components=(ComponentEnergy(component="gpu", device="GPU-0000", method="counter", energy_kwh=kwh,
                                    source="nvml:total-energy-counter"),),
    )


@pytest.fixture
def run_in_ledger(_isolated_ledger: Path) -> str:
    with open_ledger() as ledger:
        ledger.append("stage", _stage("run-7", "train", 10.0, 0).model_dump(mode="json"))
        ledger.append("stage", _stage("run-7", "evaluate", 2.0, 1).model_dump(mode="json"))
    return "run-7"


def _policy(tmp_path: Path, limit: float, zone: str = "FR") -> str:
    path = tmp_path / f"policy-{limit}-{zone}.yaml"
    path.write_text(POLICY.format(limit=limit, zone=zone))
    return str(path)


def _gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carbonguard", "gate", *args], cwd=REPO, capture_output=True,
                          text=True, env=os.environ.copy(), timeout=60)


def _record_count() -> int:
    with open_ledger() as ledger:
        return len(ledger.records())


def test_allow_exits_0_and_records_policy_footprint_and_decision(run_in_ledger: str, tmp_path: Path) -> None:
    result = _gate("--policy", _policy(tmp_path, 1000), "--run", run_in_ledger, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    decision, footprint = document["decision"], document["footprint"]
    assert decision["outcome"] == "allow"
    # 12 kWh of GPU energy x PUE 1.5 = 18 kWh of facility energy.
    assert footprint["energy_kwh"] == pytest.approx(18.0)
    assert footprint["zone"] == "FR"
    assert footprint["intensity_sources"][0]["provider"] == "embedded"
    with open_ledger() as ledger:
        types = [r.record_type for r in ledger.records()]
        assert types.count("policy") == 1 and types.count("footprint") == 1 and types.count("decision") == 1
        stage_hashes = {r.record_hash for r in ledger.records(record_type="stage")}
        judged = ledger.records(record_type="decision")[0].payload["judged_records"]  # a digest, not the list
        assert (judged["count"], judged["sha256"]) == (len(stage_hashes), judged_sha256(stage_hashes))
        assert ledger.verify().ok


def test_over_budget_exits_1_with_the_finding(run_in_ledger: str, tmp_path: Path) -> None:
    result = _gate("--policy", _policy(tmp_path, 0.5), "--run", run_in_ledger)
    assert result.returncode == 1
    assert "BLOCK" in result.stdout
    assert "budget.run-co2e" in result.stdout
    assert "policy-0.5-FR.yaml:8" in result.stdout


def test_the_same_policy_is_recorded_once(run_in_ledger: str, tmp_path: Path) -> None:
    policy = _policy(tmp_path, 1000)
    assert _gate("--policy", policy, "--run", run_in_ledger).returncode == 0
    assert _gate("--policy", policy, "--run", run_in_ledger).returncode == 0
    with open_ledger() as ledger:
        assert len(ledger.records(record_type="policy")) == 1
        assert len(ledger.records(record_type="decision")) == 2


def test_unknown_zone_is_a_recorded_block(run_in_ledger: str, tmp_path: Path) -> None:
    result = _gate("--policy", _policy(tmp_path, 1000, zone="XX-NOWHERE"), "--run", run_in_ledger, "--json")
    assert result.returncode == 1
    decision = json.loads(result.stdout)["decision"]
    assert decision["outcome"] == "block"
    assert "intensity.unknown-zone" in {f["rule_id"] for f in decision["findings"]}


def test_bad_policy_exits_2_names_the_line_and_loses_nothing(run_in_ledger: str, tmp_path: Path) -> None:
    before = _record_count()
    bad = tmp_path / "bad.yaml"
    bad.write_text(POLICY.format(limit=-1, zone="FR"))
    result = _gate("--policy", str(bad), "--run", run_in_ledger)
    assert result.returncode == 2
    assert f"{bad}:8:" in result.stderr and "spec.budgets[0].limit: must be > 0" in result.stderr
    assert "Traceback" not in result.stderr
    assert _record_count() == before
    with open_ledger() as ledger:
        assert ledger.verify().ok


def test_unknown_run_exits_2(run_in_ledger: str, tmp_path: Path) -> None:
    result = _gate("--policy", _policy(tmp_path, 1000), "--run", "no-such-run")
    assert result.returncode == 2
    assert "no stage records for run 'no-such-run'" in result.stderr


def test_missing_flag_exits_2(run_in_ledger: str) -> None:
    result = _gate("--run", run_in_ledger)
    assert result.returncode == 2
    assert "--policy" in result.stderr


def test_markdown_format(run_in_ledger: str, tmp_path: Path) -> None:
    result = _gate("--policy", _policy(tmp_path, 1000), "--run", run_in_ledger, "--format", "markdown",
                   "--no-record")
    assert result.returncode == 0
    assert result.stdout.startswith("## carbonguard gate: ✅ allow")
    assert "| train | 1 |" in result.stdout
    with open_ledger() as ledger:
        assert ledger.records(record_type="decision") == []


def test_a_tampered_ledger_is_not_judged(run_in_ledger: str, tmp_path: Path, _isolated_ledger: Path) -> None:
    from tests.ledger.tamper import raw, rows

    url = str(_isolated_ledger)
    stage_row = next(r for r in rows(url) if b'"record_type":"stage"' in bytes(r[4]))
    envelope = bytes(stage_row[4])
    assert b'"energy_kwh":"10.0"' in envelope
    with raw(url) as run:  # an attacker lowers the recorded energy tenfold
        run("UPDATE records SET envelope = ? WHERE seq = ?",
            (envelope.replace(b'"energy_kwh":"10.0"', b'"energy_kwh":"1.0"'), stage_row[0]))
    before = len(rows(url))
    result = _gate("--policy", _policy(tmp_path, 1000), "--run", run_in_ledger)
    assert result.returncode == 10  # audit verify's code for an edited record
    assert "fails verification, so no decision is made" in result.stderr
    assert len(rows(url)) == before  # nothing was appended on top of the tampered chain
    report = subprocess.run([sys.executable, "-m", "carbonguard", "audit", "report", "--run", run_in_ledger],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert report.returncode == 10
    assert "FAILED VERIFICATION" in report.stdout


def test_stages_recorded_on_another_grid_block(tmp_path: Path, _isolated_ledger: Path) -> None:
    with open_ledger() as ledger:
        ledger.append("stage", _stage("run-pl", "train", 1.0, 0, zone="PL").model_dump(mode="json"))
        ledger.append("stage", _stage("run-pl", "eval", 1.0, 1, zone="fr").model_dump(mode="json"))
    result = _gate("--policy", _policy(tmp_path, 1000, zone="FR"), "--run", "run-pl", "--json")
    assert result.returncode == 1
    (finding,) = [f for f in json.loads(result.stdout)["decision"]["findings"]
                  if f["rule_id"] == "location.zone-mismatch"]
    assert "PL" in finding["message"] and "FR" not in finding["message"].split("but")[0]


def test_meter_refuses_a_zone_that_is_not_a_code() -> None:
    result = subprocess.run([sys.executable, "-m", "carbonguard", "meter", "--zone", "nowhere land", "--", "true"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--zone: 'nowhere land' is not a grid zone code" in result.stderr


def test_the_gate_judges_a_run_with_its_subflow_runs_from_the_ledger(run_in_ledger: str, tmp_path: Path) -> None:
    from carbonguard.runtree import subflow_payload

    with open_ledger() as ledger:
        ledger.append("subflow", subflow_payload(run_in_ledger, "run-7-sub"))
        ledger.append("stage", _stage("run-7-sub", "tune", 4.0, 2).model_dump(mode="json"))
    result = _gate("--policy", _policy(tmp_path, 1000), "--run", run_in_ledger, "--json")
    assert result.returncode == 0, result.stderr
    footprint = json.loads(result.stdout)["footprint"]
    assert sorted(s["stage"] for s in footprint["stages"]) == ["evaluate", "train", "tune"]
    assert footprint["energy_kwh"] == pytest.approx(16.0 * 1.5)
