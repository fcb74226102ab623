"""The compliance ledger: hash-chained, signed, append-only, shared, verifiable, exportable.

    from carbonguard.ledger import open_ledger
    with open_ledger() as led:
        rec = led.append("stage", stage_record.model_dump(mode="json"))
        assert led.verify().ok

See docs/ledger.md for the record format, the exit codes of `carbonguard audit verify` and the
trade-offs of where signing keys live.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from carbonguard.ledger.claims import parse_certificate_range
from carbonguard.ledger.keys import Signer
from carbonguard.ledger.ledger import (
    DEFAULT_CHECKPOINT_EVERY,
    DEFAULT_LEDGER,
    LEDGER_ENV,
    KeyNotEnrolled,
    Ledger,
    Transaction,
    UnsealedHead,
    resolve_url,
)
from carbonguard.ledger.record import GENESIS_PREV_HASH, RECORD_TYPES, LedgerRecord
from carbonguard.ledger.store import ClaimConflict, LedgerError
from carbonguard.ledger.verify import (
    EXIT_BAD_SIGNATURE,
    EXIT_DELETED,
    EXIT_EDITED,
    EXIT_INTACT,
    EXIT_REORDERED,
    EXIT_TRUNCATED,
    EXIT_UNSIGNED,
    EXIT_UNTRUSTED_KEY,
    VerifyResult,
)

__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "DEFAULT_LEDGER",
    "EXIT_BAD_SIGNATURE",
    "EXIT_DELETED",
    "EXIT_EDITED",
    "EXIT_INTACT",
    "EXIT_REORDERED",
    "EXIT_TRUNCATED",
    "EXIT_UNSIGNED",
    "EXIT_UNTRUSTED_KEY",
    "GENESIS_PREV_HASH",
    "LEDGER_ENV",
    "RECORD_TYPES",
    "ClaimConflict",
    "KeyNotEnrolled",
    "Ledger",
    "LedgerError",
    "LedgerRecord",
    "Signer",
    "Transaction",
    "UnsealedHead",
    "VerifyResult",
    "open_ledger",
    "parse_certificate_range",
]


def open_ledger(
    url: str | os.PathLike[str] | None = None,
    *,
    signing_key: Path | str | Signer | None = None,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    create: bool = True,
) -> Ledger:
    """Open (and on first use create) a ledger.

    `url`: None -> `$CARBONGUARD_LEDGER` -> `.carbonguard/ledger.db` under the current directory;
    a plain path or `sqlite:///path` for SQLite; `postgresql://...` or `postgres://...` for a
    shared PostgreSQL ledger (add `?schema=NAME` to choose its schema, default `carbonguard`).
    `signing_key`: a Signer or PEM path; None -> `$CARBONGUARD_SIGNING_KEY` -> `signing-key.pem`
    beside a SQLite ledger (or under `.carbonguard/` for PostgreSQL), generated on first write.
    `create=False` refuses to create a ledger that does not exist (for readers and auditors).
    """
    from carbonguard.ledger.keys import load_signer

    target = resolve_url(None if url is None else os.fspath(url))
    try:
        scheme = urlsplit(target).scheme.lower()
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket: bad input, not a crash
        from carbonguard.errors import InputError, Problem

        raise InputError(Problem(f"not a ledger path or URL: {exc}", source="ledger URL")) from exc
    if scheme in ("postgresql", "postgres"):
        try:
            from carbonguard.ledger.postgres_store import PostgresStore
        except ImportError as exc:
            from carbonguard.errors import InputError

            raise InputError(f"a PostgreSQL ledger needs psycopg 3: pip install 'carbonguard[postgres]' "
                             f"({exc})") from exc

        store = PostgresStore(target, create=create)
        key_path = DEFAULT_LEDGER.parent / "signing-key.pem"
    else:
        from carbonguard.ledger.sqlite_store import SQLiteStore

        path = Path(target[len("sqlite:///"):]) if target.startswith("sqlite:///") else Path(target)
        store = SQLiteStore(path, create=create)
        key_path = path.parent / "signing-key.pem"
    signer = signing_key if isinstance(signing_key, Signer) else (
        load_signer(Path(signing_key)) if signing_key is not None else None)
    return Ledger(store, key_path=key_path, signer=signer, checkpoint_every=checkpoint_every, source=target)
