"""PostgreSQL store: one ledger shared by writers on many hosts.

Why an advisory lock: each append reads the head and writes the next record; two hosts must never
extend the same head. `pg_advisory_xact_lock` taken first inside the transaction makes appends to
one ledger (one schema) strictly one after another, and is released by COMMIT or ROLLBACK, also
when a writer dies. The primary key on `seq` is a second line of defence. Triggers refuse UPDATE,
DELETE and TRUNCATE; certificate claims carry an exclusion constraint (btree_gist) so no range
can be claimed twice even by a writer that skips the lock.

Why appends usually take one round trip: a connection that wrote the head itself assumes it is
still the head and sends lock + guarded INSERT + commit together; the INSERT writes nothing if the
head moved, and the ledger then redoes the append on a head read under the lock (see `writing`).
"""

from __future__ import annotations

import hashlib
import re
import select
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from carbonguard.errors import InputError, Problem
from carbonguard.ledger.record import Header
from carbonguard.ledger.store import (
    COLUMNS,
    HEAD_SQL,
    OUTLINE_SQL,
    RANGE_BATCH_ROWS,
    LedgerError,
    Row,
    StaleHead,
    outline_of,
)

DEFAULT_SCHEMA = "carbonguard"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DDL_LOCK = 0x63617262_6F6E6764 - 2**63  # constant for schema creation, any schema: "carbongd"

_DDL = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.records (
    seq bigint PRIMARY KEY,
    record_type text NOT NULL,
    run_id text,
    record_hash text NOT NULL UNIQUE,
    envelope bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS records_run_type_seq ON {s}.records (run_id, record_type, seq);
CREATE INDEX IF NOT EXISTS records_type_seq ON {s}.records (record_type, seq);
CREATE OR REPLACE FUNCTION {s}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'carbonguard ledger is append-only: % refused on %', TG_OP, TG_TABLE_NAME; END $$;
CREATE OR REPLACE TRIGGER records_append_only BEFORE UPDATE OR DELETE ON {s}.records
    FOR EACH ROW EXECUTE FUNCTION {s}.refuse_change();
CREATE OR REPLACE TRIGGER records_no_truncate BEFORE TRUNCATE ON {s}.records
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.refuse_change();
"""

_CLAIMS = """
CREATE TABLE IF NOT EXISTS {s}.claims (
    registry text NOT NULL,
    certificates int8range NOT NULL,
    run_id text NOT NULL,
    record_seq bigint NOT NULL REFERENCES {s}.records (seq),
    {constraint}
);
CREATE OR REPLACE TRIGGER claims_append_only BEFORE UPDATE OR DELETE ON {s}.claims
    FOR EACH ROW EXECUTE FUNCTION {s}.refuse_change();
CREATE OR REPLACE TRIGGER claims_no_truncate BEFORE TRUNCATE ON {s}.claims
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.refuse_change();
"""
_EXCLUSION = "CONSTRAINT claims_no_overlap EXCLUDE USING gist (registry WITH =, certificates WITH &&)"
_NO_EXCLUSION = "CHECK (NOT isempty(certificates))"
_Head = tuple[int, str, int, "str | None"]  # see Store.head
_APPEND_FORMATS = [0, 0, 0, 0, 1, 0]  # parameters as text, but the envelope in binary (raw bytes)
# `first_seq`: one probe of the (run_id, record_type, seq) index per run and type
FIRST_SEQ_SQL = ("SELECT min(f) FROM unnest(%s::text[]) AS r(run_id), unnest(%s::text[]) AS t(record_type), "
                 "LATERAL (SELECT min(x.seq) AS f FROM {records} x WHERE x.run_id = r.run_id "
                 "AND x.record_type = t.record_type) AS m")
_SCAN_BATCH = 8192  # rows per batch of a full scan: about 8 MB
# Rows per chunk from the server: libpq hands a chunk over only when it holds all of it, so 8,192
# rows (8 MB) left this process idle while the server filled it; 512 keeps both busy (measured:
# 200,000 rows read and checked in 8.5 us of wall per row against 9.6 with 8,192, 9.7 with 128).
_SCAN_CHUNK = 512


def split_url(url: str) -> tuple[str, str]:
    """Take our `schema=` parameter out of a libpq URL (libpq refuses unknown parameters)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), DEFAULT_SCHEMA)
    if not _SCHEMA_NAME.match(schema):
        raise InputError(Problem(f"schema {schema!r} must be a lowercase SQL identifier",
                                 field_path="schema"))
    rest = urlencode([(k, v) for k, v in query if k != "schema"], quote_via=quote)  # libpq reads no "+"
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    return parts._replace(scheme=scheme, query=rest).geturl(), schema


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


