"""Writers leave nothing unsigned, and the ledger's typed protocol is what `Ledger` offers."""

from __future__ import annotations

import sys
from pathlib import Path

from carbonguard.cli.main import main
from carbonguard.ledger import Ledger, Transaction, open_ledger
from carbonguard.ledger.preflight import open_checked_writable
from carbonguard.ledger.protocol import LedgerProtocol, LedgerWriter
from carbonguard.models import StageRecord

from .tamper import rebuild


def test_meter_signs_the_stage_it_records(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CARBONGUARD_CPU_W_PER_CORE", "10")
    url = str(tmp_path / "ledger.db")
    code = main(["meter", "--ledger", url, "--run-id", "run-1", "--", sys.executable, "-c", "pass"])
    assert code == 0, capsys.readouterr().err
    with open_ledger(url, create=False) as led:
        records = led.records()
        pin = led.keyring().public[led.keyring().genesis_key_id]
        assert [r.record_type for r in records] == ["key", "stage", "checkpoint"]
        stage = StageRecord.model_validate(records[1].payload)
        assert stage.run_id == "run-1" and stage.components  # read back: what meter measured is there
        assert led.verify(pubkeys=[pin]).ok
    # once the command has ended, an edit cannot be signed over by a later writer: it shows now
    rebuild(url, lambda envs: [e for e in envs if e["record_type"] != "checkpoint"])
    with open_ledger(url, create=False) as led:
        assert led.verify(pubkeys=[pin]).exit_code == 16


def test_ledger_and_transaction_satisfy_the_protocol(tmp_path: Path, key_file: Path) -> None:
    led = open_checked_writable(tmp_path / "ledger.db", signing_key=key_file)
    with led:
        assert isinstance(led, Ledger) and isinstance(led, LedgerProtocol) and isinstance(led, LedgerWriter)
        with led.transaction() as tx:
            assert isinstance(tx, Transaction) and isinstance(tx, LedgerWriter)
            tx.append("policy", {"name": "p"})
        assert led.verify().ok
