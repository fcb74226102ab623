"""Defences that no other test isolated: each test here fails when its defence is removed.

(The others are in test_guarantee.py: "relink-keeping-checkpoints" guards the check that a
checkpoint describes the records before it, "retired-key-writes-on" and
"append-under-unenrolled-key" the key checks, and every case runs the standalone verifier too.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from carbonguard.cli.main import main
from carbonguard.ledger import EXIT_BAD_SIGNATURE, EXIT_DELETED, EXIT_EDITED, Signer, open_ledger
from carbonguard.ledger.keys import load_signer, write_key_pair
from carbonguard.ledger.record import Header, envelope_frame, hash_bytes

from .conftest import PG_DSN, stage_record
from .tamper import append_raw, raw, rows, signed_checkpoint

TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_ledger.py"


def _fill(url: str, key: Path, appends: int = 5, every: int = 100) -> None:
    with open_ledger(url, signing_key=key, checkpoint_every=every) as led:
        for i in range(appends):
            led.append("stage", stage_record(run_id=f"run-{i % 2}").model_dump(mode="json"))


def test_an_edited_and_rehashed_record_breaks_the_next_link(ledger_url: str, key_file: Path,
                                                           tmp_path: Path) -> None:
    """Guards the prev_hash link check (ledger/verify.py and the standalone verifier): the record's
    own hash is right again, so only the link from the record after it tells."""
    _fill(ledger_url, key_file)
    env = bytes(rows(ledger_url)[3][4]).replace(b"host-a", b"host-b")  # seq 4, a stage
    with raw(ledger_url) as run:
        run("UPDATE records SET envelope = ?, record_hash = ? WHERE seq = 4", (env, hash_bytes(env)))
    with open_ledger(ledger_url, create=False) as led:
        result = led.verify()
    assert (result.exit_code, result.seq) == (EXIT_DELETED, 5), result.message
    export = tmp_path / "export.jsonl"
    assert main(["audit", "export", "--ledger", ledger_url, "--out", str(export)]) == 0
    tool = subprocess.run([sys.executable, str(TOOL), str(export)], capture_output=True, text=True, timeout=60)
    assert tool.returncode == EXIT_DELETED and "record seq 5" in tool.stderr, tool.stderr


def test_parallel_segments_must_link_to_each_other(ledger_url: str, key_file: Path) -> None:
    """Guards the link check between ranges verified by different workers: the re-hashed record
    is the last of the first range (1-8 of 25), so no worker sees both sides of the link."""
    led = open_ledger(ledger_url, signing_key=key_file, checkpoint_every=100)
    with led, led.transaction() as tx:  # one seal at the end: no checkpoint inside the ranges
        for i in range(23):
            tx.append("stage", stage_record(run_id=f"run-{i % 2}").model_dump(mode="json"))
    env = bytes(rows(ledger_url)[7][4]).replace(b"host-a", b"host-b")
    with raw(ledger_url) as run:
        run("UPDATE records SET envelope = ?, record_hash = ? WHERE seq = 8", (env, hash_bytes(env)))
    with open_ledger(ledger_url, create=False) as led:
        one, three = led.verify(workers=1), led.verify(workers=3)
    assert (one.exit_code, one.seq) == (EXIT_DELETED, 9), one.message
    assert (three.exit_code, three.seq) == (one.exit_code, one.seq), three.message


def test_deep_checks_that_bytes_are_canonical(tmp_path: Path) -> None:
    """Guards --deep's canonical-bytes check: a writer holding the key stores a record whose
    bytes are valid JSON, correctly hashed, linked and signed, but not RFC 8785 (a space)."""
    url = str(tmp_path / "ledger.db")
    key, _ = write_key_pair(Signer.generate(), tmp_path / "keys")
    signer = load_signer(key)
    _fill(url, key, appends=2)
    with raw(url) as run:
        seq, prev = run("SELECT seq, record_hash FROM records ORDER BY seq DESC LIMIT 1")[0]
        header = Header(seq + 1, "00000000-0000-4000-8000-000000000002", "stage", "2026-03-01T12:00:00.000000Z",
                        "carbonguard 0", signer.key_id, None, prev)
        prefix, tail = envelope_frame(header)
        env = prefix + b'{"stage": "fit"}' + tail
        run("INSERT INTO records VALUES (?, ?, ?, ?, ?)", (seq + 1, "stage", None, hash_bytes(env), env))
    signed_checkpoint(url, signer)
    with open_ledger(url, create=False) as led:
        assert led.verify().ok  # the fast path never parses a stage payload
        deep = led.verify(deep=True)
    assert deep.exit_code == EXIT_EDITED and "not canonical" in deep.message and deep.seq == seq + 1


@pytest.mark.postgres
@pytest.mark.parametrize("statement", ["UPDATE {s}.records SET run_id = 'x'", "DELETE FROM {s}.records",
                                       "TRUNCATE {s}.records CASCADE", "UPDATE {s}.claims SET run_id = 'x'",
                                       "DELETE FROM {s}.claims", "TRUNCATE {s}.claims CASCADE"])
def test_postgres_triggers_refuse_changes(statement: str, pg_url: str, key_file: Path) -> None:
    """Guards the append-only triggers: a role that may change rows still cannot, short of
    owning the tables and disabling the triggers."""
    import psycopg

    _fill(pg_url, key_file, appends=1)
    with open_ledger(pg_url, signing_key=key_file) as led:
        led.claim_certificates("fea", (1, 2), "run-1", "acme", "2026-03-01T10:00:00Z", "DE", "0.1")
    schema = pg_url.split("schema=")[1]
    with psycopg.connect(PG_DSN, autocommit=True) as conn, \
            pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        conn.execute(statement.format(s=schema))
    with open_ledger(pg_url, create=False) as led:
        assert led.verify().ok and len(led.records()) == 5


@pytest.mark.parametrize("edit", [False, True])
def test_one_record_segments_are_linked_too(edit: bool, tmp_path: Path, key_file: Path) -> None:
    """Three workers on three records: each range holds one record, whose link is judged only
    between ranges; an edit of the first record's unsigned envelope fields must still break it."""
    url = str(tmp_path / "ledger.db")
    _fill(url, key_file, appends=1)  # key, stage, checkpoint
    if edit:
        env = bytes(rows(url)[0][4]).replace(b'"producer":"carbonguard', b'"producer":"carbonguarD')
        with raw(url) as run:
            run("UPDATE records SET envelope = ?, record_hash = ? WHERE seq = 1", (env, hash_bytes(env)))
    with open_ledger(url, create=False) as led:
        one, three = led.verify(workers=1), led.verify(workers=3)
    assert (one.exit_code, one.seq) == ((EXIT_DELETED, 2) if edit else (0, None)), one.message
    assert (three.exit_code, three.seq, three.records) == (one.exit_code, one.seq, one.records), three.message


