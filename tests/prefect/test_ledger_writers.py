"""Ledger defences on the Prefect path: @metered signs what it writes with no gate in the process,
and `carbon_gate` verifies the chain before it appends anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prefect import flow, task
from workloads import burn_cpu as _burn  # tests/prefect is on sys.path under pytest
from workloads import generous_policy

from carbonguard.assess import LedgerIntegrityError
from carbonguard.ledger import EXIT_EDITED, EXIT_UNSIGNED, open_ledger
from carbonguard.prefect import carbon_gate, metered
from tests.ledger.tamper import raw, rebuild

POLICY = generous_policy("writers")


@task
@metered(stage="fit")
def fit() -> int:
    return _burn(0.05)


@flow
def stages_only() -> str:
    from prefect.runtime import flow_run

    fit()
    fit()
    return flow_run.id


@flow
def gate_only(policy: str, run_id: str) -> None:
    carbon_gate(policy, run_id=run_id)


def _pin(ledger_path: Path) -> str:
    with open_ledger(ledger_path, create=False) as led:
        return led.keyring().public[led.keyring().genesis_key_id]


def test_metered_stages_are_signed_when_no_gate_runs(_isolated_ledger: Path) -> None:
    run_id = stages_only()
    with open_ledger(_isolated_ledger, create=False) as led:
        kinds = [r.record_type for r in led.records()]
        assert kinds[-1] == "checkpoint" and kinds.count("stage") == 2
        assert led.verify(pubkeys=[_pin(_isolated_ledger)]).ok
    # An edit now cannot wait for a later checkpoint to sign over it: re-linked, it is unsigned.
    rebuild(str(_isolated_ledger), lambda envs: [e for e in envs if e["record_type"] != "checkpoint"])
    with open_ledger(_isolated_ledger, create=False) as led:
        result = led.verify(pubkeys=[_pin(_isolated_ledger)])
    assert result.exit_code == EXIT_UNSIGNED, result.message
    assert run_id


def test_carbon_gate_verifies_before_it_appends(_isolated_ledger: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    run_id = stages_only()
    url = str(_isolated_ledger)
    with raw(url) as run:  # lower a measured figure in place
        seq, env = run("SELECT seq, envelope FROM records WHERE record_type = 'stage' ORDER BY seq LIMIT 1")[0]
        doc = json.loads(bytes(env))
        doc["payload"]["components"][0]["energy_kwh"] = "0.0"
        run("UPDATE records SET envelope = ? WHERE seq = ?", (json.dumps(doc).encode(), seq))
    with open_ledger(url, create=False) as led:
        before = led.store.count()
    with pytest.raises(LedgerIntegrityError) as info:
        gate_only(str(policy), run_id)
    assert info.value.exit_code == EXIT_EDITED
    with open_ledger(url, create=False) as led:
        assert led.store.count() == before  # no policy, footprint, decision or cache-hit record written
