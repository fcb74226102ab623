"""The auditor's pin survives rotation, and `keys generate` refuses names and paths it cannot use."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from carbonguard.cli.main import main
from carbonguard.ledger import EXIT_INTACT, EXIT_UNTRUSTED_KEY, open_ledger
from carbonguard.ledger.keys import load_signer


def test_the_pin_named_at_key_generation_still_verifies_after_rotation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    key_dir = tmp_path / ".carbonguard"
    with open_ledger() as led:  # first write generates the key and names the file to pin
        led.append("policy", {"name": "team"})
    told = re.search(r"give (\S+) to your auditor", capsys.readouterr().err)
    assert told is not None
    pin = Path(told.group(1))
    first_id = load_signer(key_dir / "signing-key.pem").key_id
    assert main(["keys", "rotate"]) == 0
    out = capsys.readouterr().out
    assert f"auditors keep pinning the ledger's first key {first_id} ({pin})" in out
    with open_ledger() as led:
        led.append("policy", {"name": "team"})
        led.checkpoint()
    assert pin.exists()
    assert main(["audit", "verify", "--pubkey", str(pin)]) == EXIT_INTACT
    assert main(["keys", "rotate"]) == 0  # and after a second rotation
    assert main(["audit", "verify", "--pubkey", str(pin)]) == EXIT_INTACT
    # signing-key.pub always holds the current key, which is not the ledger's first key
    assert main(["audit", "verify", "--pubkey", str(key_dir / "signing-key.pub")]) == EXIT_UNTRUSTED_KEY


def test_keys_generate_names_the_pin_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["keys", "generate", "--out", str(tmp_path / "k")]) == 0
    signer = load_signer(tmp_path / "k" / "signing-key.pem")
    pin = tmp_path / "k" / f"pubkey-{signer.key_id[:16]}.pub"
    assert f"--pubkey {pin}" in capsys.readouterr().out
    assert pin.read_bytes() == (tmp_path / "k" / "signing-key.pub").read_bytes()


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../up", "x" * 65])
def test_keys_generate_refuses_unusable_names(name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["keys", "generate", "--out", str(tmp_path / "k"), "--name", name]) == 2
    assert "is not a key name" in capsys.readouterr().err
    assert not (tmp_path / "k").exists() or list((tmp_path / "k").iterdir()) == []


def test_keys_generate_out_naming_a_file_says_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    target = tmp_path / "afile"
    target.write_text("x")
    assert main(["keys", "generate", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "already exists" not in err and f"{target}: is a file; --out names the directory" in err


def _write() -> None:
    with open_ledger() as led:
        led.append("policy", {"name": "team"})


def _write_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A ledger written once under tmp_path with a generated default key: (key directory, its pin)."""
    monkeypatch.chdir(tmp_path)
    _write()
    key_dir = tmp_path / ".carbonguard"
    return key_dir, key_dir / f"pubkey-{load_signer(key_dir / 'signing-key.pem').key_id[:16]}.pub"


def test_a_key_generated_before_pin_files_gets_its_pin_on_next_use(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_dir, pin = _write_once(tmp_path, monkeypatch)
    pin.unlink()  # as an older carbonguard left it: no pin file
    _write()
    assert pin.read_bytes() == (key_dir / "signing-key.pub").read_bytes()
    assert main(["audit", "verify", "--pubkey", str(pin)]) == EXIT_INTACT


def test_an_existing_pin_file_is_never_overwritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, pin = _write_once(tmp_path, monkeypatch)
    pin.write_bytes(b"what the auditor keeps\n")
    _write()
    assert pin.read_bytes() == b"what the auditor keeps\n"


def test_a_pin_that_cannot_be_written_whole_is_not_left_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk while back-filling the pin: the write goes on without it, and no partial pin
    (which would never be overwritten) is left for an auditor to be sent to."""
    key_dir, pin = _write_once(tmp_path, monkeypatch)
    pin.unlink()

    def full_disk(self: Path, data: bytes) -> int:
        with open(self, "wb") as fh:
            fh.write(data[:10])
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(Path, "write_bytes", full_disk)
        with open_ledger() as led:
            led.append("policy", {"name": "team"})
    assert not pin.exists() and [p.name for p in key_dir.iterdir() if p.name.endswith(".tmp")] == []
    with open_ledger() as led:  # the next writer, with room, writes it whole
        led.append("policy", {"name": "team"})
    assert pin.read_bytes() == (key_dir / "signing-key.pub").read_bytes()
