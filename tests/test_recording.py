"""`carbonguard.recording.metered`: the core install's decorator records stages like the Prefect one,
into a real ledger, and is gated by the CLI; without importing Prefect."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from carbonguard.errors import InputError
from carbonguard.ledger import open_ledger
from carbonguard.models import StageRecord
from carbonguard.recording import metered

REPO = Path(__file__).resolve().parents[1]


def _burn(seconds: float) -> int:
    end, n = time.thread_time() + seconds, 0
    while time.thread_time() < end:
        n += 1
    return n


def _stages(run_id: str) -> list[StageRecord]:
    with open_ledger() as ledger:
        return [StageRecord.model_validate(r.payload) for r in ledger.records(run_id=run_id, record_type="stage")]


def test_each_call_is_a_stage_record_of_the_given_run() -> None:
    @metered(stage="prepare", run_id="script-1", zone="DE")
    def prepare(n: int) -> int:
        return n + _burn(0.02)

    assert prepare(1) > 1
    prepare(2)
    records = _stages("script-1")
    assert [(r.stage, r.zone, r.flow_name, r.cached) for r in records] == [("prepare", "DE", "python", False)] * 2
    assert all(r.energy_kwh > 0 and r.end > r.start for r in records)


def test_the_run_id_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONGUARD_RUN_ID", "nightly-42")

    @metered()
    def evaluate() -> None:
        _burn(0.01)

    evaluate()
    assert [r.stage for r in _stages("nightly-42")] == ["evaluate"]


def test_a_failed_call_is_recorded_and_raised() -> None:
    @metered(stage="flaky", run_id="script-fail")
    def flaky() -> None:
        _burn(0.01)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        flaky()
    (record,) = _stages("script-fail")
    assert "failed" in record.flags


def test_async_functions_are_recorded() -> None:
    @metered(stage="async-fit", run_id="script-async")
    async def fit() -> int:
        await asyncio.sleep(0.01)
        return _burn(0.01)

    assert asyncio.run(fit()) > 0
    assert [r.stage for r in _stages("script-async")] == ["async-fit"]


def test_names_that_are_not_labels_are_refused_before_the_work(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="stage"):
        metered(stage="train\x1b[2J")(lambda: None)
    with pytest.raises(InputError, match="run_id"):
        metered(run_id="run\r\n42")(lambda: None)
    monkeypatch.setenv("CARBONGUARD_RUN_ID", "bad id\n")
    ran = tmp_path / "ran"

    @metered(stage="never")
    def work() -> None:
        ran.write_text("ran")

    with pytest.raises(InputError, match="CARBONGUARD_RUN_ID"):
        work()
    assert not ran.exists()


def test_an_unusable_signing_key_fails_the_call_before_its_work(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONGUARD_SIGNING_KEY", str(tmp_path / "missing.pem"))
    ran = tmp_path / "ran"

    @metered(stage="never", run_id="doomed")
    def work() -> None:
        ran.write_text("ran")

    with pytest.raises(InputError, match="cannot read signing key"):
        work()
    assert not ran.exists()


SCRIPT = """
import sys
from carbonguard.recording import metered

@metered(stage="train")
def train():
    return sum(range(200000))

@metered(stage="evaluate")
def evaluate():
    return 1

train(); evaluate()
assert not any(m == "prefect" or m.startswith("prefect.") for m in sys.modules), "prefect was imported"
"""

POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {name: script, version: "1"}
spec:
  location: {zone: FR}
  pue: 1.1
  budgets:
    - {id: run-co2e, metric: co2e_kg, limit: 1000, action: block}
  measurement: {estimated: allow, unavailable: block}
"""


def test_a_script_without_prefect_is_recorded_under_one_announced_run_and_gated(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CARBONGUARD_RUN_ID"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    announced = [line for line in done.stderr.splitlines() if "recording stages under run id" in line]
    assert len(announced) == 1, done.stderr  # once per process, not once per call
    run_id = announced[0].split("run id ")[1].split()[0]
    assert [r.stage for r in _stages(run_id)] == ["train", "evaluate"]
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    gate = subprocess.run([sys.executable, "-m", "carbonguard", "gate", "--policy", str(policy), "--run", run_id,
                           "--json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert gate.returncode == 0, gate.stderr
    assert json.loads(gate.stdout)["decision"]["outcome"] == "allow"
