"""Example: a run over its budget is deferred to a cleaner hour: one new Scheduled run of its deployment.

Self-contained and offline, like the main demo: it starts Prefect's local API, registers a
deployment of a small training flow, writes a GB intensity forecast (300 g/kWh now, 100 g/kWh in
three hours; a stand-in for what a provider such as the UK Carbon Intensity API publishes), and
runs one flow run of the deployment in this process, as a worker would. The gate's budget says
`action: reschedule`, so the run stops without promotion and a new run is scheduled for the
cleaner window; the example reads it back from the API and prints it.

Run: python examples/reschedule_flow.py   (or: make demo-reschedule)
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.flow_engine import run_flow

from carbonguard.prefect import carbon_gate, metered

POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {name: example-reschedule, version: "1.0.0", description: "defer over-budget runs to cleaner hours"}
spec:
  location: {zone: GB}
  pue: 1.2
  budgets:
    # Deliberately tiny, so this small example is over it and asks to wait.
    - {id: run-co2e, metric: co2e_kg, limit: 1.0e-9, action: reschedule, fallback: block}
  measurement: {estimated: allow, unavailable: block}
  scheduling: {max_delay_h: 24, min_saving_fraction: 0.2}
"""


@task
@metered(stage="train")
def train(epochs: int) -> float:
    total = 0.0
    for epoch in range(epochs):
        total += sum((i % 97) * 0.5 for i in range(200_000)) / (epoch + 1)
    return total


@task
def promote(out: str) -> None:
    Path(out).write_text("promoted\n")


@flow(name="carbonguard-example-reschedule")
def training(policy: str, forecast: str, out: str, epochs: int = 3) -> None:
    train(epochs)
    carbon_gate(policy=policy, forecast=forecast)  # over budget: reschedules and stops this run
    promote(out)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="carbonguard-reschedule-"))
    policy = work / "policy.yaml"
    policy.write_text(POLICY)
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    forecast = work / "gb-forecast.csv"
    forecast.write_text("time,intensity_g_per_kwh\n" + "".join(
        f"{(hour + timedelta(hours=h)).isoformat()},{100 if 3 <= h < 6 else 300}\n" for h in range(30)))
    params = {"policy": str(policy), "forecast": str(forecast), "out": str(work / "model.json"), "epochs": 3}

    deployment_id = training.to_deployment(name="example").apply()
    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(deployment_id, parameters=params)
    state = run_flow(training, flow_run=run, parameters=params, return_type="state")
    print(f"\nrun {run.name} ended {state.type.value}: {state.message}")
    with get_client(sync_client=True) as client:
        later = [r for r in client.read_flow_runs() if r.deployment_id == deployment_id and r.id != run.id]
    for r in later:
        print(f"new run {r.name} ({r.id}) is {r.state.name}, starting "
              f"{r.state.state_details.scheduled_time.isoformat()} with the same parameters")
    ledger = os.environ.get("CARBONGUARD_LEDGER", ".carbonguard/ledger.db")
    print(f"promoted: {Path(params['out']).exists()}; the decision and the new run are in the ledger {ledger}")
    return 0 if len(later) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
