"""The queries whose cost must not grow with the ledger use an index (not timed: the plans).

Measured in benchmarks/ledger.py: SQLite picked the `record_type` index for a run's stage records
(scanning every stage of every run), and PostgreSQL planned the one-trip append guard, once its
prepared statement went generic, as a sequential scan of the whole table on every append.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from carbonguard.ledger import Signer, open_ledger

from .conftest import PG_DSN, stage_record


def _fill(url: str, runs: int = 30, per_run: int = 20) -> None:
    with open_ledger(url, signing_key=Signer.generate()) as led, led.transaction() as tx:
        for i in range(runs * per_run):
            tx.append("stage", stage_record(run_id=f"run-{i % runs}").model_dump(mode="json"))


def test_sqlite_run_lookup_uses_the_run_index(tmp_path: Path) -> None:
    url = str(tmp_path / "ledger.db")
    _fill(url)
    with open_ledger(url, create=False) as led:
        plan = " ".join(r[3] for r in led.store._db.execute(
            "EXPLAIN QUERY PLAN SELECT seq FROM records WHERE run_id = ? AND record_type = ? ORDER BY seq",
            ("run-3", "stage")))
        assert "records_run_type_seq" in plan and "TEMP B-TREE" not in plan, plan
        assert len(led.records(run_id="run-3", record_type="stage")) == 20


def test_an_existing_sqlite_ledger_gets_the_run_index_when_opened_for_writing(tmp_path: Path) -> None:
    url = str(tmp_path / "ledger.db")
    _fill(url)
    db = sqlite3.connect(url)  # the layout before: an index on run_id alone
    db.execute("DROP INDEX records_run_type_seq")
    db.execute("CREATE INDEX records_run_id ON records (run_id)")
    db.commit()
    db.close()
    with open_ledger(url, create=False) as led:  # reading never changes the file
        names = {r[0] for r in led.store._db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "records_run_id" in names and "records_run_type_seq" not in names
    with open_ledger(url, signing_key=Signer.generate()) as led:
        names = {r[0] for r in led.store._db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "records_run_type_seq" in names and "records_run_id" not in names
    with open_ledger(url, create=False) as led:
        assert led.verify().ok
        assert len(led.records(run_id="run-3", record_type="stage")) == 20


def _pg_plan(conn, sql: str, params: tuple = ()) -> str:
    return "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, params))


@pytest.fixture
def pg_filled(pg_url: str):
    import psycopg

    _fill(pg_url)
    schema = pg_url.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"ANALYZE {schema}.records")
        # The generic plan is what a prepared statement runs after its first executions; it is the
        # one that was a sequential scan. Forcing it makes the test independent of that count.
        conn.execute("SET plan_cache_mode = force_generic_plan")
        yield pg_url, schema, conn


@pytest.mark.postgres
def test_postgres_append_guard_uses_the_primary_key(pg_filled) -> None:
    _, schema, conn = pg_filled
    records = f"{schema}.records"
    conn.execute(
        f"PREPARE guard (int8, text) AS SELECT 1 WHERE EXISTS (SELECT 1 FROM {records} WHERE seq = $1 - 1 "
        f"AND record_hash = $2) AND (SELECT max(seq) FROM {records}) = $1 - 1")
    plan = _pg_plan(conn, "EXECUTE guard (100000, 'x')")
    assert "Seq Scan" not in plan and "records_pkey" in plan, plan
    conn.execute(  # the guard before: confirms the cause this test guards against
        f"PREPARE old_guard (int8) AS SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM {records} WHERE seq >= $1)")
    assert "Seq Scan" in _pg_plan(conn, "EXECUTE old_guard (100000)")


@pytest.mark.postgres
def test_postgres_append_guard_statement_is_the_one_checked(pg_url: str) -> None:
    """The prepared guard really is the max(seq) form the plan test checks."""
    with open_ledger(pg_url, signing_key=Signer.generate()) as led:
        led.append("stage", stage_record().model_dump(mode="json"))
        led.append("stage", stage_record().model_dump(mode="json"))  # the one-trip path: prepared
        text = led.store._db.execute(
            "SELECT statement FROM pg_prepared_statements WHERE name = 'carbonguard_append'").fetchone()[0]
    assert "max(seq)" in text and "seq >= $1" not in text


@pytest.mark.postgres
def test_postgres_run_lookup_uses_the_run_index(pg_filled) -> None:
    _, schema, conn = pg_filled
    conn.execute(f"PREPARE lookup (text, text) AS SELECT seq FROM {schema}.records "
                 "WHERE run_id = $1 AND record_type = $2 ORDER BY seq")
    plan = _pg_plan(conn, "EXECUTE lookup ('run-3', 'stage')")
    assert "records_run_type_seq" in plan and "Seq Scan" not in plan, plan


@pytest.mark.postgres
def test_an_existing_postgres_ledger_gets_the_run_index_when_opened_for_writing(pg_url: str) -> None:
    import psycopg

    _fill(pg_url)
    schema = pg_url.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_DSN, autocommit=True) as conn:  # the layout before
        conn.execute(f"DROP INDEX {schema}.records_run_type_seq")
        conn.execute(f"CREATE INDEX records_run_id ON {schema}.records (run_id)")

        def indexes() -> set[str]:
            return {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (schema,))}

        with open_ledger(pg_url, create=False):
            assert "records_run_type_seq" not in indexes()
        with open_ledger(pg_url, signing_key=Signer.generate()):
            assert "records_run_type_seq" in indexes() and "records_run_id" not in indexes()
    with open_ledger(pg_url, create=False) as led:
        assert led.verify().ok
        assert len(led.records(run_id="run-3", record_type="stage")) == 20


def test_sqlite_span_outline_probes_indexes_only(tmp_path: Path) -> None:
    """A gate's outline of the ledger (head, last checkpoint, key records and their seals) must not
    read the table: it runs on every gate, whatever the ledger's size."""
    from carbonguard.ledger.store import OUTLINE_SQL

    url = str(tmp_path / "ledger.db")
    _fill(url)
    with open_ledger(url, create=False) as led:
        steps = [r[3] for r in led.store._db.execute("EXPLAIN QUERY PLAN " + OUTLINE_SQL.format(records="records"))]
        assert not [s for s in steps if s.startswith("SCAN") and "CONSTANT ROW" not in s], steps
        assert sum("SEARCH" in s for s in steps) == 4, steps


