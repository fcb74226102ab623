"""PostgreSQL: a ledger made before the (record_type, seq) index gets it on the next open."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonguard.ledger import open_ledger

pytestmark = pytest.mark.postgres


def test_missing_type_seq_index_is_added_on_open(pg_url: str, key_file: Path) -> None:
    import psycopg

    from .conftest import PG_DSN

    schema = pg_url.split("schema=")[1]
    with open_ledger(pg_url, signing_key=key_file) as led:
        led.append("stage", {"run_id": "r", "i": 0})
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"DROP INDEX {schema}.records_type_seq")
        with open_ledger(pg_url, signing_key=key_file) as led:
            led.append("stage", {"run_id": "r", "i": 1})
            assert led.verify().ok
        found = conn.execute("SELECT to_regclass(%s)", (f"{schema}.records_type_seq",)).fetchone()[0]
    assert found is not None
