"""Metered stages and the carbon gate inside real Prefect flows, against a real local Prefect API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prefect import flow, task
from prefect.cache_policies import INPUTS
from workloads import burn_cpu as _burn  # tests/prefect is on sys.path under pytest

from carbonguard.errors import GateBlocked, InputError
from carbonguard.judged import judged_sha256
from carbonguard.ledger import open_ledger
from carbonguard.models import Outcome, StageRecord
from carbonguard.prefect import carbon_gate, metered
from carbonguard.reporting.judged import judged_listing

POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {{name: flow-test, version: "1"}}
spec:
  location: {{zone: DE}}
  pue: 1.2
  budgets:
    - {{id: run-co2e, metric: co2e_kg, limit: {limit}, action: block}}
  measurement: {{estimated: allow, unavailable: block}}
"""


@pytest.fixture
def policy_file(tmp_path: Path):
    def make(limit: float) -> str:
        path = tmp_path / f"policy-{limit}.yaml"
        path.write_text(POLICY.format(limit=limit))
        return str(path)

    return make


@task
@metered(stage="prepare")
def prepare_stage() -> int:
    return _burn(0.05)


@metered(stage="train")
@task
def train_stage(n: int) -> int:
    return n + _burn(0.2)


@task
def promote_stage(marker: Path) -> None:
    marker.write_text("promoted")


@flow
def training(policy: str, marker: str) -> tuple[str, Outcome]:
    from prefect.runtime import flow_run

    n = prepare_stage()
    train_stage(n)
    decision = carbon_gate(policy)
    if decision.outcome in (Outcome.ALLOW, Outcome.WARN):
        promote_stage(Path(marker))
    return flow_run.id, decision.outcome


def test_gate_allows_promotion_under_budget(policy_file, tmp_path: Path) -> None:
    marker = tmp_path / "promoted"
    run_id, outcome = training(policy_file(1000.0), str(marker))
    assert outcome == Outcome.ALLOW
    assert marker.read_text() == "promoted"
    with open_ledger() as ledger:
        stages = [StageRecord.model_validate(r.payload) for r in ledger.records(run_id=run_id, record_type="stage")]
        decisions = ledger.records(run_id=run_id, record_type="decision")
        assert ledger.verify().ok
    assert [s.stage for s in stages] == ["prepare", "train"]
    assert all(s.run_id == str(run_id) and s.task_run_id and s.flow_name == "training" for s in stages)
    assert len({s.task_run_id for s in stages}) == 2
    assert all(s.energy_kwh > 0 for s in stages)
    assert len(decisions) == 1
    assert decisions[0].payload["outcome"] == "allow"
    stage_hashes = [r.record_hash for r in open_ledger().records(run_id=run_id, record_type="stage")]
    assert decisions[0].payload["judged_records"]["sha256"] == judged_sha256(stage_hashes)


def test_gate_blocks_promotion_over_budget(policy_file, tmp_path: Path) -> None:
    marker = tmp_path / "promoted"
    with pytest.raises(GateBlocked) as info:
        training(policy_file(1e-9), str(marker))
    assert not marker.exists()
    assert info.value.decision.outcome == Outcome.BLOCK
    assert "budget.run-co2e" in str(info.value)
    with open_ledger() as ledger:
        decisions = ledger.records(record_type="decision")
        assert decisions[-1].payload["outcome"] == "block"
        assert ledger.verify().ok


@task(retries=1, retry_delay_seconds=0)
@metered(stage="flaky")
def flaky_stage(marker: str) -> str:
    path = Path(marker)
    _burn(0.02)
    if not path.exists():
        path.write_text("tried")
        raise RuntimeError("first attempt fails")
    return "ok"


@flow
def retrying(marker: str) -> str:
    from prefect.runtime import flow_run

    flaky_stage(marker)
    return flow_run.id


def test_each_attempt_is_recorded_and_retries_are_flagged(tmp_path: Path) -> None:
    run_id = retrying(str(tmp_path / "attempt"))
    with open_ledger() as ledger:
        stages = [StageRecord.model_validate(r.payload) for r in ledger.records(run_id=run_id, record_type="stage")]
    assert [(s.attempt, "failed" in s.flags, "retry" in s.flags) for s in stages] == [(1, True, False),
                                                                                      (2, False, True)]
    assert stages[0].task_run_id == stages[1].task_run_id


@task
@metered(stage="async-train")
async def async_stage() -> int:
    await asyncio.sleep(0.01)
    return _burn(0.05)


@flow
async def async_training() -> str:
    from prefect.runtime import flow_run

    await async_stage()
    return flow_run.id


def test_async_tasks_are_metered() -> None:
    run_id = asyncio.run(async_training())
    with open_ledger() as ledger:
        (record,) = ledger.records(run_id=run_id, record_type="stage")
    assert record.payload["stage"] == "async-train"
    assert StageRecord.model_validate(record.payload).energy_kwh > 0


@task(cache_policy=INPUTS, persist_result=True)
@metered(stage="cached-prepare")
def cacheable_stage(size: int) -> int:
    return size + _burn(0.02)


@flow
def cached_flow(size: int) -> str:
    from prefect.runtime import flow_run

    cacheable_stage(size)
    return flow_run.id


