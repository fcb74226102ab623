"""Threads that create the same new SQLite ledger at once must all get in (WAL switch race)."""

from __future__ import annotations

import threading
from pathlib import Path

from carbonguard.ledger import open_ledger


def test_threads_creating_one_new_ledger_together_all_append(tmp_path: Path) -> None:
    for round_ in range(5):  # the race needs the file to be new, so try a few fresh files
        path = tmp_path / f"fresh-{round_}.db"
        barrier = threading.Barrier(6)
        errors: list[BaseException] = []

        def writer(i: int, path: Path = path, barrier: threading.Barrier = barrier,
                   errors: list[BaseException] = errors) -> None:
            try:
                barrier.wait()
                with open_ledger(str(path)) as ledger:
                    ledger.append("stage", {"run_id": "race", "stage": f"s{i}"})
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with open_ledger(str(path)) as ledger:
            assert len(ledger.records(record_type="stage")) == 6
            assert ledger.verify().ok
