"""Would storing the seal in the record's own row make durable appends meet 2,000/s? Measured, not guessed.

    python benchmarks/append_one_row.py [--rows 1000000] [--appends 300] [--repeats 10]

A sealed append writes two rows today: the record and its checkpoint (the seal, a record of its own
in the chain). The format change considered instead keeps the seal's signature in a column of the
record's row, so an append writes one row. Before changing the format of every ledger and every
verifier, this measures what it would buy, on SQLite tables with the ledger's columns and indexes
(`records (seq, record_type, run_id, record_hash UNIQUE, envelope)`, the run and type indexes, one
more nullable column for the one-row way), filled with `--rows` rows of the ledger's sizes (records
of ~940 bytes, checkpoints of ~560), each way on its own copy of the file:

* two rows: the record and a checkpoint row holding the head hash and the signature;
* one row: the record with its signature in the extra column;
* the disk's ceiling: a durable commit of one tiny row into an empty table.

Each append hashes its bytes and signs (Ed25519) as an append does, then commits with
`synchronous=FULL` in WAL mode, after reading the head. Each run opens its file afresh (its WAL
grows from empty, as after every open of a ledger) in a child process; the ways are interleaved
(A B C A B C ...) so they meet the same load; medians and the median of per-round ratios are printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_SCHEMA = """
CREATE TABLE records (seq INTEGER PRIMARY KEY, record_type TEXT NOT NULL, run_id TEXT,
                      record_hash TEXT NOT NULL UNIQUE, envelope BLOB NOT NULL, seal BLOB);
CREATE INDEX records_run_type_seq ON records (run_id, record_type, seq);
CREATE INDEX records_type ON records (record_type);
"""
_INSERT = "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)"


def build(path: Path, rows: int) -> None:
    """A table of `rows` rows, alternating records and checkpoints as `append` leaves them."""
    db = sqlite3.connect(path)
    db.executescript(_SCHEMA)
    db.execute("PRAGMA journal_mode = WAL")
    batch = []
    for seq in range(1, rows + 1):
        checkpoint = seq % 2 == 0
        digest = hashlib.sha256(seq.to_bytes(8, "big")).hexdigest()
        batch.append((seq, "checkpoint" if checkpoint else "stage", None if checkpoint else f"run-{seq // 1000}",
                      digest, os.urandom(280 if checkpoint else 470).hex().encode(), None))
        if len(batch) == 50_000:
            db.executemany(_INSERT, batch)
            db.commit()
            batch = []
    db.executemany(_INSERT, batch)
    db.commit()
    db.close()


def child(path: str, way: str, count: int) -> float:
    """Appends per second over `count` durable appends the `way` writes them."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    if way == "ceiling":
        db.execute("CREATE TABLE IF NOT EXISTS bare (x INTEGER)")
    seq = db.execute("SELECT max(seq) FROM records").fetchone()[0] or 0
    payload = os.urandom(470).hex().encode()
    began = time.perf_counter()
    for i in range(count):
        db.execute("BEGIN IMMEDIATE")
        if way == "ceiling":
            db.execute("INSERT INTO bare VALUES (?)", (i,))
            db.execute("COMMIT")
            continue
        db.execute("SELECT seq, record_hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        envelope = payload + str(i).encode()
        digest = hashlib.sha256(envelope).hexdigest()
        signature = key.sign(digest.encode())
        seq += 1
        if way == "two-rows":
            db.execute(_INSERT, (seq, "stage", "run-x", digest, envelope, None))
            seal = b'{"head_hash":"' + digest.encode() + b'","signature":"' + signature.hex().encode() + b'"}'
            seq += 1
            db.execute(_INSERT, (seq, "checkpoint", None, hashlib.sha256(seal + payload[:200]).hexdigest(),
                                 seal + payload[:200], None))
        else:
            db.execute(_INSERT, (seq, "stage", "run-x", digest, envelope, signature))
        db.execute("COMMIT")
    rate = count / (time.perf_counter() - began)
    db.close()
    return rate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--appends", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], int(args.child[2]))))
        return 0
    ways = ("two-rows", "one-row", "ceiling")
    with tempfile.TemporaryDirectory(prefix="carbonguard-one-row-") as tmp:
        base = Path(tmp) / "base.db"
        began = time.perf_counter()
        build(base, args.rows)
        files = {way: Path(tmp) / f"{way}.db" for way in ways}
        for way, path in files.items():
            if way == "ceiling":
                sqlite3.connect(path).executescript(_SCHEMA)  # an empty table: the disk alone
            else:
                shutil.copyfile(base, path)
        base.unlink()
        print(f"built {args.rows:,} rows in {time.perf_counter() - began:.0f} s", file=sys.stderr)
        rates: dict[str, list[float]] = {way: [] for way in ways}
        for _ in range(args.repeats):
            for way in ways:
                out = subprocess.run([sys.executable, __file__, "--child", str(files[way]), way, str(args.appends)],
                                     capture_output=True, text=True, check=True)
                rates[way].append(float(out.stdout))
    print(f"medians of {args.repeats} runs of {args.appends:,} durable appends each, interleaved, at {args.rows:,} "
          f"rows; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'way':10} {'appends/s':>10} {'ratio to two-rows':>18}")
    for way, got in rates.items():
        ratio = statistics.median(a / b for a, b in zip(got, rates["two-rows"], strict=True))
        print(f"{way:10} {statistics.median(got):10,.0f} {ratio:18.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
