"""`@metered` above or below `@task`, under every cache policy Prefect offers, against a real Prefect API.

The second run of the same flow with the same inputs is served from cache where the policy allows it;
the gate must then still find the stage (recorded as a cache hit) and pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect import flow, task
from prefect.cache_policies import DEFAULT, INPUTS, NO_CACHE, TASK_SOURCE
from workloads import burn_cpu

from carbonguard.ledger import open_ledger
from carbonguard.models import Outcome, StageRecord
from carbonguard.prefect import carbon_gate, metered

POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {name: cache-test, version: "1"}
spec:
  location: {zone: DE}
  pue: 1.2
  budgets:
    - {id: run-co2e, metric: co2e_kg, limit: 1000, action: block}
  measurement: {estimated: allow, unavailable: block}
"""

# policy, and whether a second flow run with the same inputs is served from cache
POLICIES = {
    "inputs": (INPUTS, True),
    "task-source": (TASK_SOURCE, True),
    "default": (DEFAULT, False),  # includes RUN_ID: a new flow run never hits
    "no-cache": (NO_CACHE, False),
    "compound": (INPUTS + TASK_SOURCE, True),
}


def _expensive_task(order: str, policy, stage: str):
    def expensive(size: int) -> int:
        return size + burn_cpu(0.02)

    if order == "metered-above-task":
        return metered(stage=stage)(task(cache_policy=policy, persist_result=True)(expensive))
    return task(cache_policy=policy, persist_result=True)(metered(stage=stage)(expensive))


@pytest.mark.parametrize("order", ["metered-above-task", "task-above-metered"])
@pytest.mark.parametrize("name", list(POLICIES))
def test_the_gate_passes_a_rerun_in_either_order_under_every_cache_policy(
    name: str, order: str, tmp_path: Path
) -> None:
    policy, hits = POLICIES[name]
    if policy is not NO_CACHE:  # cache records of this test only: no hit from another parametrisation
        policy = policy.configure(key_storage=str(tmp_path / "cache-keys"))
    stage = f"expensive-{name}"
    expensive = _expensive_task(order, policy, stage)
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY)

    @flow
    def pipeline(size: int) -> tuple[str, Outcome]:
        from prefect.runtime import flow_run

        expensive(size)
        return flow_run.id, carbon_gate(str(policy_file)).outcome

    first, first_outcome = pipeline(7)
    second, second_outcome = pipeline(7)
    assert (first_outcome, second_outcome) == (Outcome.ALLOW, Outcome.ALLOW)
    with open_ledger() as ledger:
        (ran,) = [StageRecord.model_validate(r.payload) for r in ledger.records(run_id=first, record_type="stage")]
        (again,) = [StageRecord.model_validate(r.payload)
                    for r in ledger.records(run_id=second, record_type="stage")]
    assert ran.stage == again.stage == stage
    assert not ran.cached and ran.components
    assert again.cached is hits
    assert ("prefect-cached" in again.flags) is hits
