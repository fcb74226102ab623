"""PostgreSQL's full scan reads the same rows, of the same types, whichever way it reads them.

`audit verify` reads with a streamed query in chunks (libpq 17 or later); binary COPY stays where
libpq lacks chunked rows, and a server-side cursor was the way before both. Each must give the
verifier the same rows and so the same verdict, intact or tampered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonguard.ledger import EXIT_EDITED, open_ledger, postgres_store

from .conftest import stage_record
from .tamper import raw

WAYS = ("stream", "copy", "cursor")


def _scan(url: str, way: str, first: int = 1, last: int | None = None) -> list[tuple]:
    with open_ledger(url, create=False) as led:
        led.store.scan_way = way
        return [tuple(r) for batch in led.store.scan_batches(first, last) for r in batch]


def test_every_way_reads_the_same_rows_and_verdict(pg_url: str, key_file: Path) -> None:
    with open_ledger(pg_url, signing_key=key_file) as led, led.transaction() as tx:
        for i in range(40):
            tx.append("stage", stage_record(run_id=f"run-{i % 3}").model_dump(mode="json"))
    rows = {way: _scan(pg_url, way) for way in WAYS}
    assert rows["stream"] == rows["copy"] == rows["cursor"]
    assert [type(v) for v in rows["stream"][5]] == [int, str, str, str, bytes]
    assert rows["stream"][0][2] is None  # the key record has no run
    assert _scan(pg_url, "stream", 5, 9) == rows["copy"][4:9]
    with raw(pg_url) as run:
        run("UPDATE records SET run_id = 'elsewhere' WHERE seq = 7")
    for way in WAYS:
        with open_ledger(pg_url, create=False) as led:
            led.store.scan_way = way
            result = led.verify(workers=1)
        assert (result.exit_code, result.seq) == (EXIT_EDITED, 7), way


def test_without_chunked_rows_it_reads_with_copy(pg_url: str, key_file: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with open_ledger(pg_url, signing_key=key_file) as led:
        led.append("stage", stage_record().model_dump(mode="json"))
    used: list[str] = []
    copy = postgres_store.PostgresStore._scan_copy

    def spy(self, first, last):  # type: ignore[no-untyped-def]
        used.append("copy")
        yield from copy(self, first, last)

    monkeypatch.setattr(postgres_store.PostgresStore, "_scan_copy", spy)
    monkeypatch.setattr(postgres_store, "_has_chunked_rows", lambda psycopg: False)
    with open_ledger(pg_url, create=False) as led:
        assert led.verify(workers=1).ok
    assert used == ["copy"]
