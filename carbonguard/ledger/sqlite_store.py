"""SQLite store: the default, one file, safe for many processes on one host.

Why these settings: WAL lets readers run beside the writer; `synchronous=FULL` makes each commit
durable before `append` returns; `BEGIN IMMEDIATE` takes the write lock before the head is read,
so two processes can never both extend the same head. Triggers refuse UPDATE and DELETE; a user
with write access to the file can still bypass them, which is what hashes and signatures catch.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from carbonguard.errors import InputError, Problem
from carbonguard.ledger.record import Header
from carbonguard.ledger.store import COLUMNS, HEAD_SQL, OUTLINE_SQL, RANGE_BATCH_ROWS, Row, outline_of

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    record_type TEXT NOT NULL,
    run_id TEXT,
    record_hash TEXT NOT NULL UNIQUE,
    envelope BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS records_run_type_seq ON records (run_id, record_type, seq);
DROP INDEX IF EXISTS records_run_id;
CREATE INDEX IF NOT EXISTS records_type ON records (record_type);
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'carbonguard ledger is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'carbonguard ledger is append-only: DELETE refused'); END;
CREATE TABLE IF NOT EXISTS claims (
    registry TEXT NOT NULL,
    first INTEGER NOT NULL,
    last INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    record_seq INTEGER NOT NULL REFERENCES records (seq),
    CHECK (first <= last)
);
CREATE INDEX IF NOT EXISTS claims_registry ON claims (registry, first);
CREATE TRIGGER IF NOT EXISTS claims_no_overlap BEFORE INSERT ON claims
WHEN EXISTS (SELECT 1 FROM claims WHERE registry = NEW.registry AND first <= NEW.last AND last >= NEW.first)
BEGIN SELECT RAISE(ABORT, 'certificate range already claimed'); END;
CREATE TRIGGER IF NOT EXISTS claims_no_update BEFORE UPDATE ON claims
BEGIN SELECT RAISE(ABORT, 'carbonguard claims are append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS claims_no_delete BEFORE DELETE ON claims
BEGIN SELECT RAISE(ABORT, 'carbonguard claims are append-only: DELETE refused'); END;
"""

# Scans read through a memory map of this size (the page cache, not read() copies); bounded, so a
# large ledger is not mapped whole into the reader's resident memory (2 GiB mapped it all before).
MMAP_BYTES = 64 * 2**20
_SELECT = "SELECT " + ", ".join(COLUMNS) + " FROM records"
_HEAD = HEAD_SQL.format(records="records")


def _enable_wal(db: sqlite3.Connection, attempts: int = 300) -> None:
    """Switch to WAL once. SQLite answers a journal-mode change with SQLITE_BUSY at once, without
    its busy handler, while another connection opens the same new file (threads or processes
    creating the ledger together), so the change is retried here with a short, bounded backoff.
    """
    for attempt in range(attempts):
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or attempt == attempts - 1:
                raise
            time.sleep(min(0.002 * (attempt + 1), 0.05))


