"""Export the ledger as JSON lines (what the standalone verifier reads) or CSV.

Why JSONL is canonical: each line is the RFC 8785 form of the hashed envelope plus its
`record_hash`, so an auditor can recompute every hash from the file with nothing but the standard
library and check signatures with `cryptography` (see tools/verify_ledger.py).
"""

from __future__ import annotations

import csv
import json
from typing import TYPE_CHECKING, TextIO

from carbonguard.ledger.canonical import canonical_bytes
from carbonguard.ledger.store import ENVELOPE, RECORD_HASH

if TYPE_CHECKING:
    from carbonguard.ledger.ledger import Ledger

CSV_COLUMNS = ("seq", "record_id", "record_type", "time", "producer", "key_id", "run_id",
               "prev_hash", "record_hash", "payload_json")


def write_jsonl(ledger: Ledger, out: TextIO) -> int:
    """One canonical JSON object per line, in sequence order; returns the number of records."""
    count = 0
    for row in ledger.store.scan():
        env = json.loads(bytes(row[ENVELOPE]))
        env["record_hash"] = row[RECORD_HASH]
        out.write(canonical_bytes(env, simple_keys=False).decode("utf-8") + "\n")
        count += 1
    return count


def write_csv(ledger: Ledger, out: TextIO) -> int:
    """Header columns plus the payload as canonical JSON text, for spreadsheets and BI tools."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in ledger.store.scan():
        env = json.loads(bytes(row[ENVELOPE]))
        payload = canonical_bytes(env["payload"], simple_keys=False).decode("utf-8")
        writer.writerow([env["seq"], env["record_id"], env["record_type"], env["time"], env["producer"],
                         env["key_id"], env["run_id"] or "", env["prev_hash"], row[RECORD_HASH], payload])
        count += 1
    return count
