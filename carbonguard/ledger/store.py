"""What a ledger store must do; SQLite and PostgreSQL implement it.

Why a store is so small: every rule about records lives in `Ledger` and `verify`, so a store only
serialises writers, keeps rows append-only and hands rows back in sequence order. A row is the
hashed envelope bytes plus the header fields as indexed columns; the columns are for queries and
are themselves checked against the bytes by the verifier.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from carbonguard.errors import CarbonguardError
from carbonguard.ledger.record import Header

# Row layout shared by every store, in this order.
COLUMNS = ("seq", "record_id", "record_type", "time", "producer", "key_id", "run_id",
           "prev_hash", "record_hash", "envelope")
Row = tuple[int, str, str, str, str, str, "str | None", str, str, bytes]


class LedgerError(CarbonguardError):
    """A ledger operation that cannot proceed (not bad user input, not tampering)."""


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

    def writing(self) -> AbstractContextManager[None]:
        """One transaction that no other writer, on any host, runs at the same time."""

    def head(self) -> tuple[int, str] | None: ...

    def insert(self, header: Header, record_hash: str, envelope: bytes) -> None: ...

    def rows_of_type(self, record_type: str, after_seq: int) -> list[Row]: ...

    def missing_hashes(self, hashes: Sequence[str]) -> list[str]: ...

    def claim_overlap(self, registry: str, first: int, last: int) -> tuple[str, int, int] | None: ...

    def insert_claim(self, registry: str, first: int, last: int, run_id: str, seq: int) -> None: ...

    def select(self, run_id: str | None, record_type: str | None) -> list[Row]: ...

    def scan(self, from_seq: int = 1) -> Iterator[Row]: ...

    def count(self) -> int: ...

    def bulk_insert(self, rows: Sequence[Row]) -> None: ...

    def close(self) -> None: ...