class SQLiteStore:
    """`create=False` opens read-only (an auditor may have no write access at all): the file is
    opened with `mode=ro`, or, where even SQLite's shared-memory file cannot be created next to it
    (a read-only directory) and no writer has a WAL open, as `immutable`; a write transaction then
    reopens it read-write on first use (the gate reads, verifies, and only then records)."""

    def __init__(self, path: Path, *, create: bool = True, synchronous: str = "FULL") -> None:
        self.path = path
        self.description = f"sqlite:///{path}"
        self._synchronous = synchronous
        self.readonly = not create
        # The head after this connection's last commit and `PRAGMA data_version` then (see `head`).
        self._known: tuple[tuple[int, str, int, str | None], int] | None = None
        self._base: tuple[tuple[int, str, int, str | None] | None, int] | None = None  # this write's head
        self._written: list[tuple[int, str, str]] | None = None  # (seq, type, hash) this write inserts
        if not create and not path.is_file():
            raise InputError(Problem("no ledger here", source=str(path)))
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if create:
                self._db = self._connect_writable()
                _enable_wal(self._db)
                self._db.execute("BEGIN IMMEDIATE")
                for statement in _split(_SCHEMA):
                    self._db.execute(statement)
                self._db.execute("COMMIT")
            else:
                self._db = _connect_readonly(path)
                self._db.execute("SELECT 1 FROM records LIMIT 1")
        except sqlite3.DatabaseError as exc:
            raise InputError(Problem(f"not a carbonguard ledger: {exc}", source=str(path))) from exc

    def _connect_writable(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), isolation_level=None, timeout=60.0, check_same_thread=False)
        db.execute("PRAGMA busy_timeout = 60000")
        db.execute(f"PRAGMA synchronous = {self._synchronous}")
        return db

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction on this connection (WAL: one snapshot, taken at its first read)."""
        if self._db.in_transaction:  # a write transaction, or a snapshot already: consistent as it is
            yield
            return
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            if self._db.in_transaction:
                self._db.execute("COMMIT")  # nothing written: ends the read

    def span_outline(self) -> tuple[int, int | None, list[tuple[int, int | None]]] | None:
        return outline_of(self._db.execute(OUTLINE_SQL.format(records="records")).fetchall())

    def seqs(self, run_ids: Sequence[str], record_types: Sequence[str]) -> list[int]:
        """Sequence numbers of the records of these runs and types, from the run index alone."""
        out: list[int] = []
        for run_id in run_ids:
            for record_type in record_types:
                out += [r[0] for r in self._db.execute(
                    "SELECT seq FROM records WHERE run_id = ? AND record_type = ?", (run_id, record_type))]
        return sorted(out)

    def first_seq(self, run_ids: Sequence[str], record_types: Sequence[str]) -> int | None:
        firsts = [self._db.execute("SELECT min(seq) FROM records WHERE run_id = ? AND record_type = ?",
                                   (run_id, record_type)).fetchone()[0]
                  for run_id in run_ids for record_type in record_types]
        return min((s for s in firsts if s is not None), default=None)

    def run_hashes(self, run_ids: Sequence[str], record_type: str, through_seq: int) -> list[tuple[int, str, str]]:
        """`(seq, run_id, record_hash)` of these runs' records of one type up to `through_seq`."""
        out: list[tuple[int, str, str]] = []
        for run_id in run_ids:
            out += self._db.execute("SELECT seq, run_id, record_hash FROM records WHERE run_id = ? AND "
                                    "record_type = ? AND seq <= ?", (run_id, record_type, through_seq)).fetchall()
        return sorted(out)

    def scan_ranges(self, ranges: Sequence[tuple[int, int]]) -> Iterator[tuple[int, list[Row]]]:
        """Rows of each inclusive range `(first, last)` in `(range index, batch)` pairs, from one
        snapshot (the caller's, inside `snapshot()`): one primary-key range scan each."""
        with self.snapshot():
            for i, (first, last) in enumerate(ranges):
                cursor = self._db.execute(_SELECT + " WHERE seq >= ? AND seq <= ? ORDER BY seq", (first, last))
                batch = cursor.fetchmany(RANGE_BATCH_ROWS)
                yield i, batch
                while len(batch) == RANGE_BATCH_ROWS:
                    batch = cursor.fetchmany(RANGE_BATCH_ROWS)
                    if batch:
                        yield i, batch

    @contextmanager
    def writing(self, fresh_head: bool = False) -> Iterator[None]:
        """One write transaction under SQLite's write lock (`BEGIN IMMEDIATE`), so `head()` inside
        it is never stale (`fresh_head` is moot)."""
        if self.readonly:  # opened for reading: the first write reopens read-write
            self._db.close()
            self._db = self._connect_writable()
            self.readonly = False
            self._known = None
        self._db.execute("BEGIN IMMEDIATE")
        self._base, self._written = None, []
        try:
            yield
            # Known only when this transaction read the head before writing (as every Ledger write
            # does) and wrote every record through `insert`; anything else is read next time.
            known = None if self._base is None else (_written_head(self._base[0], self._written), self._base[1])
            self._known = None  # until the commit has succeeded
            self._db.execute("COMMIT")
            self._known = known
        except BaseException:
            self._known = None
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        finally:
            self._base = self._written = None

    def head(self) -> tuple[int, str, int, str | None] | None:
        """The head, read from the database; inside `writing()`, before anything is written, from
        this connection's last commit when no other connection has committed since.

        Why that is exact: the write lock is held from `BEGIN IMMEDIATE`, and `PRAGMA
        data_version` changes whenever another connection (in any process) has committed to the
        file since this connection's last look, and only then; so an unchanged value means the
        head is the one this connection wrote. It saves reading the head (three index probes)
        on every append.
        """
        if self._written is None or self._written:  # not writing, or reading our own rows too
            return self._read_head()
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if self._known is not None and self._known[1] == version:
            head: tuple[int, str, int, str | None] | None = self._known[0]
        else:
            head = self._read_head()
        self._base = (head, version)
        return head

    def _read_head(self) -> tuple[int, str, int, str | None] | None:
        row = self._db.execute(_HEAD).fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3])

    def insert(self, header: Header, record_hash: str, envelope: bytes) -> None:
        self._db.execute(
            "INSERT INTO records VALUES (?, ?, ?, ?, ?)",
            (header.seq, header.record_type, header.run_id, record_hash, envelope),
        )
        if self._written is not None:
            self._written.append((header.seq, header.record_type, record_hash))

    def rows_of_type(self, record_type: str, after_seq: int) -> list[Row]:
        return self._db.execute(_SELECT + " WHERE record_type = ? AND seq > ? ORDER BY seq",
                                (record_type, after_seq)).fetchall()

    def hash_at(self, seq: int) -> str | None:
        row = self._db.execute("SELECT record_hash FROM records WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else row[0]

    def row_at(self, seq: int) -> Row | None:
        return self._db.execute(_SELECT + " WHERE seq = ?", (seq,)).fetchone()

    def missing_hashes(self, hashes: Sequence[str]) -> list[str]:
        missing = []
        for h in hashes:
            if self._db.execute("SELECT 1 FROM records WHERE record_hash = ?", (h,)).fetchone() is None:
                missing.append(h)
        return missing

    def claim_overlap(self, registry: str, first: int, last: int) -> tuple[str, int, int] | None:
        row = self._db.execute(
            "SELECT run_id, first, last FROM claims WHERE registry = ? AND first <= ? AND last >= ? LIMIT 1",
            (registry, last, first),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def insert_claim(self, registry: str, first: int, last: int, run_id: str, seq: int) -> None:
        self._db.execute("INSERT INTO claims VALUES (?, ?, ?, ?, ?)", (registry, first, last, run_id, seq))

    def select(self, run_id: str | None, record_type: str | None) -> list[Row]:
        where, params = [], []
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        if record_type is not None:
            where.append("record_type = ?")
            params.append(record_type)
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        return self._db.execute(sql, params).fetchall()

    def scan(self, from_seq: int = 1) -> Iterator[Row]:
        for batch in self.scan_batches(from_seq):
            yield from batch

    def scan_batches(self, from_seq: int = 1, to_seq: int | None = None) -> Iterator[list[Row]]:
        # A separate connection, so a long scan never holds this one's transaction state.
        reader = _connect_readonly(self.path, check_same_thread=True)
        reader.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        try:
            reader.execute("BEGIN")  # one consistent snapshot for the whole scan
            cursor = reader.execute(_SELECT + " WHERE seq >= ? AND seq <= ? ORDER BY seq",
                                    (from_seq, 2**63 - 1 if to_seq is None else to_seq))
            while True:
                batch = cursor.fetchmany(4096)
                if not batch:
                    break
                yield batch
            reader.execute("COMMIT")
        finally:
            reader.close()

    def count(self) -> int:
        return self._db.execute("SELECT count(*) FROM records").fetchone()[0]

    def bulk_insert(self, rows: Sequence[Row]) -> None:
        with self.writing():
            self._db.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()


def _written_head(base: tuple[int, str, int, str | None] | None, rows: list[tuple[int, str, str]]
                  ) -> tuple[int, str, int, str | None] | None:
    """The head after `rows` (seq, type, hash) were written on `base` (see `Store.head`)."""
    if base is None and not rows:
        return None
    seq, record_hash, key_seq, key_hash = base or (0, "", 0, None)
    for row_seq, record_type, row_hash in rows:
        seq, record_hash = row_seq, row_hash
        if record_type == "key":
            key_seq, key_hash = row_seq, row_hash
    return seq, record_hash, key_seq, key_hash


def _connect_readonly(path: Path, *, check_same_thread: bool = False) -> sqlite3.Connection:
    """Open for reading only: never a journal-mode switch, never a write to the database file.

    SQLite reads a WAL database through its `-shm` file, which a reader creates if it is missing;
    in a directory the reader may not write, that fails ("attempt to write a readonly database").
    Then, if no `-wal` file exists (no writer has the ledger open), the file is opened `immutable`:
    read as it is, without locks, which is exact as long as nobody writes it meanwhile.
    """
    uri = "file:" + quote(str(path.resolve()), safe="/") + "?mode=ro"

    def connect(target: str) -> sqlite3.Connection:
        db = sqlite3.connect(target, uri=True, isolation_level=None, timeout=60.0,
                             check_same_thread=check_same_thread)
        db.execute("PRAGMA busy_timeout = 60000")
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the -shm file is opened here
        return db

    try:
        return connect(uri)
    except sqlite3.OperationalError as exc:
        if "readonly" not in str(exc) and "unable to open" not in str(exc):
            raise
        if Path(f"{path}-wal").exists():
            raise InputError(Problem(f"cannot read the ledger: {exc} (a writer has it open and this user "
                                     "may not create its shared-memory file beside it)", source=str(path))) from exc
        return connect(uri + "&immutable=1")


def _split(script: str) -> list[str]:
    """Split the schema into statements (triggers hold `;` inside BEGIN ... END)."""
    out, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        text = "\n".join(buf).strip()
        if text.endswith(";") and (not text.upper().startswith("CREATE TRIGGER") or text.endswith("END;")):
            out.append(text)
            buf = []
    return out
