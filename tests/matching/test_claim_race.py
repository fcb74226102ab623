"""The same certificates claimed by two gate processes at once: exactly one wins; the other's recorded
decision carries `matching.double-counting` naming the winner. On SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from carbonguard.ledger import open_ledger
from carbonguard.models import ComponentEnergy, StageRecord

from .helpers import BENEFICIARY, HOUR, REGISTRY, bundle, json_bytes, matching_policy, write_signed

ROOT = Path(__file__).resolve().parents[2]
POLICY = matching_policy("race")


def _stage(run_id: str) -> StageRecord:
    return StageRecord(run_id=run_id, flow_name="race", stage="train", start=HOUR + timedelta(minutes=5),
                       end=HOUR + timedelta(minutes=35), host=f"host-{run_id}", pid=1,
                       components=(ComponentEnergy(component="gpu", device="GPU-0", method="counter",
                                                   energy_kwh=0.01, source="nvml:total-energy-counter"),))


def test_two_processes_claim_the_same_range_exactly_one_wins(ledger_url: str, tmp_path: Path,
                                                             key_file: Path) -> None:
    with open_ledger(ledger_url, signing_key=key_file) as led:
        for run_id in ("run-a", "run-b"):  # both consumed 10 Wh in the same hour
            led.append("stage", _stage(run_id).model_dump(mode="json"))
    policy = tmp_path / "race.yaml"
    policy.write_text(POLICY)
    certificates = write_signed(tmp_path / "certs.json", json_bytes([bundle(0, 9)]))  # 10 Wh: one run's worth
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "CARBONGUARD_SIGNING_KEY": str(key_file), "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.matching.racer", ledger_url, str(policy),
                               str(certificates), run_id, str(barrier), "2"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for run_id in ("run-a", "run-b")]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert [r["claims_computed_first"] for r in results] == [1, 1]  # both judged before either wrote
    winners = [r for r in results if r["claims_recorded"] == 1]
    losers = [r for r in results if r["claims_recorded"] == 0]
    assert len(winners) == 1 and len(losers) == 1, results
    winner, loser = winners[0], losers[0]
    assert winner["outcome"] == "allow" and winner["cfe_score"] == pytest.approx(1.0)
    assert loser["outcome"] == "block" and loser["cfe_score"] == 0.0
    (message,) = [m for rule, m in loser["findings"] if rule == "matching.double-counting"]
    assert f"already claimed by run {winner['run_id']!r}" in message
    with open_ledger(ledger_url, signing_key=key_file, create=False) as led:
        claims = led.records(record_type="claim")
        assert [(c.run_id, c.payload["certificate_first"], c.payload["certificate_last"]) for c in claims] == [
            (winner["run_id"], "0", "9")]
        decisions = {d.run_id: d.payload for d in led.records(record_type="decision")}
        assert set(decisions) == {"run-a", "run-b"}  # the loser's decision is recorded, with its finding
        assert "matching.double-counting" in {f["rule_id"] for f in decisions[loser["run_id"]]["findings"]}
        assert len(led.records(record_type="match")) == 2
        assert led.verify().ok


def test_a_crash_while_recording_leaves_no_claims_without_a_decision(ledger_url: str, tmp_path: Path,
                                                                    key_file: Path) -> None:
    with open_ledger(ledger_url, signing_key=key_file) as led:
        led.append("stage", _stage("run-a").model_dump(mode="json"))
        before = [r.record_hash for r in led.records()]
    policy = tmp_path / "race.yaml"
    policy.write_text(POLICY)
    certificates = write_signed(tmp_path / "certs.json", json_bytes([bundle(0, 9)]))
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "CARBONGUARD_SIGNING_KEY": str(key_file), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "tests.matching.racer", ledger_url, str(policy), str(certificates),
                           "run-a", str(barrier), "1", "crash"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -9, proc.stderr  # killed after the claims were written in the transaction
    with open_ledger(ledger_url, signing_key=key_file, create=False) as led:
        assert [r.record_hash for r in led.records()] == before  # no policy, footprint, match or claim
        assert led.verify().ok
        led.claim_certificates(REGISTRY, (0, 9), "run-b", BENEFICIARY, HOUR, "FR", "0.00001")  # ids are free
