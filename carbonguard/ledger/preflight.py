"""Check that this process could append to a ledger, before any work that needs recording starts.

A long training stage or command must not run for hours only to find, at the end, that its record
cannot be written (an unreadable signing key, or a key not enrolled in a shared ledger).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from carbonguard.ledger.keys import Signer
from carbonguard.ledger.ledger import KeyNotEnrolled, Ledger


def check_writable(ledger: Ledger) -> None:
    """Resolve the signing key and make sure the ledger trusts it; raises the error append would."""
    signer = ledger.signer
    ring = ledger.keyring()
    if ring.public and not ring.active(signer.key_id):  # an empty ring: this writer's key becomes genesis
        state = "was rotated out" if signer.key_id in ring.retired else "is not enrolled"
        raise KeyNotEnrolled(
            f"signing key {signer.key_id} ({signer.path or 'in memory'}) {state} in ledger {ledger.url}; "
            "enrol its public key with `carbonguard keys add --pubkey FILE` using an enrolled key, or set "
            "CARBONGUARD_SIGNING_KEY to an enrolled key"
        )


def open_checked_writable(url: str | os.PathLike[str] | None = None, *,
                          signing_key: Path | str | Signer | None = None) -> Ledger:
    """Open (creating if needed) a ledger this process can append to, or raise the error append would.

    For writers that do work before their first append (`@metered`, `carbonguard meter`): a bad
    URL, an unreadable key or a key the ledger does not trust fails before the work, not after.
    """
    from carbonguard.ledger import open_ledger

    ledger = open_ledger(url, signing_key=signing_key)
    try:
        check_writable(ledger)
    except BaseException:
        ledger.close()
        raise
    return ledger


_process_ledgers: dict[tuple[int, str | None], Ledger] = {}
_process_lock = threading.Lock()


def process_ledger(url: str | None = None) -> Ledger:
    """This process's open, checked, writable ledger for `url` (or $CARBONGUARD_LEDGER), opened once.

    Shared by every writer in a process (`@metered` in Prefect, `carbonguard.recording.metered`):
    keeping it open saves a connection, schema check and key load per stage, and keying on the pid
    gives a forked or spawned worker its own connection.
    """
    key = (os.getpid(), os.fspath(url) if url is not None else os.environ.get("CARBONGUARD_LEDGER"))
    with _process_lock:
        ledger = _process_ledgers.get(key)
        if ledger is None:
            ledger = _process_ledgers[key] = open_checked_writable(key[1])
        return ledger
