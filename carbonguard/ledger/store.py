"""What a ledger store must do; SQLite and PostgreSQL implement it.

Why a store is so small: every rule about records lives in `Ledger` and `verify`, so a store only
serialises writers, keeps rows append-only and hands rows back in sequence order. A row is the
hashed envelope bytes plus the few header fields that queries need, as indexed columns; the
verifier checks those columns against the bytes. Every other field lives only in the bytes, so
there is nothing else to keep in step (and verification reads less).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from carbonguard.errors import CarbonguardError
from carbonguard.ledger.record import Header

# Row layout shared by every store, in this order.
COLUMNS = ("seq", "record_type", "run_id", "record_hash", "envelope")
RANGE_BATCH_ROWS = 4096  # rows per batch of `scan_ranges`
Row = tuple[int, str, "str | None", str, bytes]
SEQ, RECORD_TYPE, RUN_ID, RECORD_HASH, ENVELOPE = range(5)

# `Store.head`: the last record, and the last key record (seq and hash), from three index probes.
HEAD_SQL = ("SELECT seq, record_hash, "
            "(SELECT coalesce(max(seq), 0) FROM {records} WHERE record_type = 'key'), "
            "(SELECT record_hash FROM {records} WHERE record_type = 'key' ORDER BY seq DESC LIMIT 1) "
            "FROM {records} ORDER BY seq DESC LIMIT 1")

# `Store.span_outline`, one statement (so one snapshot) on both stores, every part an index probe:
# a row (0, head, last checkpoint), then (1, key seq, first checkpoint at or after it) per key record.
OUTLINE_SQL = """
SELECT 0, (SELECT max(seq) FROM {records}),
       (SELECT max(seq) FROM {records} WHERE record_type = 'checkpoint')
UNION ALL
SELECT 1, k.seq, (SELECT min(c.seq) FROM {records} c WHERE c.record_type = 'checkpoint' AND c.seq >= k.seq)
FROM {records} k WHERE k.record_type = 'key'
ORDER BY 1, 2
"""


def outline_of(rows: Sequence[tuple]) -> tuple[int, int | None, list[tuple[int, int | None]]] | None:
    """`span_outline`'s answer from `OUTLINE_SQL`'s rows."""
    _, head, tail = rows[0]
    return None if head is None else (head, tail, [(r[1], r[2]) for r in rows[1:]])


class LedgerError(CarbonguardError):
    """A ledger operation that cannot proceed (not bad user input, not tampering)."""


class StaleHead(LedgerError):
    """The head a store assumed for an append was no longer the head; nothing was written.

    A store may answer `head()` inside `writing()` from what it last wrote itself, without asking
    the database (see `PostgresStore`). If another writer extended the chain meanwhile, the store
    writes nothing and raises this, and `Ledger` runs the append again on a freshly read head.
    """


class ClaimConflict(LedgerError):
    """A certificate range overlaps one already claimed; names the run that holds it."""

    def __init__(self, registry: str, first: int, last: int, holder_run_id: str, holder_range: str) -> None:
        self.registry = registry
        self.first = first
        self.last = last
        self.holder_run_id = holder_run_id
        self.holder_range = holder_range
        super().__init__(
            f"certificates {first}-{last} of registry {registry!r} overlap {holder_range}, "
            f"already claimed by run {holder_run_id!r}"
        )


class Store(Protocol):
    description: str

    def writing(self, fresh_head: bool = False) -> AbstractContextManager[None]:
        """One transaction that no other writer, on any host, runs at the same time.

        `fresh_head=True`: `head()` reads the head under the lock (never `StaleHead`), for a
        transaction whose body is the caller's code and so cannot be run a second time.
        """

    def head(self) -> tuple[int, str, int, str | None] | None:
        """(seq, record_hash) of the last record, and the seq and record_hash of the last key record
        (0 and None if none): a writer replays the key records again when these are not the ones
        it replayed last.

        Inside `writing()` a store may return the head it last wrote itself without reading it; it
        then checks that head under its lock before any other read and at commit, and raises
        `StaleHead` (writing nothing) when another writer has moved it.
        """

    def insert(self, header: Header, record_hash: str, envelope: bytes) -> None: ...

    def rows_of_type(self, record_type: str, after_seq: int) -> list[Row]: ...

    def missing_hashes(self, hashes: Sequence[str]) -> list[str]: ...

    def claim_overlap(self, registry: str, first: int, last: int) -> tuple[str, int, int] | None: ...

    def insert_claim(self, registry: str, first: int, last: int, run_id: str, seq: int) -> None: ...

    def select(self, run_id: str | None, record_type: str | None) -> list[Row]: ...

    def scan(self, from_seq: int = 1) -> Iterator[Row]: ...

    def scan_batches(self, from_seq: int = 1, to_seq: int | None = None) -> Iterator[list[Row]]:
        """Rows `from_seq <= seq <= to_seq` in sequence order, in batches, from one snapshot."""

    def snapshot(self) -> AbstractContextManager[None]:
        """Reads inside see one snapshot of the ledger (a read transaction; nothing written by
        others meanwhile). Inside a write transaction, or another snapshot, it adds nothing."""

    def span_outline(self) -> tuple[int, int | None, list[tuple[int, int | None]]] | None:
        """In one statement: the head seq, the last checkpoint's seq, and each key record's seq with
        the first checkpoint at or after it (None where none); None for an empty ledger."""

    def seqs(self, run_ids: Sequence[str], record_types: Sequence[str]) -> list[int]: ...

    def first_seq(self, run_ids: Sequence[str], record_types: Sequence[str]) -> int | None:
        """The smallest of `seqs(...)` (None if there is none): one index probe per run and type,
        where `seqs` reads every entry (99,000 for a large run)."""

    def run_hashes(self, run_ids: Sequence[str], record_type: str, through_seq: int) -> list[tuple[int, str, str]]:
        """`(seq, run_id, record_hash)` of these runs' records of one type with `seq <= through_seq`,
        in sequence order, from the run index and hash column (no envelope is read)."""

    def hash_at(self, seq: int) -> str | None:
        """The record_hash column of record `seq` (None when there is none), one primary-key probe."""

    def row_at(self, seq: int) -> Row | None:
        """Record `seq`'s row (`COLUMNS`), one primary-key probe; inside `writing()`, under its lock."""

    def scan_ranges(self, ranges: Sequence[tuple[int, int]]) -> Iterator[tuple[int, list[Row]]]:
        """Rows of each sorted, disjoint, inclusive range as `(range index, batch)` pairs, in order,
        at least one (possibly empty) batch per range, from one snapshot (inside `snapshot()`, that
        one). In batches, so that a reader can let go of rows it has checked."""

    def count(self) -> int: ...

    def bulk_insert(self, rows: Sequence[Row]) -> None: ...

    def close(self) -> None: ...