def test_a_cached_task_run_records_no_energy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_LOCAL_STORAGE_PATH", str(tmp_path / "results"))
    size = int(tmp_path.stat().st_ino)  # unique inputs per test session: no cache hit from earlier runs
    first = cached_flow(size)
    second = cached_flow(size)
    with open_ledger() as ledger:
        assert len(ledger.records(run_id=first, record_type="stage")) == 1
        assert ledger.records(run_id=second, record_type="stage") == []


def test_the_example_flow_trains_gates_and_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    repo = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("example_train_flow", repo / "examples" / "train_flow.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    monkeypatch.chdir(tmp_path)
    decision = example.train_flow(epochs=5, out_dir=str(tmp_path / "out"))
    assert decision.outcome in (Outcome.ALLOW, Outcome.WARN)
    assert decision.policy_name == "example-train"
    assert (tmp_path / "out" / "model.json").exists()
    with open_ledger() as ledger:
        stages = ledger.records(run_id=decision.run_id, record_type="stage")
        assert [r.payload["stage"] for r in stages] == ["prepare", "train", "evaluate"]
        assert ledger.verify().ok


def test_policy_cpu_power_override_and_zone_reach_the_stage_record(tmp_path: Path) -> None:
    policy = tmp_path / "watts.yaml"
    policy.write_text(POLICY.format(limit=1000).replace("  measurement: {estimated: allow, unavailable: block}",
                                                        "  measurement: {cpu_power_w_per_core: 42.5}"))

    @task
    @metered(stage="policy-watts", policy=str(policy))
    def watts_stage() -> int:
        return _burn(0.05)

    @flow
    def watts_flow() -> str:
        from prefect.runtime import flow_run

        watts_stage()
        return flow_run.id

    run_id = watts_flow()
    with open_ledger() as ledger:
        (entry,) = ledger.records(run_id=run_id, record_type="stage")
    record = StageRecord.model_validate(entry.payload)
    assert record.zone == "DE"
    cpu = next(c for c in record.components if c.component == "cpu")
    assert "42.5 W/core" in cpu.source


def test_reschedule_also_stops_promotion(tmp_path: Path) -> None:
    policy = tmp_path / "reschedule.yaml"
    policy.write_text(POLICY.format(limit=1e-9).replace("action: block", "action: reschedule"))
    marker = tmp_path / "promoted"
    with pytest.raises(GateBlocked) as info:
        training(str(policy), str(marker))
    # No spec.scheduling: no window can be proposed, so the budget's fallback (block) applies.
    assert info.value.decision.outcome == Outcome.BLOCK
    assert "cannot reschedule" in info.value.decision.findings[0].message
    assert not marker.exists()


def test_an_unusable_signing_key_fails_the_task_before_its_work(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONGUARD_SIGNING_KEY", str(tmp_path / "missing.pem"))
    ran = tmp_path / "ran"

    @task
    @metered(stage="never")
    def expensive() -> None:
        ran.write_text("the work ran")

    @flow
    def doomed() -> None:
        expensive()

    with pytest.raises(InputError, match="cannot read signing key"):
        doomed()
    assert not ran.exists()


@task(cache_policy=INPUTS, persist_result=True)
@metered(stage="cached-train")
def cacheable_train(size: int) -> int:
    return size + _burn(0.05)


@flow
def gated_cached(policy: str, size: int) -> tuple[str, Outcome]:
    from prefect.runtime import flow_run

    cacheable_train(size)
    return flow_run.id, carbon_gate(policy).outcome


def test_a_fully_cached_run_passes_the_gate_with_its_cache_hits_recorded(
    policy_file, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_LOCAL_STORAGE_PATH", str(tmp_path / "results"))
    size = int(tmp_path.stat().st_ino) + 1
    policy = policy_file(1000.0)
    gated_cached(policy, size)
    second, outcome = gated_cached(policy, size)  # every task served from cache
    assert outcome == Outcome.ALLOW
    with open_ledger() as ledger:
        (entry,) = ledger.records(run_id=second, record_type="stage")
        footprint = ledger.records(run_id=second, record_type="footprint")[-1].payload
    record = StageRecord.model_validate(entry.payload)
    assert record.cached and record.stage == "cached-train" and record.components == ()
    assert "prefect-cached" in record.flags
    assert "cached-records-skipped" in footprint["flags"]


@flow
def inner_training() -> None:
    train_stage(prepare_stage())


@flow
def outer_training(policy: str) -> tuple[str, float]:
    from prefect.runtime import flow_run

    inner_training()
    decision = carbon_gate(policy)
    return flow_run.id, decision.energy_kwh


def test_stages_metered_in_subflows_count_for_the_run(policy_file) -> None:
    run_id, energy_kwh = outer_training(policy_file(1000.0))
    with open_ledger() as ledger:
        assert ledger.records(run_id=run_id, record_type="stage") == []  # recorded under the subflow's id
        decision = ledger.records(run_id=run_id, record_type="decision")[-1]
        listed = {e.record_hash for e in judged_listing(ledger, decision).entries}  # derived, digest checked
        assert judged_listing(ledger, decision).matches
        judged = {r.payload["stage"] for r in ledger.records(record_type="stage") if r.record_hash in listed}
    assert judged == {"prepare", "train"}
    assert energy_kwh > 0
