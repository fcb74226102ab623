"""A pinned key must have written the ledger: an emptied or blank ledger does not pass with --pubkey."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from carbonguard.cli.main import main
from carbonguard.ledger import open_ledger

TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_ledger.py"


def test_an_empty_ledger_fails_against_a_pinned_key(tmp_path: Path, key_file: Path, capsys) -> None:
    url = str(tmp_path / "blank.db")
    open_ledger(url).close()  # schema only, no records: what an attacker swapping the file would leave
    pin = str(key_file.with_suffix(".pub"))
    assert main(["audit", "verify", "--ledger", url]) == 0  # nothing pinned: an empty ledger is intact
    assert main(["audit", "verify", "--ledger", url, "--pubkey", pin]) == 15
    assert "none of the pinned keys" in capsys.readouterr().err
    export = tmp_path / "blank.jsonl"
    export.write_text("")
    done = subprocess.run([sys.executable, str(TOOL), str(export), "--pubkey", pin], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 15, done.stderr


def test_standalone_verifier_names_the_bad_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"seq": 1}\n{not json\n')
    done = subprocess.run([sys.executable, str(TOOL), str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"{bad}:2: " in done.stderr
    assert len(TOOL.read_text().splitlines()) < 110  # the auditor's verifier stays short enough to read
