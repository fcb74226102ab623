"""Appending, reading back and the rules an append enforces."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from carbonguard.errors import InputError
from carbonguard.ledger import GENESIS_PREV_HASH, open_ledger
from carbonguard.models import Decision, Outcome, RunFootprint, StageRecord

from .conftest import stage_record


def _decision(hashes: list[str], run_id: str = "run-1") -> Decision:
    return Decision(outcome=Outcome.ALLOW, run_id=run_id, policy_name="team", policy_version="3",
                    policy_hash="a" * 64, evaluated_at=datetime(2026, 3, 1, 2, tzinfo=timezone.utc),
                    energy_kwh=1.35, co2e_kg=0.5, evaluated_record_hashes=tuple(hashes))


def test_append_read_back_and_validate(ledger_url: str, key_file: Path) -> None:
    with open_ledger(ledger_url, signing_key=key_file) as led:
        stage = stage_record()
        rec = led.append("stage", stage.model_dump(mode="json"))
        assert rec.run_id == "run-1" and rec.record_type == "stage"
        assert rec.producer.startswith("carbonguard ") and rec.time.tzinfo is not None
        got = led.records(run_id="run-1")
        assert [r.record_hash for r in got] == [rec.record_hash]
        # Quantities are stored as decimal strings, and pydantic reads them back as the same floats.
        assert got[0].payload["components"][0]["energy_kwh"] == "1.25"
        assert StageRecord.model_validate(got[0].payload) == stage
        first = led.records()[0]
        assert first.record_type == "key" and first.prev_hash == GENESIS_PREV_HASH and first.seq == 1
        assert rec.prev_hash == first.record_hash and rec.seq == 2
        assert led.verify().ok


def test_decision_names_policy_and_inputs_and_is_checkpointed(ledger_url: str, key_file: Path) -> None:
    with open_ledger(ledger_url, signing_key=key_file) as led:
        stage = led.append("stage", stage_record().model_dump(mode="json"))
        decision = _decision([stage.record_hash])
        rec = led.append("decision", decision.model_dump(mode="json"))
        assert Decision.model_validate(rec.payload) == decision
        assert led.records()[-1].record_type == "checkpoint"
        assert led.records()[-1].payload["head_hash"] == rec.record_hash
        payload = decision.model_dump(mode="json")
        del payload["policy_hash"]
        with pytest.raises(InputError, match=r"payload\.policy_hash"):
            led.append("decision", payload)
        with pytest.raises(InputError, match="evaluated_record_hashes"):
            led.append("decision", _decision(["b" * 64]).model_dump(mode="json"))
        footprint = RunFootprint(run_id="run-1", zone="DE", pue=1.2, it_energy_kwh=1.0, energy_kwh=1.2,
                                 energy_upper_kwh=1.3, co2e_kg=0.4, record_hashes=(stage.record_hash,))
        led.append("footprint", footprint.model_dump(mode="json"))
        assert RunFootprint.model_validate(led.records(record_type="footprint")[0].payload) == footprint
        assert led.verify().ok


def test_bad_appends_are_refused_and_nothing_is_lost(ledger_url: str, key_file: Path) -> None:
    with open_ledger(ledger_url, signing_key=key_file) as led:
        led.append("stage", stage_record().model_dump(mode="json"))
        before = len(led.records())
        bad = stage_record().model_dump(mode="json")
        bad["components"][0]["energy_kwh"] = float("nan")
        with pytest.raises(InputError, match=r"payload\.components\[0\]\.energy_kwh"):
            led.append("stage", bad)
        with pytest.raises(InputError, match="unknown record type"):
            led.append("stage-ish", {})
        with pytest.raises(InputError, match="checkpoint"):
            led.append("checkpoint", {})
        with pytest.raises(InputError, match="run_id"):
            led.append("policy", {"run_id": 7})
        assert len(led.records()) == before
        assert led.verify().ok


def test_every_append_is_sealed_by_a_checkpoint(tmp_path: Path, key_file: Path) -> None:
    with open_ledger(tmp_path / "l.db", signing_key=key_file, checkpoint_every=10) as led:
        for _ in range(3):
            led.append("stage", stage_record().model_dump(mode="json"))
        assert [r.record_type for r in led.records()] == ["key", "stage", "checkpoint", "stage", "checkpoint",
                                                          "stage", "checkpoint"]
        with led.transaction() as tx:  # one seal for the whole transaction, plus one every 10 records
            for _ in range(12):
                tx.append("stage", stage_record().model_dump(mode="json"))
        cps = led.records(record_type="checkpoint")
        assert [cp.seq for cp in cps] == [3, 5, 7, 11, 21]  # after seq 10 and 20 (which is also the seal)
        for cp in cps:
            assert cp.payload["size"] == cp.seq - 1 and cp.payload["head_hash"] == cp.prev_hash
        result = led.verify()
        assert result.ok and result.checkpoints == 5 and result.unsigned_tail == 0
        assert led.verify(deep=True).ok  # the seals' bytes, written directly, are canonical JSON


def test_open_ledger_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_file: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with open_ledger(signing_key=key_file) as led:  # default: .carbonguard/ledger.db under cwd
        led.append("policy", {"name": "team"})
    assert (tmp_path / ".carbonguard" / "ledger.db").exists()
    monkeypatch.setenv("CARBONGUARD_LEDGER", str(tmp_path / "env.db"))
    with open_ledger(signing_key=key_file) as led:
        led.append("policy", {"name": "team"})
    assert (tmp_path / "env.db").exists()
    with open_ledger(f"sqlite:///{tmp_path / 'url.db'}", signing_key=key_file) as led:
        led.append("policy", {"name": "team"})
    assert (tmp_path / "url.db").exists()
    with pytest.raises(InputError, match="no ledger here"):
        open_ledger(tmp_path / "absent.db", create=False)


def test_signing_key_generated_once_next_to_ledger(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "led" / "ledger.db"
    with open_ledger(path) as led:
        led.append("policy", {"name": "team"})
    key = tmp_path / "led" / "signing-key.pem"
    assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
    assert "generated ledger signing key" in capsys.readouterr().err
    with open_ledger(path) as led:
        led.append("policy", {"name": "team"})
        assert led.verify().ok
    assert capsys.readouterr().err == ""


def test_refuses_update_and_delete_through_triggers(tmp_path: Path, key_file: Path) -> None:
    import sqlite3

    path = tmp_path / "l.db"
    with open_ledger(path, signing_key=key_file) as led:
        led.append("policy", {"name": "team"})
    db = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE records SET run_id = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM records")
    db.close()
    assert os.path.getsize(path) > 0
