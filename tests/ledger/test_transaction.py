"""`with ledger.transaction() as tx:` commits several records and claims together, or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonguard.errors import InputError
from carbonguard.ledger import ClaimConflict, LedgerError, open_ledger

from .conftest import stage_record

HOUR = "2026-03-01T10:00:00Z"


def _decision(names: list[str]) -> dict:
    return {"run_id": "run-1", "policy_hash": "p" * 8, "policy_version": "1", "evaluated_record_hashes": names}


def test_records_and_claims_commit_together_under_one_seal(ledger_url: str, key_file: Path) -> None:
    with open_ledger(ledger_url, signing_key=key_file) as led:
        with led.transaction() as tx:
            stage = tx.append("stage", stage_record().model_dump(mode="json"))
            tx.append("decision", _decision([stage.record_hash]))  # names a record of this transaction
            tx.claim_certificates("fea", (1, 10), "run-1", "acme", HOUR, "DE", "0.5")
            with pytest.raises(ClaimConflict, match="run-1"):  # overlaps a claim of this same transaction
                tx.claim_certificates("fea", (5, 6), "run-2", "acme", HOUR, "DE", "0.1")
            tx.claim_certificates("fea", (11, 12), "run-1", "acme", HOUR, "DE", "0.1")
        kinds = [r.record_type for r in led.records()]
        assert kinds == ["key", "stage", "decision", "claim", "claim", "checkpoint"]
        assert led.verify().ok
        with pytest.raises(ClaimConflict):  # the claims are in the store's index, not only in the chain
            led.claim_certificates("fea", "12-20", "run-3", "acme", HOUR, "DE", "0.1")


@pytest.mark.parametrize("failure", ["bad-input", "exception", "claim-conflict"])
def test_a_failure_in_the_middle_leaves_nothing(failure: str, ledger_url: str, key_file: Path) -> None:
    with open_ledger(ledger_url, signing_key=key_file) as led:
        led.claim_certificates("fea", (100, 199), "run-0", "acme", HOUR, "DE", "0.5")
        before = [r.record_hash for r in led.records()]
        with pytest.raises((InputError, RuntimeError, ClaimConflict)), led.transaction() as tx:
            tx.append("stage", stage_record().model_dump(mode="json"))
            tx.claim_certificates("fea", (1, 10), "run-1", "acme", HOUR, "DE", "0.5")
            if failure == "bad-input":
                tx.append("decision", _decision(["0" * 64]))  # names a record the ledger lacks
            elif failure == "exception":
                raise RuntimeError("the caller failed half-way")
            else:
                tx.claim_certificates("fea", (150, 160), "run-1", "acme", HOUR, "DE", "0.5")
            tx.append("stage", stage_record(stage="never").model_dump(mode="json"))
        assert [r.record_hash for r in led.records()] == before
        assert led.verify().ok
        # the ledger keeps working, and the rolled-back claim is free again
        with led.transaction() as tx:
            tx.claim_certificates("fea", (1, 10), "run-1", "acme", HOUR, "DE", "0.5")
        assert led.verify().ok and len(led.records()) == len(before) + 2
    with open_ledger(ledger_url, signing_key=key_file) as again:  # and so does a fresh connection
        again.append("stage", stage_record().model_dump(mode="json"))
        assert again.verify().ok


def test_a_transaction_is_not_reentrant_and_ends_with_its_block(tmp_path: Path, key_file: Path) -> None:
    with open_ledger(tmp_path / "l.db", signing_key=key_file) as led:
        with led.transaction() as tx:
            with pytest.raises(LedgerError, match="write through tx"):
                led.append("stage", stage_record().model_dump(mode="json"))
            tx.append("stage", stage_record().model_dump(mode="json"))
        with pytest.raises(LedgerError, match="ended"):
            tx.append("stage", stage_record().model_dump(mode="json"))
        with led.transaction():
            pass  # an empty transaction writes nothing, not even a checkpoint
        assert [r.record_type for r in led.records()] == ["key", "stage", "checkpoint"]
