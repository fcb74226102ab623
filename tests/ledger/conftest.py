"""Fixtures: a fresh ledger on each store (SQLite file, PostgreSQL schema), a fixed signing key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from carbonguard.ledger import Signer
from carbonguard.ledger.keys import write_key_pair
from carbonguard.models import ComponentEnergy, EnergyMethod, StageRecord

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def _pg_reason() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'carbonguard[postgres]')"
    try:
        psycopg.connect(PG_DSN, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at 127.0.0.1:5432 (user postgres, db test) is unreachable: {exc}"
    return None


PG_SKIP = _pg_reason()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARBONGUARD_LEDGER", raising=False)
    monkeypatch.delenv("CARBONGUARD_SIGNING_KEY", raising=False)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    private, _ = write_key_pair(Signer.generate(), tmp_path / "keys")
    return private


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL ledger URL in a schema of its own, dropped afterwards."""
    if PG_SKIP:
        pytest.skip(PG_SKIP)
    import psycopg

    schema = "cg_test_" + uuid.uuid4().hex[:12]
    yield f"{PG_DSN}?schema={schema}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "ledger.db")
    return request.getfixturevalue("pg_url")


def stage_record(run_id: str = "run-1", stage: str = "fit", energy_kwh: float = 1.25,
                 hour: int = 0) -> StageRecord:
    start = datetime(2026, 3, 1, hour, tzinfo=timezone.utc)
    return StageRecord(
        run_id=run_id, flow_name="train", stage=stage, start=start, end=start + timedelta(minutes=30),
        zone="DE", host="host-a", pid=4242,
        components=(
            ComponentEnergy(component="gpu", device="GPU-0", method=EnergyMethod.COUNTER,
                            energy_kwh=energy_kwh, source="nvml:total-energy-counter"),
            ComponentEnergy(component="cpu", device="process", method=EnergyMethod.ESTIMATED,
                            energy_kwh=0.1, uncertainty_kwh=0.05, source="process:tdp-share"),
        ),
    )
