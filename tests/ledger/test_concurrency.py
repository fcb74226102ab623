"""Many processes, one chain: concurrent appends, a writer killed mid-append, racing claims."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from carbonguard.ledger import ClaimConflict, open_ledger

from .tamper import raw

ROOT = Path(__file__).resolve().parents[2]


def _spawn(key_file: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "CARBONGUARD_SIGNING_KEY": str(key_file), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.ledger.writer", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_eight_processes_one_chain(ledger_url: str, key_file: Path) -> None:
    # Every writer opens the brand-new ledger at once: schema creation must be concurrent-safe too.
    procs = [_spawn(key_file, "append", ledger_url, "250", f"run-{i}") for i in range(8)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with open_ledger(ledger_url, signing_key=key_file, create=False) as led:
        result = led.verify(deep=True)
        assert result.ok, result.message
        stages = led.records(record_type="stage")
        assert len(stages) == 2000
        for i in range(8):
            stages_of_run = {r.payload["stage"] for r in led.records(run_id=f"run-{i}")}
            assert stages_of_run == {f"s{j}" for j in range(250)}
        assert len(led.records(record_type="key")) == 1  # one genesis, though eight raced to write it


def test_sigkill_mid_append_leaves_a_valid_ledger(ledger_url: str, key_file: Path) -> None:
    proc = _spawn(key_file, "forever", ledger_url, "doomed")
    seen = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        seen = int(line)
        if seen >= 150:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with open_ledger(ledger_url, signing_key=key_file, create=False) as led:
        result = led.verify()
        assert result.ok, result.message
        assert result.head_seq >= seen
        led.append("stage", {"run_id": "after", "note": "writes continue after the crash"})
        assert led.verify().ok


def test_same_range_claimed_concurrently_exactly_one_wins(ledger_url: str, key_file: Path) -> None:
    with open_ledger(ledger_url, signing_key=key_file) as led:
        led.append("policy", {"name": "team"})  # ledger and schema exist before the race
    start = time.time() + 2.0
    procs = [_spawn(key_file, "claim", ledger_url, "1000-1999", f"run-{c}", "", f"{start}") for c in "ab"]
    outcomes = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        outcomes.append((p.returncode, out.strip(), err))
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 3], outcomes
    winner = next(out for code, out, _ in outcomes if code == 0)
    loser = next(out for code, out, _ in outcomes if code == 3)
    assert winner == "claimed"
    with open_ledger(ledger_url, signing_key=key_file) as led:
        claims = led.records(record_type="claim")
        assert len(claims) == 1
        assert loser == f"conflict {claims[0].run_id}"
        assert led.verify().ok


def test_claim_conflicts_overlap_and_database_constraint(ledger_url: str, key_file: Path) -> None:
    with open_ledger(ledger_url, signing_key=key_file) as led:
        rec = led.claim_certificates("fea", (100, 199), "run-a", "acme", "2026-03-01T10:00:00Z", "GB", 0.25)
        assert rec.payload["energy_mwh"] == "0.25" and rec.payload["certificate_first"] == "100"
        with pytest.raises(ClaimConflict, match="run-a") as exc:
            led.claim_certificates("fea", "150-250", "run-b", "acme", "2026-03-01T10:00:00Z", "GB", "0.1")
        assert exc.value.holder_range == "100-199"
        led.claim_certificates("other-registry", (150, 250), "run-b", "acme", "2026-03-01T10:00:00Z",
                               "GB", "0.1")
        led.claim_certificates("fea", "200", "run-b", "acme", "2026-03-01T11:00:00Z", "GB", "0.01")
        assert led.verify().ok
        seq = rec.seq
    # A writer that skips carbonguard's lock and check still meets the database constraint.
    with raw(ledger_url) as run, pytest.raises(Exception, match=r"(?i)claim|exclu|conflict"):
        if ledger_url.startswith("postgres"):
            run("INSERT INTO claims VALUES ('fea', int8range(120, 130, '[]'), 'run-x', ?)", (seq,))
        else:
            run("INSERT INTO claims VALUES ('fea', 120, 130, 'run-x', ?)", (seq,))


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"certificate_range": "12-x"}, "certificate_range"),
    ({"certificate_range": (20, 10)}, "certificate_range"),
    ({"certificate_range": (1.5, 3)}, "certificate_range"),
    ({"hour": "2026-03-01T10:30:00Z"}, "hour"),
    ({"hour": "2026-03-01T10:00:00"}, "hour"),
    ({"mwh": "-1"}, "mwh"),
    ({"mwh": float("nan")}, "mwh"),
    ({"zone": ""}, "zone"),
])
def test_claim_input_errors(tmp_path: Path, key_file: Path, kwargs: dict, field: str) -> None:
    from carbonguard.errors import InputError

    args = {"registry": "fea", "certificate_range": (1, 2), "run_id": "run-a", "beneficiary": "acme",
            "hour": "2026-03-01T10:00:00Z", "zone": "GB", "mwh": "0.1", **kwargs}
    with open_ledger(tmp_path / "l.db", signing_key=key_file) as led:
        with pytest.raises(InputError) as exc:
            led.claim_certificates(**args)
        assert exc.value.problems[0].field_path == field
        assert led.records(record_type="claim") == []


def test_threads_share_one_ledger(ledger_url: str, key_file: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with open_ledger(ledger_url, signing_key=key_file) as led:
        def work(t: int) -> None:
            for i in range(50):
                led.append("stage", {"run_id": f"thread-{t}", "i": i})
                led.records(run_id=f"thread-{t}")

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(work, range(4)))
        assert len(led.records(record_type="stage")) == 200
        assert led.verify().ok


def test_two_writers_alternating_on_stale_heads(ledger_url: str, key_file: Path) -> None:
    # Each writer's next append builds on the head it wrote itself, which the other has moved:
    # the store must refuse that append (PostgreSQL: at commit) and the ledger redo it on the
    # real head, so the chain stays one, with no record lost or doubled.
    with open_ledger(ledger_url, signing_key=key_file) as a, \
            open_ledger(ledger_url, signing_key=key_file, checkpoint_every=3) as b:
        for i in range(10):
            a.append("stage", {"run_id": "a", "i": i})
            b.append("stage", {"run_id": "b", "i": i})
        b.claim_certificates("fea", (1, 5), "b", "acme", "2026-03-01T10:00:00Z", "GB", "0.1")
        a.append("stage", {"run_id": "a", "i": 10})
        result = a.verify()
        assert result.ok, result.message
        assert [r.payload["i"] for r in a.records(run_id="a", record_type="stage")] == list(range(11))
        assert [r.payload["i"] for r in b.records(run_id="b", record_type="stage")] == list(range(10))
        seqs = [r.seq for r in a.records()]
        assert seqs == list(range(1, len(seqs) + 1))