@pytest.mark.postgres
def test_postgres_span_outline_probes_indexes_only(pg_filled) -> None:
    from carbonguard.ledger.store import OUTLINE_SQL

    _, schema, conn = pg_filled
    plan = _pg_plan(conn, OUTLINE_SQL.format(records=f"{schema}.records"))
    assert "Seq Scan" not in plan and "records_pkey" in plan and "records_type_seq" in plan, plan


def test_first_seq_is_the_first_of_the_runs_seqs(ledger_url: str) -> None:
    """The span's start comes from `first_seq` (an index probe per run and type), not from every seq."""
    _fill(ledger_url)
    with open_ledger(ledger_url, create=False) as led:
        for runs, types in [(["run-3"], ["stage"]), (["run-7", "run-2"], ["stage", "subflow"]),
                            (["run-29", "nobody"], ["subflow", "stage"])]:
            assert led.first_seq(runs, types) == led.run_seqs(runs, types)[0]
        assert led.first_seq(["nobody"], ["stage"]) is None
        assert led.first_seq(["run-3"], ["subflow"]) is None


@pytest.mark.postgres
def test_postgres_first_seq_probes_the_run_index(pg_filled) -> None:
    from carbonguard.ledger.postgres_store import FIRST_SEQ_SQL

    _, schema, conn = pg_filled
    plan = _pg_plan(conn, FIRST_SEQ_SQL.format(records=f"{schema}.records"), (["run-3", "run-4"], ["stage"]))
    assert "records_run_type_seq" in plan and "Seq Scan on records" not in plan, plan
