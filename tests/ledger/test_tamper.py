"""Every kind of tampering is caught by `carbonguard audit verify`, with its own exit code and a
message naming the record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carbonguard.cli.main import main
from carbonguard.ledger import (
    EXIT_BAD_SIGNATURE,
    EXIT_DELETED,
    EXIT_EDITED,
    EXIT_REORDERED,
    EXIT_TRUNCATED,
    EXIT_UNTRUSTED_KEY,
    Signer,
    open_ledger,
)
from carbonguard.ledger.keys import write_key_pair

from .conftest import stage_record
from .tamper import raw, rewrite_from, rows


@pytest.fixture
def filled(ledger_url: str, key_file: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CARBONGUARD_SIGNING_KEY", str(key_file))  # the key the CLI writes with
    with open_ledger(ledger_url, signing_key=key_file, checkpoint_every=5) as led:
        for i in range(12):
            led.append("stage", stage_record(run_id=f"run-{i % 3}").model_dump(mode="json"))
    return ledger_url


def verify(url: str, *extra: str) -> int:
    return main(["audit", "verify", "--ledger", url, *extra])


def test_intact(filled: str, capsys: pytest.CaptureFixture) -> None:
    assert verify(filled) == 0
    captured = capsys.readouterr()
    assert "intact: 25 records, 12 signed checkpoints" in captured.out
    assert captured.err == ""  # stderr is not a terminal: no bar
    assert verify(filled, "--deep") == 0
    assert verify(filled, "--progress", "--workers", "2") == 0
    err = capsys.readouterr().err  # a bar on stderr, forced off a terminal: drawn once, plain
    assert err.startswith("verifying ") and "25/25 records" in err and "\x1b" not in err


def test_edited_payload(filled: str, capsys: pytest.CaptureFixture) -> None:
    row = rows(filled)[3]
    env = bytes(row[4])
    assert b'"energy_kwh":"1.25"' in env
    with raw(filled) as run:
        run("UPDATE records SET envelope = ? WHERE seq = 4",
            (env.replace(b'"energy_kwh":"1.25"', b'"energy_kwh":"0.25"'),))
    assert verify(filled) == EXIT_EDITED
    err = capsys.readouterr().err
    assert f"record seq 4 (id {json.loads(env)['record_id']})" in err and "edited" in err


def test_edited_index_column(filled: str, capsys: pytest.CaptureFixture) -> None:
    with raw(filled) as run:
        run("UPDATE records SET run_id = 'someone-else' WHERE seq = 4")
    assert verify(filled) == EXIT_EDITED
    assert "run_id column does not match" in capsys.readouterr().err


def test_deleted_record(filled: str, capsys: pytest.CaptureFixture) -> None:
    with raw(filled) as run:
        run("DELETE FROM records WHERE seq = 5")
    assert verify(filled) == EXIT_DELETED
    assert "record seq 5" in capsys.readouterr().err


def test_swapped_records(filled: str, capsys: pytest.CaptureFixture) -> None:
    with raw(filled) as run:
        run("UPDATE records SET seq = -1 WHERE seq = 3")
        run("UPDATE records SET seq = 3 WHERE seq = 4")
        run("UPDATE records SET seq = 4 WHERE seq = -1")
    assert verify(filled) == EXIT_REORDERED
    assert "record seq 3" in capsys.readouterr().err


def test_truncated_tail_against_exported_checkpoint(filled: str, key_file: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    cp = tmp_path / "checkpoint.json"
    assert main(["audit", "checkpoint", "--ledger", filled, "--out", str(cp)]) == 0
    with open_ledger(filled, signing_key=key_file) as led:  # appends after the export are fine
        led.append("stage", stage_record().model_dump(mode="json"))
    assert verify(filled, "--checkpoint", str(cp)) == 0
    with raw(filled) as run:
        run("DELETE FROM records WHERE seq > 11")  # seq 11 is a checkpoint: a clean cut
    capsys.readouterr()
    assert verify(filled) == 0  # without the kept checkpoint a cut back to a checkpoint is invisible
    assert verify(filled, "--checkpoint", str(cp)) == EXIT_TRUNCATED
    assert "truncated" in capsys.readouterr().err


def test_forged_signature_after_rewriting_history(filled: str, capsys: pytest.CaptureFixture) -> None:
    def lower(payload: dict) -> None:
        payload["components"][0]["energy_kwh"] = "0.01"

    rewrite_from(filled, 4, lower, Signer.generate())
    assert verify(filled) == EXIT_BAD_SIGNATURE
    assert "record seq 5" in capsys.readouterr().err  # the first checkpoint after the rewrite


def test_pinned_public_key(filled: str, key_file: Path, tmp_path: Path) -> None:
    assert verify(filled, "--pubkey", str(key_file.with_suffix(".pub"))) == 0
    _, other = write_key_pair(Signer.generate(), tmp_path / "other")
    assert verify(filled, "--pubkey", str(other)) == EXIT_UNTRUSTED_KEY


def test_bad_inputs_exit_2(filled: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "cp.json"
    bad.write_text("{not json")
    assert verify(filled, "--checkpoint", str(bad)) == 2
    assert "cp.json:1" in capsys.readouterr().err
    assert verify(str(tmp_path / "missing.db")) == 2
    assert verify(filled, "--workers", "0") == 2
    with pytest.raises(SystemExit) as exc:
        main(["audit", "verify", "--bogus"])
    assert exc.value.code == 2


@pytest.mark.parametrize("tamper", ["intact", "edit", "delete-at-boundary", "swap-across-boundary", "forge",
                                    "truncate"])
def test_parallel_verification_agrees(tamper: str, ledger_url: str, key_file: Path, tmp_path: Path) -> None:
    """Three worker processes (ranges 1-8, 9-16, 17-25) reach the same verdict as one process."""
    with open_ledger(ledger_url, signing_key=key_file, checkpoint_every=5) as led:
        for i in range(12):
            led.append("stage", stage_record(run_id=f"run-{i % 3}").model_dump(mode="json"))
        cp = led.export_checkpoint(led.latest_checkpoint())
    with raw(ledger_url) as run:
        if tamper == "edit":
            env = run("SELECT envelope FROM records WHERE seq = 8")[0][0]
            run("UPDATE records SET envelope = ? WHERE seq = 8", (bytes(env).replace(b"host-a", b"host-b"),))
        elif tamper == "delete-at-boundary":
            run("DELETE FROM records WHERE seq = 9")
        elif tamper == "swap-across-boundary":
            run("UPDATE records SET seq = -1 WHERE seq = 16")
            run("UPDATE records SET seq = 16 WHERE seq = 17")
            run("UPDATE records SET seq = 17 WHERE seq = -1")
        elif tamper == "truncate":
            run("DELETE FROM records WHERE seq > 9")
    if tamper == "forge":
        rewrite_from(ledger_url, 4, lambda p: p.update(host="elsewhere"), Signer.generate())
    with open_ledger(ledger_url, create=False) as led:
        one = led.verify(workers=1, checkpoint=cp)
        three = led.verify(workers=3, checkpoint=cp)
    assert (three.exit_code, three.seq, three.record_id, three.records) == \
        (one.exit_code, one.seq, one.record_id, one.records)
    expected = {"intact": 0, "edit": EXIT_EDITED, "delete-at-boundary": EXIT_DELETED,
                "forge": EXIT_BAD_SIGNATURE, "swap-across-boundary": EXIT_REORDERED,
                "truncate": EXIT_TRUNCATED}[tamper]
    assert one.exit_code == expected, one.message


def test_an_envelope_rewritten_as_text_is_an_edit_not_a_crash(tmp_path) -> None:
    """SQLite's replace() on a blob column stores text: the verifier reports an edit (10), never 70."""
    from carbonguard.cli.main import main
    from carbonguard.ledger import open_ledger
    from tests.ledger import tamper
    from tests.ledger.conftest import stage_record

    url = str(tmp_path / "text.db")
    with open_ledger(url) as led:
        led.append("stage", stage_record().model_dump(mode="json"))
    with tamper.raw(url) as run:
        run("UPDATE records SET envelope = replace(envelope, X'7374616765', X'7374616765') WHERE seq = 1")
    assert main(["audit", "verify", "--ledger", url]) == 10
