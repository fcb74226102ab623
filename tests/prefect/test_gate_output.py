"""What `carbon_gate` leaves in Prefect: the decision once, readable, in the run's own logs, and an
artifact history per flow; read back from a real Prefect API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import pytest
from prefect import flow, get_client, task
from workloads import burn_cpu

from carbonguard.models import Outcome
from carbonguard.prefect import carbon_gate, metered
from carbonguard.prefect.artifacts import decision_artifact_key

REPO = Path(__file__).resolve().parents[2]
POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {{name: output-test, version: "3"}}
spec:
  location: {{zone: DE}}
  pue: 1.2
  budgets:
    - {{id: run-co2e, metric: co2e_kg, limit: {limit}, action: block}}
  measurement: {{estimated: allow, unavailable: block}}
"""


def _policy(tmp_path: Path, limit: float) -> str:
    path = tmp_path / f"policy-{limit}.yaml"
    path.write_text(POLICY.format(limit=limit))
    return str(path)


@task
@metered(stage="work")
def work() -> int:
    return burn_cpu(0.02)


@flow
def gated(policy: str) -> Outcome:
    work()
    return carbon_gate(policy).outcome


def _run_logs(flow_run_id: UUID) -> list[str]:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return [entry.message for entry in logs]


def test_a_block_is_in_the_run_logs_once_and_readable(tmp_path: Path) -> None:
    state = gated(_policy(tmp_path, 1e-9), return_state=True)
    assert state.is_failed()
    messages = _run_logs(state.state_details.flow_run_id)
    decisions = [m for m in messages if "policy: output-test v3" in m]
    assert len(decisions) == 1, messages
    assert "carbonguard gate: BLOCK" in decisions[0] and "budget.run-co2e" in decisions[0]
    assert not any("GateBlocked" in m and "\\n" in m for m in messages), messages


def test_an_allow_is_in_the_run_logs_once(tmp_path: Path) -> None:
    state = gated(_policy(tmp_path, 1000), return_state=True)
    assert state.result() == Outcome.ALLOW
    messages = _run_logs(state.state_details.flow_run_id)
    assert len([m for m in messages if "carbonguard gate: ALLOW" in m]) == 1, messages


@pytest.mark.parametrize("name, key", [
    ("training", "carbonguard-decision-training"),
    ("Nightly Train", None),
    ("Modèle: 学習 run #2", None),
    ("学習", None),
])
def test_the_artifact_key_is_a_valid_prefect_key_per_flow(name: str, key: str | None) -> None:
    made = decision_artifact_key(name)
    assert re.fullmatch(r"[a-z0-9-]+", made) and len(made) <= 100
    assert made.startswith("carbonguard-decision-")
    if key is not None:
        assert made == key
    assert made != decision_artifact_key(name + " ")  # flow names differing only in case or symbols do not share


def test_each_flow_keeps_its_own_decision_history(tmp_path: Path) -> None:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    names = ["Nightly Train – Ünïcode 模型", "other pipeline"]
    outcomes = {}
    for name, limit in zip(names, (1000, 1e-9), strict=True):
        state = gated.with_options(name=name)(_policy(tmp_path, limit), return_state=True)
        outcomes[name] = "allow" if state.is_completed() else "block"
    keys = [decision_artifact_key(n) for n in names]
    assert keys[0].startswith("carbonguard-decision-nightly-train-unicode-")
    with get_client(sync_client=True) as client:
        for name, key in zip(names, keys, strict=True):
            (artifact,) = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
            assert artifact.description.startswith(f"carbonguard gate: {outcomes[name]} (output-test v3)")
    assert outcomes == {names[0]: "allow", names[1]: "block"}


def test_a_blocked_example_run_prints_the_decision_once(tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    policy = (REPO / "policies" / "example-train.yaml").read_text().replace("limit: 0.01\n      warn_at",
                                                                          "limit: 1.0e-12\n      warn_at")
    (tmp_path / "block.yaml").write_text(policy)
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}  # this session's server: no new one
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "train_flow.py"), "--policy", str(tmp_path / "block.yaml"),
         "--epochs", "3", "--out-dir", str(tmp_path / "out")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1, done.stderr
    console = (done.stdout + done.stderr).splitlines()
    assert sum("policy: example-train v1.0.0" in line for line in console) == 1, "\n".join(console)
    assert not any("\\n" in line for line in console), "\n".join(console)
    assert len(console) < 90, "\n".join(console)  # 106 before, most of it the decision seven times


def test_an_allowed_example_run_prints_the_decision_once(tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "train_flow.py"), "--epochs", "3",
         "--out-dir", str(tmp_path / "out")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    console = (done.stdout + done.stderr).splitlines()
    assert sum("policy: example-train v1.0.0" in line for line in console) == 1, "\n".join(console)
    assert any(line.startswith("gate: warn;") or line.startswith("gate: allow;") for line in console)
