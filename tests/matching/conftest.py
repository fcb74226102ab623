"""Fixtures for matching tests: an isolated environment and a ledger signing key."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonguard.ledger import Signer
from carbonguard.ledger.keys import write_key_pair
from tests.ledger.conftest import ledger_url, pg_url  # noqa: F401  (one SQLite/PostgreSQL store fixture)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARBONGUARD_LEDGER", raising=False)
    monkeypatch.delenv("CARBONGUARD_SIGNING_KEY", raising=False)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    private, _ = write_key_pair(Signer.generate(), tmp_path / "keys")
    return private
