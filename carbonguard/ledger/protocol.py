"""What callers outside the ledger (assess, pipeline surfaces) may rely on: a typed protocol.

Why a Protocol rather than `Ledger` itself: `assess` needs a handful of operations (read a run's
records, verify, write several records in one transaction, claim certificates), and a test or a
future store can supply them without the rest of `Ledger`. `Ledger` satisfies it (tested).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from carbonguard.ledger.record import LedgerRecord
from carbonguard.ledger.verify import VerifiedRun, VerifyResult


@runtime_checkable
class LedgerWriter(Protocol):
    """Appends and claims; `Ledger` (one sealed transaction per call) and `Transaction` both are one."""

    def append(self, record_type: str, payload: Mapping[str, Any]) -> LedgerRecord: ...

    def claim_certificates(self, registry: str, certificate_range: tuple[int, int] | str, run_id: str,
                           beneficiary: str, hour: datetime | str, zone: str,
                           mwh: float | Decimal | str) -> LedgerRecord: ...


@runtime_checkable
class LedgerProtocol(LedgerWriter, Protocol):
    """A ledger as `assess` uses it: verify, read, and write in one transaction."""

    @property
    def url(self) -> str: ...

    def records(self, run_id: str | None = None, record_type: str | None = None) -> list[LedgerRecord]: ...

    def verify(self, *, checkpoint: dict[str, Any] | None = None, pubkeys: Iterable[str] = (),
               progress: Callable[[int, int | None], None] | None = None, deep: bool = False,
               workers: int | None = None) -> VerifyResult: ...

    def verify_span(self, first_seq: int | None, *, pubkeys: Iterable[str] = ()) -> VerifyResult: ...

    def payloads(self, run_id: str, record_type: str, parse: Callable[[bytes], Any]) -> list[tuple[int, str, Any]]: ...

    def verified_run_payloads(self, run_id: str, record_type: str, parse: Callable[[list[bytes]], list[Any]], *,
                              pubkeys: Iterable[str] = ()) -> VerifiedRun: ...

    def run_seqs(self, run_ids: Iterable[str], record_types: Iterable[str]) -> list[int]: ...

    def first_seq(self, run_ids: Iterable[str], record_types: Iterable[str]) -> int | None: ...

    def head_seq(self) -> int: ...

    def run_tree(self, run_id: str, through_seq: int | None = None) -> list[str]: ...

    def transaction(self) -> AbstractContextManager[LedgerWriter]: ...

    def close(self) -> None: ...
