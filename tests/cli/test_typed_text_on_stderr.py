"""What a user typed (a command, a path) and what a store or the OS says about it reaches the
terminal with its control characters as spaces, one line per message: a name holding an escape
sequence cannot clear the screen, and one holding a newline cannot start a CI workflow command
(`::error::`) at the start of a line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from carbonguard.cli.main import main

HOSTILE = "x\x1b[2J\n::error::owned"


def _clean(err: str) -> None:
    assert "\x1b" not in err and "\n::error::" not in err, err


def test_a_command_that_is_not_found(capsys: pytest.CaptureFixture) -> None:
    assert main(["meter", "--no-record", "--", HOSTILE]) == 127
    err = capsys.readouterr().err
    _clean(err)
    assert "command not found: x [2J ::error::owned" in err


def test_a_command_that_cannot_be_executed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    program = tmp_path / HOSTILE.replace("/", "_")
    program.write_bytes(b"\x7fELF not really")  # executable, but exec fails (exec format error)
    program.chmod(0o755)
    code = main(["meter", "--no-record", "--", str(program)])
    err = capsys.readouterr().err
    assert code in (126, 127), err
    _clean(err)
    assert "cannot execute" in err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names")
def test_key_paths_the_user_chose(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / HOSTILE
    assert main(["keys", "generate", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    _clean(printed)
    assert "x [2J ::error::owned" in printed and os.path.isdir(out)
    data = tmp_path / f"data{HOSTILE}.json"
    data.write_text("{}")
    assert main(["keys", "sign", "--key", str(out / "signing-key.pem"), str(data)]) == 0
    printed = capsys.readouterr().out
    _clean(printed)
    assert "signed " in printed and printed.count("\n") == 1


def test_an_export_written_to_a_path_the_user_chose(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from carbonguard.ledger import Signer, open_ledger

    url = str(tmp_path / "ledger.db")
    with open_ledger(url, signing_key=Signer.generate()) as led:
        led.append("policy", {"name": "p"})
    target = tmp_path / f"out{HOSTILE}.jsonl"
    assert main(["audit", "export", "--ledger", url, "--out", str(target)]) == 0
    err = capsys.readouterr().err
    _clean(err)
    assert "records written to" in err and err.count("\n") == 1


def test_a_path_the_os_refuses(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / f"no{HOSTILE}" / "ledger.jsonl"  # its folder does not exist
    url = str(tmp_path / "ledger.db")
    from carbonguard.ledger import Signer, open_ledger

    with open_ledger(url, signing_key=Signer.generate()) as led:
        led.append("policy", {"name": "p"})
    assert main(["audit", "export", "--ledger", url, "--out", str(missing)]) == 2
    err = capsys.readouterr().err
    _clean(err)
    assert err.startswith("carbonguard: ") and err.count("\n") == 1, err
