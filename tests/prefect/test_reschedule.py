"""`action: reschedule` in a real Prefect deployment: one new run, Scheduled at the window, same parameters.

The deployment is registered with the test's Prefect server; a flow run created from it executes in
this process (as a worker would run it), its gate finds a cleaner window in a forecast file, and the
test reads the new flow run back from the API.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.flow_engine import run_flow

from carbonguard.ledger import open_ledger
from carbonguard.models import Outcome
from carbonguard.prefect import RunRescheduled, carbon_gate, metered
from carbonguard.prefect.reschedule import reschedule_current_run

POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {name: resched-flow, version: "1"}
spec:
  location: {zone: GB}
  pue: 1.0
  budgets:
    - {id: run-co2e, metric: co2e_kg, limit: 1.0e-15, action: reschedule}
  measurement: {estimated: allow, unavailable: allow}
  scheduling: {max_delay_h: 24, min_saving_fraction: 0.2}
"""


@task
@metered(stage="train")
def train(epochs: int) -> int:
    return sum(i * i for i in range(epochs * 10_000))


@task
def promote(marker: str) -> None:
    Path(marker).write_text("promoted")


@flow(name="carbonguard-reschedule-test")
def training(policy: str, forecast: str, marker: str, epochs: int = 3, gate_twice: bool = False) -> None:
    train(epochs)
    if gate_twice:  # a retried gate: the same proposal must not create a second run
        carbon_gate(policy=policy, forecast=forecast, fail_on_block=False)
    carbon_gate(policy=policy, forecast=forecast)
    promote(marker)


def forecast_file(tmp_path: Path) -> tuple[Path, datetime]:
    """300 g/kWh now, 100 g/kWh from three hours on: the cleaner window starts then."""
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    rows = [(hour + timedelta(hours=h), 100 if 3 <= h < 6 else 300) for h in range(30)]
    path = tmp_path / "gb-forecast.csv"
    path.write_text("time,intensity\n" + "".join(f"{t.isoformat()},{v}\n" for t, v in rows))
    return path, hour + timedelta(hours=3)


def deployed_run(tmp_path: Path, **extra):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    forecast, window = forecast_file(tmp_path)
    params = {"policy": str(policy), "forecast": str(forecast), "marker": str(tmp_path / "promoted"),
              "epochs": 3, **extra}
    deployment_id = training.to_deployment(name=f"resched-{tmp_path.name}"[:60]).apply()
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run_from_deployment(deployment_id, parameters=params)
    state = run_flow(training, flow_run=flow_run, parameters=params, return_type="state")
    return flow_run, state, deployment_id, params, window


def runs_of(deployment_id) -> list:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))


def test_a_deployment_run_is_rescheduled_to_the_cleaner_window(tmp_path: Path) -> None:
    flow_run, state, deployment_id, params, window = deployed_run(tmp_path)
    assert state.is_failed() and "rescheduled: flow run" in state.message
    assert not (tmp_path / "promoted").exists()  # no promotion in the run that asked to wait
    new = [r for r in runs_of(deployment_id) if r.id != flow_run.id]
    assert len(new) == 1
    (rescheduled,) = new
    assert rescheduled.state.is_scheduled()
    assert rescheduled.state.state_details.scheduled_time == window
    assert rescheduled.parameters == params
    assert str(rescheduled.id) in state.message and window.isoformat() in state.message
    with open_ledger() as led:
        (decision,) = [r.payload for r in led.records(run_id=str(flow_run.id), record_type="decision")]
        (moved,) = [r.payload for r in led.records(run_id=str(flow_run.id), record_type="reschedule")]
        assert led.verify().ok
    assert decision["outcome"] == Outcome.RESCHEDULE.value
    assert (moved["status"], moved["new_flow_run_id"]) == ("scheduled", str(rescheduled.id))


def test_a_retried_gate_does_not_create_a_second_run(tmp_path: Path) -> None:
    flow_run, state, deployment_id, _, _ = deployed_run(tmp_path, gate_twice=True)
    assert state.is_failed()
    assert len([r for r in runs_of(deployment_id) if r.id != flow_run.id]) == 1


def test_outside_a_deployment_the_gate_blocks_and_says_why(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    forecast, _ = forecast_file(tmp_path)
    with pytest.raises(Exception) as info:
        training(str(policy), str(forecast), str(tmp_path / "promoted"))
    assert not isinstance(info.value, RunRescheduled)
    assert "not started from a deployment" in str(info.value)
    assert not (tmp_path / "promoted").exists()


def test_no_proposal_means_nothing_to_schedule() -> None:
    from carbonguard.prefect.reschedule import CannotReschedule

    with pytest.raises(CannotReschedule):
        reschedule_current_run(_decision_without_proposal())


def _decision_without_proposal():
    from carbonguard.models import Decision, RescheduleProposal

    return Decision(outcome=Outcome.RESCHEDULE, run_id="r", policy_name="p", policy_version="1",
                    policy_hash="0" * 64, evaluated_at=datetime.now(timezone.utc),
                    reschedule=RescheduleProposal(proposed=False, reason="no forecast"))
