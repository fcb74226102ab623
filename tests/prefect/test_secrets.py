"""Live-provider credentials from a Prefect Secret block, against a real Electricity Maps-format server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from prefect import flow, task
from prefect.blocks.system import Secret
from workloads import burn_cpu

from carbonguard.ledger import open_ledger
from carbonguard.models import RunFootprint
from carbonguard.prefect import carbon_gate, metered
from carbonguard.prefect.secrets import prefect_credentials, secret_block_name
from tests.intensity.fakes import ElectricityMapsFake

POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {name: secret-test, version: "1"}
spec:
  location: {zone: DE}
  pue: 1.0
  budgets:
    - {id: run-co2e, metric: co2e_kg, limit: 1000, action: block}
  measurement: {estimated: allow}
  intensity:
    providers: [electricitymaps, embedded]
    cache_ttl_s: 0
    max_retries: 0
    timeout_s: 5
"""


@pytest.fixture
def em_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ElectricityMapsFake]:
    server = ElectricityMapsFake(datetime.now(timezone.utc))
    monkeypatch.setenv("CARBONGUARD_ELECTRICITYMAPS_URL", server.url)
    monkeypatch.delenv("ELECTRICITYMAPS_TOKEN", raising=False)
    yield server
    server.close()


@task
@metered(stage="train")
def train_stage() -> int:
    return burn_cpu(0.05)


@flow
def gated(policy: str) -> str:
    train_stage()
    return carbon_gate(policy).run_id


def test_block_name_rule() -> None:
    assert secret_block_name("ELECTRICITYMAPS_TOKEN") == "electricitymaps-token"


def test_environment_wins_over_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONGUARD_TEST_TOKEN", "from-env")
    assert prefect_credentials("CARBONGUARD_TEST_TOKEN") == "from-env"
    assert prefect_credentials("CARBONGUARD_NO_SUCH_VARIABLE") is None


def test_gate_reads_the_token_from_a_secret_block(em_server: ElectricityMapsFake, tmp_path: Path) -> None:
    Secret(value=ElectricityMapsFake.TOKEN).save("electricitymaps-token", overwrite=True)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    run_id = gated(str(policy))
    assert em_server.requests, "the provider was never asked"
    assert all(seen.headers.get("auth-token") == ElectricityMapsFake.TOKEN for seen in em_server.requests)
    with open_ledger() as ledger:
        (entry,) = ledger.records(run_id=run_id, record_type="footprint")
        assert ElectricityMapsFake.TOKEN not in str([r.payload for r in ledger.records()])
    footprint = RunFootprint.model_validate(entry.payload)
    assert {p.provider for p in footprint.intensity_sources} >= {"electricitymaps"}
