"""A writer keeps its replay of the key records between appends; it must notice when the ledger
under it no longer holds those key records (cut back to a restored backup, or replaced by another
ledger), and then replay them again rather than sign with a key that ledger never enrolled.

Found while chasing a gate that failed with 15 on a benchmark ledger: a benchmark writer with its
own key kept appending to a PostgreSQL schema another benchmark had just rebuilt under another
key (same schema name, genesis at seq 1 again), so every record it added failed verification.
"""

from __future__ import annotations

import pytest

from carbonguard.ledger import KeyNotEnrolled, Signer, open_ledger

from .conftest import stage_record
from .tamper import raw


def _stage(run_id: str = "run-1") -> dict:
    return stage_record(run_id=run_id).model_dump(mode="json")


def test_a_writer_refuses_to_sign_into_a_ledger_replaced_under_it(ledger_url: str) -> None:
    with open_ledger(ledger_url, signing_key=Signer.generate()) as writer:
        writer.append("stage", _stage())
        with raw(ledger_url) as run:  # the ledger is dropped ...
            run("DELETE FROM records")
        with open_ledger(ledger_url, signing_key=Signer.generate()) as other:  # ... and rebuilt
            other.append("stage", _stage("other"))  # genesis at seq 1 again, under another key
        with pytest.raises(KeyNotEnrolled):
            writer.append("stage", _stage())
    with open_ledger(ledger_url, create=False) as led:
        assert led.verify(workers=1).ok


def test_a_writer_forgets_a_rotation_the_restored_ledger_never_saw(ledger_url: str) -> None:
    first = Signer.generate()
    with open_ledger(ledger_url, signing_key=first) as writer:
        writer.append("stage", _stage())
        rotated_at = writer.rotate_key(Signer.generate()).seq
        writer.append("stage", _stage())
        with raw(ledger_url) as run:  # a backup from before the rotation is restored
            run("DELETE FROM records WHERE seq >= ?", (rotated_at,))
        with pytest.raises(KeyNotEnrolled):  # its new key is not enrolled there
            writer.append("stage", _stage())
    with open_ledger(ledger_url, signing_key=first) as writer:  # the key the backup trusts still writes
        writer.append("stage", _stage())
        assert writer.verify(workers=1).ok


def test_a_writer_forgets_its_enrolment_when_the_restored_ledger_grew_other_keys(ledger_url: str) -> None:
    """Cut back to before this writer's key was enrolled, then grown past it with another key:
    the last key record's seq is now beyond the writer's replay, yet its replay is not this
    ledger's, so the writer must replay from the start and be refused."""
    first, second = Signer.generate(), Signer.generate()
    with open_ledger(ledger_url, signing_key=first) as owner:
        owner.append("stage", _stage())
        enrolled_at = owner.add_key(second.public_b64).seq
    with open_ledger(ledger_url, signing_key=second) as writer:
        writer.append("stage", _stage())  # its replay ends at its own enrolment
        with raw(ledger_url) as run:  # a backup from before the enrolment is restored ...
            run("DELETE FROM records WHERE seq >= ?", (enrolled_at,))
        with open_ledger(ledger_url, signing_key=first) as owner:  # ... and grows another key past it
            for _ in range(3):
                owner.append("stage", _stage("other"))
            owner.add_key(Signer.generate().public_b64)
        with pytest.raises(KeyNotEnrolled):
            writer.append("stage", _stage())
    with open_ledger(ledger_url, create=False) as led:
        assert led.verify(workers=1).ok
