"""What an attacker with write access to the store can do: bypass the append-only triggers
(drop them in SQLite; disable them as the table owner in PostgreSQL) and rewrite rows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from carbonguard.ledger import Signer
from carbonguard.ledger.keys import checkpoint_message
from carbonguard.ledger.record import Header, envelope_bytes, hash_bytes
from carbonguard.ledger.store import COLUMNS


@contextmanager
def raw(url: str):
    """A cursor-like `run(sql, params)` with triggers out of the way; `?` placeholders."""
    if url.startswith("postgres"):
        import psycopg

        parts = urlsplit(url)
        schema = dict(parse_qsl(parts.query))["schema"]
        with psycopg.connect(parts._replace(query="").geturl()) as conn:
            conn.execute(f"SET search_path TO {schema}")
            conn.execute("ALTER TABLE records DISABLE TRIGGER USER")

            def run(sql: str, params: tuple = ()) -> list[tuple]:
                with conn.transaction():  # a savepoint: a refused statement leaves the rest usable
                    cur = conn.execute(sql.replace("?", "%s"), params)
                    return cur.fetchall() if cur.description else []

            yield run
            conn.execute("ALTER TABLE records ENABLE TRIGGER USER")
    else:
        conn = sqlite3.connect(url, isolation_level=None)
        conn.execute("DROP TRIGGER IF EXISTS records_no_update")
        conn.execute("DROP TRIGGER IF EXISTS records_no_delete")
        conn.execute("BEGIN")

        def run(sql: str, params: tuple = ()) -> list[tuple]:
            return conn.execute(sql, params).fetchall()

        yield run
        conn.execute("COMMIT")
        conn.close()


def rows(url: str) -> list[tuple]:
    with raw(url) as run:
        return run("SELECT " + ", ".join(COLUMNS) + " FROM records ORDER BY seq")


def rewrite_from(url: str, seq: int, mutate: Callable[[dict[str, Any]], None], attacker: Signer) -> None:
    """Change record `seq`'s payload and re-chain every record after it, re-signing checkpoints
    with the attacker's key under the original key id: all hashes link, only signatures fail."""
    with raw(url) as run:
        all_rows = run("SELECT " + ", ".join(COLUMNS) + " FROM records WHERE seq >= ? ORDER BY seq", (seq,))
        prev = run("SELECT record_hash FROM records WHERE seq = ?", (seq - 1,))[0][0]
        for row in all_rows:
            env = json.loads(bytes(row[4]))
            if row[0] == seq:
                mutate(env["payload"])
            if env["record_type"] == "checkpoint":
                p = env["payload"]
                p["head_hash"] = prev
                p["signature"] = attacker.sign(checkpoint_message(p["size"], prev, p["time"], p["key_id"]))
            header = Header(env["seq"], env["record_id"], env["record_type"], env["time"], env["producer"],
                            env["key_id"], env["run_id"], prev)
            data = envelope_bytes(header, env["payload"], False)
            new_hash = hash_bytes(data)
            run("UPDATE records SET envelope = ?, record_hash = ? WHERE seq = ?", (data, new_hash, row[0]))
            prev = new_hash


def rebuild(url: str, transform: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """What an attacker without the key can do at most: take every envelope, change the list
    (drop, edit, add, reorder), then renumber, re-link and re-hash the whole chain and write it
    back. Signatures stay as they were (making new ones needs the key)."""
    with raw(url) as run:
        envs = [json.loads(bytes(r[4])) for r in run("SELECT " + ", ".join(COLUMNS) + " FROM records ORDER BY seq")]
        run("DELETE FROM records")
        prev = "0" * 64
        for seq, env in enumerate(transform(envs), 1):
            header = Header(seq, env["record_id"], env["record_type"], env["time"], env["producer"],
                            env["key_id"], env["run_id"], prev)
            data = envelope_bytes(header, env["payload"], False)
            prev = hash_bytes(data)
            run("INSERT INTO records VALUES (?, ?, ?, ?, ?)", (seq, env["record_type"], env["run_id"], prev, data))


def append_raw(url: str, record_type: str, payload: dict[str, Any], key_id: str) -> str:
    """Add one record at the end, correctly chained, as an attacker writing the store directly."""
    with raw(url) as run:
        seq, prev = run("SELECT seq, record_hash FROM records ORDER BY seq DESC LIMIT 1")[0]
        header = Header(seq + 1, "00000000-0000-4000-8000-000000000000", record_type,
                        "2026-03-01T12:00:00.000000Z", "carbonguard 0", key_id, payload.get("run_id"), prev)
        data = envelope_bytes(header, payload, False)
        run("INSERT INTO records VALUES (?, ?, ?, ?, ?)", (seq + 1, record_type, payload.get("run_id"),
                                                          hash_bytes(data), data))
        return hash_bytes(data)


def signed_checkpoint(url: str, signer: Signer) -> None:
    """Append a checkpoint of the current head signed by `signer` (a key the attacker holds)."""
    with raw(url) as run:
        seq, prev = run("SELECT seq, record_hash FROM records ORDER BY seq DESC LIMIT 1")[0]
    time = "2026-03-01T12:00:01.000000Z"
    append_raw(url, "checkpoint", {"size": seq, "head_hash": prev, "time": time, "key_id": signer.key_id,
                                   "signature": signer.sign(checkpoint_message(seq, prev, time, signer.key_id))},
               signer.key_id)
