"""A run with subflows is one set of records in every surface: the in-flow gate, `carbonguard gate`
(in another process, with no Prefect) and the compliance report, against a real Prefect API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from prefect import flow, task
from workloads import burn_cpu, generous_policy

from carbonguard.ledger import open_ledger
from carbonguard.prefect import carbon_gate, metered
from carbonguard.reporting.compliance import build_report

REPO = Path(__file__).resolve().parents[2]
POLICY = generous_policy("subflow-test")


@task
@metered(stage="load")
def load() -> int:
    return burn_cpu(0.02)


@metered(stage="fit")
@task
def fit(n: int) -> int:
    return n + burn_cpu(0.05)


@task
@metered(stage="score")
def score(n: int) -> int:
    return n + burn_cpu(0.02)


@flow
def innermost(n: int) -> int:
    return score(n)


@flow
def middle(n: int) -> int:  # no stage of its own: only its subflow has one
    return innermost(n)


@flow
def inner(n: int) -> int:
    return fit(n)


@flow
def parent_gated(policy: str) -> tuple[str, int]:
    from prefect.runtime import flow_run

    n = inner(load())
    middle(n)
    decision = carbon_gate(policy)
    return flow_run.id, decision.judged_records.count


@flow
def parent_ungated() -> str:
    from prefect.runtime import flow_run

    middle(inner(load()))
    return flow_run.id


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carbonguard", *args], cwd=REPO, capture_output=True,
                          text=True, env=os.environ.copy(), timeout=120)


def _policy(tmp_path: Path) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return str(path)


def test_the_cli_gate_judges_the_same_records_as_the_in_flow_gate(tmp_path: Path) -> None:
    run_id, judged_in_flow = parent_gated(_policy(tmp_path))
    assert judged_in_flow == 3
    done = _cli("gate", "--policy", _policy(tmp_path), "--run", run_id, "--json", "--no-record")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["decision"]["judged_records"]["count"] == 3


def test_the_cli_learns_the_run_tree_from_the_ledger_without_an_in_flow_gate(tmp_path: Path) -> None:
    run_id = parent_ungated()  # the subflow links come from @metered alone
    done = _cli("gate", "--policy", _policy(tmp_path), "--run", run_id, "--json")
    assert done.returncode == 0, done.stderr
    stages = {s["stage"] for s in json.loads(done.stdout)["footprint"]["stages"]}
    assert stages == {"load", "fit", "score"}


def test_the_report_of_a_run_with_subflows_adds_up(tmp_path: Path) -> None:
    run_id, _ = parent_gated(_policy(tmp_path))
    with open_ledger() as ledger:
        (run,) = build_report(ledger, run_id=run_id).runs
        period = build_report(ledger)
    assert run.compute.stages == 3
    assert len(run.subflow_run_ids) == 3  # inner, middle, innermost
    energy = run.energy
    assert energy.facility_energy_status == "computed"
    assert Decimal(energy.facility_energy_kwh) == Decimal(energy.it_energy_kwh) * Decimal(str(energy.pue))
    assert [r.run_id for r in period.runs] == [run_id]  # subflow runs are part of it, not runs of their own
    assert Decimal(period.period.total_energy_mwh) * 1000 == Decimal(energy.facility_energy_kwh)
    subflow = run.subflow_run_ids[0]
    with open_ledger() as ledger:
        (part,) = build_report(ledger, run_id=subflow).runs
    assert part.part_of_run_id == run_id
    assert "part of run" in part.energy.facility_energy_status


def test_a_lost_link_fails_no_task_and_the_in_flow_gate_still_records_the_tree(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    import carbonguard.prefect.runs as runs

    def unreachable(flow_run_id: str) -> str | None:
        raise ConnectionError("Prefect API unreachable")

    monkeypatch.setattr(runs, "_parent_flow_run_id", unreachable)
    run_id, judged_in_flow = parent_gated(_policy(tmp_path))  # completes: the meter never fails the work
    assert judged_in_flow == 3
    assert "could not record which run flow run" in caplog.text
    done = _cli("gate", "--policy", _policy(tmp_path), "--run", run_id, "--json", "--no-record")
    assert json.loads(done.stdout)["decision"]["judged_records"]["count"] == 3  # links from carbon_gate
