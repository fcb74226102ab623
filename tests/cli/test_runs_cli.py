"""`carbonguard runs`: find a run id without parsing exports."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from carbonguard.cli.main import main
from carbonguard.ledger import open_ledger
from carbonguard.models import ComponentEnergy, StageRecord

START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {name: runs-test, version: "2"}
spec:
  location: {zone: FR}
  pue: 1.5
  budgets: [{id: run-co2e, metric: co2e_kg, limit: 100.0}]
"""


def stage(run_id: str, name: str, kwh: float | None, hours: int) -> dict:
    method = "counter" if kwh is not None else "unavailable"
    return StageRecord(
        run_id=run_id, flow_name="train-flow", stage=name, start=START + timedelta(hours=hours),
        end=START + timedelta(hours=hours, minutes=30), host="h", pid=1,
        components=(ComponentEnergy(component="gpu", device="g", method=method, energy_kwh=kwh, source="t"),),
    ).model_dump(mode="json")


def test_lists_runs_newest_first_with_energy_co2e_and_last_decision(tmp_path: Path, capsys) -> None:
    ledger = str(tmp_path / "l.db")
    with open_ledger(ledger) as led:
        led.append("stage", stage("old", "train", 2.0, 0))
        led.append("stage", stage("old", "evaluate", 1.0, 1))
        led.append("stage", stage("new", "train", None, 5))
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY)
    assert main(["gate", "--policy", str(policy), "--run", "old", "--ledger", ledger, "--json"]) == 0
    capsys.readouterr()
    assert main(["runs", "--ledger", ledger, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in doc["runs"]] == ["new", "old"]
    old = doc["runs"][1]
    assert (old["stages"], old["last_decision"], old["flow_name"]) == (2, "allow", "train-flow")
    assert old["energy_kwh"] == 3.0 * 1.5
    assert doc["runs"][0]["energy_kwh"] is None  # not gated, and no reading: never 0
    assert main(["runs", "--ledger", ledger, "--limit", "1"]) == 0
    text = capsys.readouterr().out
    assert "new" in text and "old" not in text.splitlines()[1] and "1 older not shown" in text


def test_a_missing_ledger_is_an_input_error(tmp_path: Path, capsys) -> None:
    assert main(["runs", "--ledger", str(tmp_path / "none.db")]) == 2
    assert not (tmp_path / "none.db").exists()


def test_errors_name_what_they_know_and_invent_no_placeholder() -> None:
    from carbonguard.errors import Problem

    assert str(Problem("must be at least 1", field_path="--limit")) == "--limit: must be at least 1"
    assert "<input>" not in str(Problem("no command given"))
