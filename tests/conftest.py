"""Shared fixtures. Tests never touch the user's ledger: each gets its own in a temp directory."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture(autouse=True)
def _isolated_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the default ledger and signing key into the test's temp dir."""
    ledger = tmp_path / "ledger" / "ledger.db"
    ledger.parent.mkdir()
    monkeypatch.setenv("CARBONGUARD_LEDGER", str(ledger))
    monkeypatch.delenv("CARBONGUARD_SIGNING_KEY", raising=False)
    return ledger
