"""PostgreSQL store: older ledgers gain the (record_type, seq) index; a failed one-trip append leaves nothing."""

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


def test_error_inside_one_trip_append_writes_nothing(pg_url: str, key_file: Path) -> None:
    # A database error in the pipelined append (here a trigger standing in for any server-side
    # refusal) must surface, leave nothing behind, and leave the connection usable.
    import psycopg

    from .conftest import PG_DSN

    schema = pg_url.split("schema=")[1]
    with open_ledger(pg_url, signing_key=key_file) as led:
        led.append("stage", {"run_id": "ok", "i": 0})  # the next append takes the one-trip path
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f"""CREATE FUNCTION {schema}.refuse_bad() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF NEW.run_id = 'bad' THEN RAISE EXCEPTION 'refused by test'; END IF; RETURN NEW; END $$""")
            conn.execute(f"CREATE TRIGGER refuse_bad BEFORE INSERT ON {schema}.records "
                         f"FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_bad()")
        before = led.verify().records
        with pytest.raises(psycopg.Error, match="refused by test"):
            led.append("stage", {"run_id": "bad", "i": 1})
        assert led.verify().records == before
        led.append("stage", {"run_id": "ok", "i": 2})
        result = led.verify()
        assert result.ok and result.records == before + 2  # the stage and the checkpoint sealing it
        assert [r.payload["i"] for r in led.records(run_id="ok")] == [0, 2]
