"""Key generation, enrolment of a second writer, rotation, and what verify says about each."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonguard.cli.main import main
from carbonguard.ledger import EXIT_UNTRUSTED_KEY, KeyNotEnrolled, Signer, open_ledger
from carbonguard.ledger.keys import load_public_key, load_signer, write_key_pair

from .conftest import stage_record
from .tamper import raw


def test_keys_generate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["keys", "generate", "--out", str(tmp_path / "k")]) == 0
    private, public = tmp_path / "k" / "signing-key.pem", tmp_path / "k" / "signing-key.pub"
    assert (private.stat().st_mode & 0o777) == 0o600
    signer = load_signer(private)
    assert signer.key_id in capsys.readouterr().out
    assert load_public_key(public) == signer.public_b64 and len(signer.key_id) == 32
    assert main(["keys", "generate", "--out", str(tmp_path / "k")]) == 2  # never overwrites a key


def test_second_writer_must_be_enrolled(ledger_url: str, key_file: Path, tmp_path: Path) -> None:
    host_b = Signer.generate()
    with open_ledger(ledger_url, signing_key=key_file) as led:
        led.append("stage", stage_record().model_dump(mode="json"))
    with open_ledger(ledger_url, signing_key=host_b) as led_b, \
            pytest.raises(KeyNotEnrolled, match="keys add"):
        led_b.append("stage", stage_record().model_dump(mode="json"))
    _, pub_b = write_key_pair(host_b, tmp_path / "b")
    with open_ledger(ledger_url, signing_key=key_file) as led:
        led.add_key(load_public_key(pub_b))
    with open_ledger(ledger_url, signing_key=host_b) as led_b:
        led_b.append("stage", stage_record(run_id="from-b").model_dump(mode="json"))
        led_b.checkpoint()
        result = led_b.verify(pubkeys=[load_public_key(key_file.with_suffix(".pub"))])
        assert result.ok and len(result.key_ids) == 2


def test_rotation_retires_the_old_key(ledger_url: str, key_file: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("CARBONGUARD_SIGNING_KEY", str(key_file))
    with open_ledger(ledger_url) as led:
        led.append("stage", stage_record().model_dump(mode="json"))
    assert main(["keys", "rotate", "--ledger", ledger_url, "--out", str(tmp_path / "new")]) == 0
    assert "rotated" in capsys.readouterr().out
    new_key = next((tmp_path / "new").glob("*.pem"))
    with open_ledger(ledger_url) as led, pytest.raises(KeyNotEnrolled, match="rotated out"):
        led.append("stage", stage_record().model_dump(mode="json"))
    monkeypatch.setenv("CARBONGUARD_SIGNING_KEY", str(new_key))
    with open_ledger(ledger_url) as led:
        led.append("stage", stage_record().model_dump(mode="json"))
        led.checkpoint()
        assert led.verify().ok
    assert main(["keys", "list", "--ledger", ledger_url]) == 0
    listing = capsys.readouterr().out
    assert "retired (first key)" in listing and "active" in listing
    with raw(ledger_url) as run:  # genesis and rotation, both in the chain
        assert run("SELECT count(*) FROM records WHERE record_type = 'key'")[0][0] == 2


def test_rotate_default_key_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    with open_ledger() as led:
        led.append("policy", {"name": "team"})
    old_id = load_signer(tmp_path / ".carbonguard" / "signing-key.pem").key_id
    assert main(["keys", "rotate"]) == 0
    new = load_signer(tmp_path / ".carbonguard" / "signing-key.pem")
    assert new.key_id != old_id
    assert (tmp_path / ".carbonguard" / f"signing-key.retired-{old_id[:8]}.pem").exists()
    with open_ledger() as led:
        led.append("policy", {"name": "team"})
        led.checkpoint()
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0
    retired_pub = tmp_path / ".carbonguard" / f"signing-key.retired-{old_id[:8]}.pub"
    assert main(["audit", "verify", "--pubkey", str(retired_pub)]) == 0  # the first key is pinned
    new_pub = tmp_path / ".carbonguard" / "signing-key.pub"
    assert main(["audit", "verify", "--pubkey", str(new_pub)]) == EXIT_UNTRUSTED_KEY