def test_a_key_record_naming_someone_elses_fingerprint_is_refused(tmp_path: Path) -> None:
    """Guards the key-record shape checks of both verifiers: even signed by the trusted key, a key
    record whose key id is not its public key's fingerprint enrols nothing."""
    from carbonguard.ledger.keys import key_message

    url = str(tmp_path / "ledger.db")
    key, _ = write_key_pair(Signer.generate(), tmp_path / "keys")
    signer = load_signer(key)
    _fill(url, key, appends=1)
    other, claimed_id = Signer.generate(), Signer.generate().key_id
    with raw(url) as run:
        prev = run("SELECT record_hash FROM records ORDER BY seq DESC LIMIT 1")[0][0]
    append_raw(url, "key", {"action": "add", "algorithm": "ed25519", "key_id": claimed_id,
                            "public_key": other.public_b64, "signed_by": signer.key_id,
                            "signature": signer.sign(key_message("add", claimed_id, other.public_b64,
                                                                 signer.key_id, prev))}, signer.key_id)
    signed_checkpoint(url, signer)
    with open_ledger(url, create=False) as led:
        assert led.verify().exit_code == EXIT_BAD_SIGNATURE
    export = tmp_path / "export.jsonl"
    assert main(["audit", "export", "--ledger", url, "--out", str(export)]) == 0
    tool = subprocess.run([sys.executable, str(TOOL), str(export)], capture_output=True, text=True, timeout=60)
    assert tool.returncode == EXIT_BAD_SIGNATURE, tool.stderr
