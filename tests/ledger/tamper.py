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
