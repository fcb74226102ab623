"""A gate's span verification reads one snapshot, whatever other writers commit meanwhile.

`Ledger.verify_span` reads the head, the last checkpoint, the key records with their seals and then
the rows. Read in separate statements, a commit by another writer between two of them made the
checkpoint read second lie beyond the head read first: the tail range came out empty or short, and
an intact ledger failed (11), or passed having checked no tail at all. Here another writer commits
after *every* statement the verifying connection runs, deterministically, on both stores.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from carbonguard.ledger import Ledger, Signer, open_ledger

from .conftest import stage_record


def _stage(run_id: str) -> dict:
    return stage_record(run_id=run_id).model_dump(mode="json")


class _WritesBetweenReads:
    """Stands in for a store's connection: after each statement it runs, another writer commits."""

    def __init__(self, conn: Any, write: Callable[[], None]) -> None:
        self._conn = conn
        self._write = write
        self.writes = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        cur = self._conn.execute(*args, **kwargs)
        self._write()
        self.writes += 1
        return cur

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _verify_with_writes_between(led: Ledger, first_seq: int | None, write: Callable[[], None]):
    head = led.store.head()[0]  # the span must reach at least this far
    proxy = _WritesBetweenReads(led.store._db, write)
    led.store._db = proxy
    try:
        result = led.verify_span(first_seq)
    finally:
        led.store._db = proxy._conn
    assert proxy.writes >= 2  # writes did land between the span's reads
    return head, result


@pytest.fixture
def ledger(ledger_url: str):
    signer = Signer.generate()
    with open_ledger(ledger_url, signing_key=signer, checkpoint_every=50) as led:
        with led.transaction() as tx:
            for i in range(120):
                tx.append("stage", _stage(f"before-{i % 3}"))
        first = led.append("stage", _stage("judged")).seq
        led.append("stage", _stage("judged"))
    return ledger_url, signer, first


def test_the_tail_check_is_not_fooled_by_appends_between_its_reads(ledger) -> None:
    url, signer, _ = ledger
    with open_ledger(url, signing_key=signer) as writer, open_ledger(url, create=False) as led:
        head, result = _verify_with_writes_between(led, None, lambda: writer.append("stage", _stage("other")))
        assert result.ok, result.message  # was: "missing (the index lists it, its row is gone)", 11
        assert result.head_seq >= head  # the tail was checked, not only the genesis key's seal
        assert writer.verify(workers=1).ok


def test_a_span_is_not_fooled_by_key_rotations_between_its_reads(ledger) -> None:
    url, signer, first = ledger
    with open_ledger(url, signing_key=signer) as writer, open_ledger(url, create=False) as led:

        def rotate_and_append() -> None:
            writer.rotate_key(Signer.generate())
            writer.add_key(Signer.generate().public_b64)
            writer.append("stage", _stage("other"))

        head, result = _verify_with_writes_between(led, first, rotate_and_append)
        assert result.ok, result.message
        assert result.head_seq >= head
        again = led.verify_span(first)  # and now with the rotations inside the span
        assert again.ok and again.head_seq > head, again.message
        assert led.verify(workers=1).ok


def test_spans_verified_in_a_loop_beside_a_writer_that_rotates_keys(ledger) -> None:
    """The same race left to the scheduler: a writer thread appends, enrols and rotates keys while
    spans are verified for a second; none may fail."""
    url, signer, first = ledger
    stop = threading.Event()
    failures: list[str] = []

    def write() -> None:
        with open_ledger(url, signing_key=signer) as writer:
            n = 0
            while not stop.is_set():
                n += 1
                if n % 7 == 0:
                    writer.rotate_key(Signer.generate())
                elif n % 11 == 0:
                    writer.add_key(Signer.generate().public_b64)
                else:
                    writer.append("stage", _stage("other"))

    thread = threading.Thread(target=write)
    thread.start()
    try:
        with open_ledger(url, create=False) as led:
            until, spans = time.monotonic() + 1.0, 0
            while time.monotonic() < until or spans < 5:
                for start in (None, first):
                    result = led.verify_span(start)
                    spans += 1
                    if not result.ok:
                        failures.append(f"verify_span({start}): {result.message}")
    finally:
        stop.set()
        thread.join()
    assert failures == []
