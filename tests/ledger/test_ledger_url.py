"""Ledger URLs: only the documented forms open a ledger; a mistyped URL creates nothing and says why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from carbonguard.errors import InputError
from carbonguard.ledger import open_ledger, resolve_url

REPO = Path(__file__).resolve().parents[2]
MISTYPED = ["postgresql+psycopg://u:secret@db/x", "mysql://db/x", "http://ledger.example/x", "sqlite://x",
            "sqlite:///", "file:///tmp/x.db"]


@pytest.mark.parametrize("url", MISTYPED)
def test_mistyped_url_is_refused_and_creates_nothing(url: str, tmp_path: Path, monkeypatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with pytest.raises(InputError) as err:
        open_ledger(url)
    text = str(err.value)
    assert "sqlite:///PATH" in text and "postgresql://" in text and "secret" not in text
    assert list(work.rglob("*")) == []


def test_mistyped_url_from_the_environment_names_the_variable(monkeypatch) -> None:
    monkeypatch.setenv("CARBONGUARD_LEDGER", "mysql://db/x")
    with pytest.raises(InputError, match=r"^\$CARBONGUARD_LEDGER: unsupported ledger URL"):
        resolve_url(None)


@pytest.mark.parametrize("url", ["ledger.db", "dir/ledger.db", "./a:b.db", "C:/ledgers/l.db", "sqlite:///l.db",
                                 "postgresql://localhost/test", "postgres://localhost/test",
                                 "POSTGRESQL://localhost/test"])
def test_documented_forms_are_accepted(url: str) -> None:
    assert resolve_url(url) == url


def test_cli_refuses_with_exit_2_and_one_line(tmp_path: Path) -> None:
    tmp_path = tmp_path / "work"
    tmp_path.mkdir()
    result = subprocess.run([sys.executable, "-m", "carbonguard", "audit", "verify", "--ledger", "mysql://db/x"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "unsupported ledger URL" in result.stderr
    assert list(tmp_path.rglob("*")) == []