class PostgresStore:
    # How `scan_batches` reads: "stream" (chunked rows), or the ways before it, "copy" (binary COPY)
    # and "cursor" (a server-side cursor), kept for an older libpq and the benchmark's comparison.
    scan_way = "stream"

    def __init__(self, url: str, *, create: bool = True) -> None:
        self._psycopg = psycopg
        dsn, self.schema = split_url(url)
        self._dsn = dsn
        self.description = _redact(url)
        # Per-ledger lock key: appends to different schemas never wait for each other.
        self._lock_key = int.from_bytes(hashlib.sha256(f"carbonguard:{self.schema}".encode()).digest()[:8],
                                        "big", signed=True)
        # JIT off for this session: every ledger query is an index probe or a streamed scan, and
        # PostgreSQL's estimates for a freshly bulk-loaded table priced the gate's outline query
        # above jit_above_cost, so a 0.05 ms probe spent 6 ms compiling (measured, 1,000,000 records).
        try:  # a URL libpq cannot parse is bad input (exit 2) like one it cannot connect to
            given = conninfo_to_dict(dsn).get("options") or ""
            self._options = f"{given} -c jit=off".strip()
            self._db = self._connect(autocommit=True)
        except psycopg.Error as exc:
            raise InputError(Problem(f"cannot connect to PostgreSQL: {exc}".strip(),
                                     source=self.description)) from exc
        self._pending: list[sql.Composable] | None = None  # inserts buffered until COMMIT
        self._rows: list[Row] = []  # the records this transaction writes
        self._begun = False
        # One round trip per append on a head this connection wrote itself (see `writing`);
        # False keeps the two-round-trip path (the benchmark compares both).
        self.optimistic = True
        self._known: _Head | None = None  # head after our last commit
        self._prepared = False  # the one-trip statements, prepared on this connection
        self.legacy_guard = False  # True: the append guard before (a sequential scan; benchmark only)
        self._assumed: _Head | None = None  # head this transaction assumes, unread
        self._read_head: _Head | None = None  # head this transaction read under lock
        self._fresh = False
        self._snapshot: str | None = None  # "pending": BEGIN goes out with the first read; "open"
        try:
            self._ensure_schema(create)
        except psycopg.Error as exc:
            self._db.close()
            raise InputError(Problem(f"cannot open ledger schema {self.schema}: {exc}".strip(),
                                     source=self.description)) from exc

    def _connect(self, *, autocommit: bool) -> Any:
        return self._psycopg.connect(self._dsn, autocommit=autocommit, connect_timeout=10, options=self._options)

    def _ensure_schema(self, create: bool) -> None:
        s = self.schema
        # One round trip on every open (a gate opens once): the tables and both indexes at once.
        have = self._db.execute("SELECT to_regclass(%s), to_regclass(%s), to_regclass(%s), to_regclass(%s)",
                                (f"{s}.records", f"{s}.claims", f"{s}.records_type_seq",
                                 f"{s}.records_run_type_seq")).fetchone()
        if have[0] is not None and have[1] is not None:
            if create and None in have[2:]:
                self._add_indexes()
            return
        if not create:
            raise InputError(Problem(f"no ledger in schema {s}", source=self.description))
        with self._db.transaction():
            # Concurrent first opens: one creates, the others wait and find it done.
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
            for statement in _statements(_DDL.format(s=s)):
                self._db.execute(statement)
            if self._db.execute("SELECT to_regclass(%s)", (f"{s}.claims",)).fetchone()[0] is None:
                try:
                    with self._db.transaction():
                        self._db.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
                        constraint = _EXCLUSION
                except self._psycopg.Error:
                    # Without the extension the advisory lock plus the check in the transaction
                    # still keep claims unique among carbonguard writers.
                    constraint = _NO_EXCLUSION
                for statement in _statements(_CLAIMS.format(s=s, constraint=constraint)):
                    self._db.execute(statement)

    def _add_indexes(self) -> None:
        """Ledgers created before the (record_type, seq) and (run_id, record_type, seq) indexes get
        them when an owner opens them for writing (the run index replaces the one on run_id alone);
        an insert-only role may not create them, and works without them (slower head and run reads)."""
        try:
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
                self._db.execute(f"CREATE INDEX IF NOT EXISTS records_type_seq ON {self.schema}.records "
                                 "(record_type, seq)")
                self._db.execute(f"CREATE INDEX IF NOT EXISTS records_run_type_seq ON {self.schema}.records "
                                 "(run_id, record_type, seq)")
                self._db.execute(f"DROP INDEX IF EXISTS {self.schema}.records_run_id")
        except self._psycopg.Error:
            pass

    @contextmanager
    def writing(self, fresh_head: bool = False) -> Iterator[None]:
        # Usually ONE round trip per append. After an append of its own this connection knows the
        # head, so `head()` answers without asking, and the lock and `INSERT ... WHERE <head is
        # still the one assumed>` travel together as one implicit transaction (`_commit_assumed`);
        # the server runs them in order, so the head is checked while the lock is held. If another
        # writer moved the head, the INSERT writes no row, nothing is committed and `StaleHead`
        # makes the ledger redo the append on a freshly read head. Otherwise (first append, after
        # a conflict, or when a read such as a claim check is needed) it is two round trips:
        # `BEGIN; lock; head` and the inserts with COMMIT, as SQL literals in the simple protocol.
        self._pending, self._rows = [], []
        self._begun = False
        self._assumed = self._read_head = None
        self._fresh = fresh_head  # a caller's block cannot be re-run after StaleHead: read under the lock
        try:
            yield
            if self._assumed is not None:
                self._commit_assumed()
            else:
                self._begin()
                self._pending.append(sql.SQL("COMMIT"))
                self._db.execute(sql.SQL("; ").join(self._pending))
                self._known = self._written_head(self._read_head)
        except BaseException as exc:
            self._known = None
            if self._db.info.transaction_status != self._psycopg.pq.TransactionStatus.IDLE:
                self._db.execute("ROLLBACK")
            if isinstance(exc, self._psycopg.errors.ExclusionViolation):
                raise LedgerError(f"certificate range already claimed (database constraint): {exc}") from exc
            raise
        finally:
            self._pending, self._rows, self._begun, self._assumed = None, [], False, None
            self._fresh = False

    def _commit_assumed(self) -> None:
        """Lock, insert only if the head is still `_assumed`, commit: one round trip.

        Why libpq's pipeline mode directly: the statements (lock, one guarded INSERT per row) are
        sent as Bind/Execute of statements prepared once per connection, with the envelope as a
        binary parameter, followed by one Sync; with no BEGIN they form one implicit transaction
        that the server commits (durably) at the Sync, and all answers come back together. Measured
        on a 2-core VM, psycopg's own pipeline API doing the same took 0.72 ms per append against
        0.39 ms here, most of it Python bookkeeping per statement; a multi-statement text (the
        simple protocol) was slower still, as the envelope travels as an escaped hex literal.
        """
        seq, record_hash = self._assumed[:2]
        if self._pending:  # only records are buffered while the head is assumed (claims begin first)
            raise LedgerError("internal: buffered statements on an assumed head")
        if not self._prepared:
            records = self._t("records")
            self._db.execute(f"PREPARE carbonguard_lock AS SELECT pg_advisory_xact_lock({self._lock_key})")
            # Each row checks the one before it: the first checks the assumed head. "Nothing lies
            # beyond it" is asked as max(seq), which every plan answers from the end of the primary
            # key; `NOT EXISTS (... WHERE seq >= $1)` was planned, once the prepared statement went
            # generic, as a sequential scan of the whole table on every append.
            self._db.execute(
                f"PREPARE carbonguard_append (int8, text, text, text, bytea, text) AS "
                f"INSERT INTO {records} SELECT $1, $2, $3, $4, $5 "
                f"WHERE EXISTS (SELECT 1 FROM {records} WHERE seq = $1 - 1 AND record_hash = $6) "
                + (f"AND NOT EXISTS (SELECT 1 FROM {records} WHERE seq >= $1)" if self.legacy_guard else
                   f"AND (SELECT max(seq) FROM {records}) = $1 - 1"))
            self._prepared = True
        pg = self._db.pgconn
        results = []
        try:
            pg.enter_pipeline_mode()
            pg.send_query_prepared(b"carbonguard_lock", None)
            prev = record_hash
            for row in self._rows:
                pg.send_query_prepared(
                    b"carbonguard_append",
                    [str(row[0]).encode(), row[1].encode(), None if row[2] is None else row[2].encode(),
                     row[3].encode(), row[4], prev.encode()],
                    param_formats=_APPEND_FORMATS)
                prev = row[3]
            pg.pipeline_sync()
            while pg.flush():  # the connection is non-blocking: wait until all is sent
                readable, _, _ = select.select([pg.socket], [pg.socket], [])
                if readable:  # let libpq take in what the server sent, so neither side stalls
                    pg.consume_input()
            while True:
                result = pg.get_result()
                if result is None:  # end of one statement's results
                    continue
                if result.status == self._psycopg.pq.ExecStatus.PIPELINE_SYNC:
                    break
                results.append(result)
            pg.exit_pipeline_mode()
        except BaseException:
            # Interrupted half-way: the connection's state is unknown. A fresh one is safe; the
            # server rolls back whatever the old one had not committed.
            self._reconnect()
            raise
        inserted = 0
        for result in results[1:]:
            if result.status == self._psycopg.pq.ExecStatus.FATAL_ERROR:
                raise self._psycopg.errors.error_from_result(result, encoding=self._db.info.encoding)
            inserted += result.command_tuples or 0
        if results and results[0].status == self._psycopg.pq.ExecStatus.FATAL_ERROR:
            raise self._psycopg.errors.error_from_result(results[0], encoding=self._db.info.encoding)
        if inserted != len(self._rows):
            raise StaleHead(f"another writer extended the ledger after seq {seq}; append retried")
        self._known = self._written_head(self._assumed)

    def _reconnect(self) -> None:
        try:
            self._db.close()
        finally:
            self._db = self._connect(autocommit=True)
            self._prepared = False
            self._known = None

    def _written_head(self, before: _Head | None) -> _Head | None:
        """The head after this transaction's rows: what the next append may assume."""
        if before is None and not self._rows:
            return None
        seq, record_hash, key_seq, key_hash = before or (0, "", 0, None)
        for row in self._rows:
            seq, record_hash = row[0], row[3]
            if row[1] == "key":
                key_seq, key_hash = row[0], row[3]
        return seq, record_hash, key_seq, key_hash

    def _begin(self, then: str | None = None) -> Any:
        """Send BEGIN and take the ledger's lock, with `then` in the same round trip.

        With an assumed head, the real head is read in the same round trip, and `StaleHead` is
        raised unless it is the assumed one; from then on the transaction holds the lock and
        works like one that read the head itself.
        """
        if self._begun:
            return self._db.execute(then) if then else None
        self._begun = True
        check = self._assumed is not None
        cur = self._db.execute(f"BEGIN; SELECT pg_advisory_xact_lock({self._lock_key})"
                               + (f"; {self._head_query}" if check else "") + (f"; {then}" if then else ""))
        cur.nextset()  # from BEGIN to the lock's row
        if check:
            cur.nextset()
            row = cur.fetchone()
            if row is None or tuple(row) != self._assumed:
                raise StaleHead(f"another writer extended the ledger after seq {self._assumed[0]}")
            self._read_head, self._assumed = self._assumed, None
            if self._rows:
                self._pending[:0] = [self._insert_sql(r) for r in self._rows]
        if then:
            cur.nextset()
        return cur

    def _t(self, name: str) -> str:
        return f"{self.schema}.{name}"

    @property
    def _head_query(self) -> str:
        # The key-record subqueries walk the (record_type, seq) index; without it PostgreSQL may
        # scan the primary key backwards through every record to find the last key record.
        return HEAD_SQL.format(records=self._t("records"))

    def head(self) -> tuple[int, str, int, str | None] | None:
        if self._writing and not self._begun and self.optimistic and not self._fresh and self._known is not None:
            self._assumed = self._known  # checked under the lock at commit (see `writing`)
            return self._known
        cur = self._begin(self._head_query) if self._writing else self._db.execute(self._head_query)
        row = cur.fetchone()
        head = None if row is None else (row[0], row[1], row[2], row[3])
        if self._writing:
            self._read_head = head
        return head

    def insert(self, header: Header, record_hash: str, envelope: bytes) -> None:
        row = (header.seq, header.record_type, header.run_id, record_hash, envelope)
        self._rows.append(row)
        if self._assumed is None:
            self._pending.append(self._insert_sql(row))

    def _insert_sql(self, row: Row) -> sql.Composable:
        return sql.SQL("INSERT INTO {} VALUES ({}, {}, {}, {}, {})").format(
            sql.Identifier(self.schema, "records"), *row)

    def _select(self) -> str:
        return "SELECT " + ", ".join(COLUMNS) + f" FROM {self._t('records')}"

    def rows_of_type(self, record_type: str, after_seq: int) -> list[Row]:
        self._begin_if_writing()
        return self._db.execute(self._select() + " WHERE record_type = %s AND seq > %s ORDER BY seq",
                                (record_type, after_seq)).fetchall()

    def hash_at(self, seq: int) -> str | None:
        self._begin_if_writing()
        row = self._db.execute(f"SELECT record_hash FROM {self._t('records')} WHERE seq = %s", (seq,)).fetchone()
        return None if row is None else row[0]

    def row_at(self, seq: int) -> Row | None:
        self._begin_if_writing()
        row = self._db.execute(self._select() + " WHERE seq = %s", (seq,), binary=True).fetchone()
        return None if row is None else tuple(row)

    def missing_hashes(self, hashes: Sequence[str]) -> list[str]:
        if not hashes:
            return []
        self._begin_if_writing()
        found = {r[0] for r in self._db.execute(
            f"SELECT record_hash FROM {self._t('records')} WHERE record_hash = ANY(%s)", (list(hashes),))}
        return [h for h in hashes if h not in found]

    def claim_overlap(self, registry: str, first: int, last: int) -> tuple[str, int, int] | None:
        self._begin_if_writing()
        row = self._db.execute(
            f"SELECT run_id, lower(certificates), upper(certificates) - 1 FROM {self._t('claims')} "
            "WHERE registry = %s AND certificates && int8range(%s, %s, '[]') LIMIT 1",
            (registry, first, last)).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def insert_claim(self, registry: str, first: int, last: int, run_id: str, seq: int) -> None:
        self._begin_if_writing()
        self._pending.append(sql.SQL("INSERT INTO {} VALUES ({}, int8range({}, {}, '[]'), {}, {})").format(
            sql.Identifier(self.schema, "claims"), registry, first, last, run_id, seq))

    def _begin_if_writing(self) -> None:
        if self._writing and not self._begun:
            self._begin()

    @property
    def _writing(self) -> bool:
        return self._pending is not None

    def select(self, run_id: str | None, record_type: str | None) -> list[Row]:
        where, params = [], []
        if run_id is not None:
            where.append("run_id = %s")
            params.append(run_id)
        if record_type is not None:
            where.append("record_type = %s")
            params.append(record_type)
        sql = self._select() + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        return self._db.execute(sql, params).fetchall()

    def scan(self, from_seq: int = 1) -> Iterator[Row]:
        for batch in self.scan_batches(from_seq):
            yield from batch

    def scan_batches(self, from_seq: int = 1, to_seq: int | None = None) -> Iterator[list[Row]]:
        """Rows in batches from one REPEATABLE READ snapshot, on a separate connection.

        Why a streamed query in chunks (libpq 17's chunked-rows mode): the verifier reads every
        row, and the server streams them while this process checks the ones already here, as with
        `COPY ... TO STDOUT`, but psycopg turns each chunk of rows into tuples in C, where binary
        COPY went through several Python calls per row. Measured side by side on the 2-core VM,
        reading 100,000 rows of the benchmark ledger took 2.1-2.3 CPU us per row against 4.3-6.3
        for binary COPY. Without chunked rows (an older libpq) it reads with binary COPY.
        """
        way = self.scan_way
        if way == "stream" and not _has_chunked_rows(self._psycopg):
            way = "copy"
        if way != "stream":
            yield from (self._scan_copy if way == "copy" else self._scan_cursor)(from_seq, to_seq)
            return
        conn = self._connect(autocommit=False)
        try:
            self._begin_scan(conn)
            yield from _batches(conn.cursor().stream(
                self._select() + " WHERE seq >= %s AND seq <= %s ORDER BY seq",
                (from_seq, 2**63 - 1 if to_seq is None else to_seq), binary=True, size=_SCAN_CHUNK))
            conn.rollback()
        finally:
            conn.close()

    @staticmethod
    def _begin_scan(conn: Any) -> None:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # Rows come in seq order straight off the primary key (the table is written in seq
        # order); with stale statistics the planner may otherwise pick a bitmap scan and sort
        # the whole range, which for a large ledger spills to disk.
        conn.execute("SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off")

    def _scan_copy(self, from_seq: int, to_seq: int | None) -> Iterator[list[Row]]:
        """Binary COPY (the way before chunked rows; kept where libpq lacks them, and for the benchmark).

        It read 200,000 rows at about 460,000 rows/s against about 225,000 with a server-side
        cursor's `fetchmany(8192)`: no fetch round trip per batch.
        """
        conn = self._connect(autocommit=False)
        try:
            self._begin_scan(conn)
            query = sql.SQL("COPY ({} WHERE seq >= {} AND seq <= {} ORDER BY seq) TO STDOUT (FORMAT binary)").format(
                sql.SQL(self._select()), from_seq, 2**63 - 1 if to_seq is None else to_seq)
            with conn.cursor().copy(query) as copy:
                copy.set_types(["int8", "text", "text", "text", "bytea"])  # the order of COLUMNS
                yield from _batches(copy.rows())
            conn.rollback()
        finally:
            conn.close()

    def _scan_cursor(self, from_seq: int, to_seq: int | None) -> Iterator[list[Row]]:
        """The previous way (a server-side cursor), kept for the benchmark's comparison."""
        conn = self._connect(autocommit=False)
        try:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            with conn.cursor(name="carbonguard_scan", binary=True) as cur:  # bytea as raw bytes
                cur.execute(self._select() + " WHERE seq >= %s AND seq <= %s ORDER BY seq",
                            (from_seq, 2**63 - 1 if to_seq is None else to_seq))
                while batch := cur.fetchmany(8192):
                    yield batch
            conn.rollback()
        finally:
            conn.close()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One REPEATABLE READ, READ ONLY transaction on this connection: every read inside sees
        one snapshot. Its BEGIN travels with the first read (one round trip, not two)."""
        if self._writing or self._snapshot is not None:
            yield
            return
        self._snapshot = "pending"
        try:
            yield
        finally:
            self._snapshot = None
            # Read only: nothing to keep. Also ends a transaction whose first read failed (its
            # BEGIN went with that read), which would otherwise leave this connection aborted.
            if self._db.info.transaction_status != self._psycopg.pq.TransactionStatus.IDLE:
                self._db.execute("ROLLBACK")

    def _snapshot_read(self, query: str) -> Any:
        """Execute `query` (no parameters); first the BEGIN of a pending snapshot, in the same trip."""
        if self._snapshot != "pending":
            return self._db.execute(query)
        cur = self._db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; " + query)
        self._snapshot = "open"
        cur.nextset()
        return cur

    def span_outline(self) -> tuple[int, int | None, list[tuple[int, int | None]]] | None:
        return outline_of(self._snapshot_read(OUTLINE_SQL.format(records=self._t("records"))).fetchall())

    def seqs(self, run_ids: Sequence[str], record_types: Sequence[str]) -> list[int]:
        """Sequence numbers of the records of these runs and types, from the run index alone."""
        return sorted(r[0] for r in self._db.execute(
            f"SELECT seq FROM {self._t('records')} WHERE run_id = ANY(%s) AND record_type = ANY(%s)",
            (list(run_ids), list(record_types))))

    def first_seq(self, run_ids: Sequence[str], record_types: Sequence[str]) -> int | None:
        return self._db.execute(FIRST_SEQ_SQL.format(records=self._t("records")),
                                (list(run_ids), list(record_types))).fetchone()[0]

    def run_hashes(self, run_ids: Sequence[str], record_type: str, through_seq: int) -> list[tuple[int, str, str]]:
        """`(seq, run_id, record_hash)` of these runs' records of one type up to `through_seq`."""
        self._begin_if_writing()
        return [(r[0], r[1], r[2]) for r in self._db.execute(
            f"SELECT seq, run_id, record_hash FROM {self._t('records')} WHERE run_id = ANY(%s) "
            "AND record_type = %s AND seq <= %s ORDER BY seq", (list(run_ids), record_type, through_seq))]

    def scan_ranges(self, ranges: Sequence[tuple[int, int]]) -> Iterator[tuple[int, list[Row]]]:
        """Rows of each inclusive range `(first, last)` in `(range index, batch)` pairs, from one
        snapshot (the caller's, inside `snapshot()`): one statement, a primary-key range scan per
        range, read in one round trip (so all held at once, unlike SQLite's)."""
        if not ranges:
            return
        with self.snapshot():
            if self._snapshot == "pending":
                self._snapshot_read("SELECT 1")
            query = " UNION ALL ".join(f"({self._select()} WHERE seq >= %s AND seq <= %s)" for _ in ranges)
            rows = self._db.execute(query + " ORDER BY seq", [v for r in ranges for v in r],
                                    binary=True).fetchall()
        i = 0
        for index, (_, last) in enumerate(ranges):
            j = i
            while j < len(rows) and rows[j][0] <= last:
                j += 1
            yield index, rows[i:min(j, i + RANGE_BATCH_ROWS)]
            for at in range(i + RANGE_BATCH_ROWS, j, RANGE_BATCH_ROWS):
                yield index, rows[at:min(j, at + RANGE_BATCH_ROWS)]
            i = j

    def count(self) -> int:
        return self._db.execute(f"SELECT count(*) FROM {self._t('records')}").fetchone()[0]

    def bulk_insert(self, rows: Sequence[Row]) -> None:
        with self.writing(), self._db.cursor().copy(
                f"COPY {self._t('records')} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def close(self) -> None:
        self._db.close()


def _has_chunked_rows(psycopg: Any) -> bool:
    """Whether `Cursor.stream(size=N)` works here: psycopg 3.2 or later, with libpq 17 or later."""
    capabilities = getattr(psycopg, "capabilities", None)
    return capabilities is not None and capabilities.has_stream_chunked()


def _batches(rows: Iterable[Row]) -> Iterator[list[Row]]:
    """Rows in lists of `_SCAN_BATCH`, what the verifier checks at a time."""
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == _SCAN_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _statements(script: str) -> list[str]:
    """Split DDL on `;` at line ends, keeping `$$ ... $$` function bodies whole."""
    out, buf, in_body = [], [], False
    for line in script.strip().splitlines():
        buf.append(line)
        if line.count("$$") % 2 == 1:
            in_body = not in_body
        if not in_body and line.rstrip().endswith(";"):
            out.append("\n".join(buf).strip())
            buf = []
    return out
