"""The ledger: append records to a hash chain, sign checkpoints, read and verify.

Why appends look like this: each append is one serialised store transaction that reads the head,
writes the record (and, when due, a signed checkpoint after it) and commits. Nothing else holds
state between appends, so many processes on many hosts extend one chain, and a writer killed at
any instant leaves either the whole transaction or none of it.
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from carbonguard import __version__
from carbonguard.errors import InputError, Problem
from carbonguard.ledger.canonical import normalise
from carbonguard.ledger.keyring import KeyRing
from carbonguard.ledger.keys import (
    Signer,
    checkpoint_message,
    key_id_of,
    key_message,
    resolve_signer,
    unb64,
)
from carbonguard.ledger.record import (
    GENESIS_PREV_HASH,
    RECORD_TYPES,
    Header,
    LedgerRecord,
    envelope_bytes,
    format_time,
    hash_bytes,
)
from carbonguard.ledger.store import ENVELOPE, RECORD_HASH, SEQ, ClaimConflict, LedgerError, StaleHead, Store
from carbonguard.ledger.verify import VerifyResult, combine, export_checkpoint, verify_rows

LEDGER_ENV = "CARBONGUARD_LEDGER"
DEFAULT_LEDGER = Path(".carbonguard") / "ledger.db"
DEFAULT_CHECKPOINT_EVERY = 100
PRODUCER = f"carbonguard {__version__}"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
# Written by the ledger itself, with signatures or registry checks, never through `append`.
_INTERNAL_TYPES = {"key": "rotate_key()/add_key()", "checkpoint": "checkpoint()",
                   "claim": "claim_certificates()"}
MAX_CERTIFICATE_ID = 2**63 - 2
_T = TypeVar("_T")
PARALLEL_MIN_RECORDS = 200_000  # below this, starting worker processes costs more than it saves


class KeyNotEnrolled(LedgerError):
    """The writer's signing key is not trusted by this ledger, so it may not write to it."""


class Ledger:
    """A hash-chained, signed, append-only record of stages, decisions, policies and claims.

    One `Ledger` object is safe to share between threads (appends take a lock); processes and
    hosts are serialised by the store.
    """

    def __init__(self, store: Store, *, key_path: Path, signer: Signer | None = None,
                 checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY, source: str | None = None) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.store = store
        self.source = source  # the URL it was opened with; verification workers reopen it
        self.key_path = key_path
        self.checkpoint_every = checkpoint_every
        self._signer = signer
        self._ring = KeyRing()
        self._ring_seq = 0
        self._lock = threading.RLock()  # one store connection: one thread at a time uses it

    # -- context management ---------------------------------------------------------------
    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    @property
    def url(self) -> str:
        return self.store.description

    @property
    def signer(self) -> Signer:
        """The writer's key, resolved on first need (see `keys.resolve_signer`)."""
        if self._signer is None:
            self._signer = resolve_signer(self.key_path)
        return self._signer

    # -- writing ----------------------------------------------------------------------------
    def append(self, record_type: str, payload: Mapping[str, Any]) -> LedgerRecord:
        """Append one record; floats become decimal strings; decisions must name policy and inputs."""
        if record_type in _INTERNAL_TYPES:
            raise InputError(Problem(f"{record_type!r} records are written by Ledger."
                                     f"{_INTERNAL_TYPES[record_type]}, not append()",
                                     field_path="record_type"))
        if record_type not in RECORD_TYPES:
            raise InputError(Problem(f"unknown record type {record_type!r}; expected one of "
                                     + ", ".join(t for t in RECORD_TYPES if t not in _INTERNAL_TYPES),
                                     field_path="record_type"))
        value, simple = self._prepare(payload)
        if record_type == "decision":
            _check_decision(value)

        def body() -> LedgerRecord:
            head = self._prepare_write()
            if record_type == "decision":
                missing = self.store.missing_hashes(value["evaluated_record_hashes"])
                if missing:
                    raise InputError(Problem(f"names records this ledger does not hold: {', '.join(missing)}",
                                             field_path="payload.evaluated_record_hashes"))
            record, head = self._write(head, record_type, value, simple)
            if record_type == "decision" or record.seq % self.checkpoint_every == 0:
                self._write_checkpoint(head)
            return record

        return self._transaction(body)

    def _transaction(self, body: Callable[[], _T]) -> _T:
        """Run `body` in one store write transaction; again on a fresh head after `StaleHead`.

        A store may let `body` build on the head it last wrote itself and find out only at commit
        that another writer moved it (see `Store.head`); nothing was written then, and the second
        run reads the head under the store's lock, so it cannot be stale.
        """
        with self._lock:
            for attempt in range(3):
                ring_seq = self._ring_seq
                try:
                    with self.store.writing():
                        return body()
                except StaleHead:
                    if attempt == 2:
                        raise
                    if self._ring_seq != ring_seq:  # the ring took a key record that was not written
                        self._ring, self._ring_seq = KeyRing(), 0
        raise AssertionError("unreachable")

    def checkpoint(self) -> LedgerRecord:
        """Write a signed checkpoint of the current head now (e.g. before exporting it)."""
        return self._transaction(lambda: self._write_checkpoint(self._prepare_write())[0])

    def add_key(self, public_key_b64: str) -> LedgerRecord:
        """Enrol another writer's public key (e.g. a second host), signed by this writer's key."""
        return self._key_record("add", public_key_b64)

    def rotate_key(self, new_signer: Signer) -> LedgerRecord:
        """Replace this writer's key: the old key signs the new one and signs nothing afterwards."""
        record = self._key_record("rotate", new_signer.public_b64)
        self._signer = new_signer
        return record

    def claim_certificates(
        self,
        registry: str,
        certificate_range: tuple[int, int] | str,
        run_id: str,
        beneficiary: str,
        hour: datetime | str,
        zone: str,
        mwh: float | Decimal | str,
    ) -> LedgerRecord:
        """Record that `run_id` claims certificates `first..last` (inclusive) of `registry`.

        Raises `ClaimConflict` naming the holder when any certificate of the range is already
        claimed, by any run, on any host; the store enforces it inside the serialised transaction.
        """
        first, last = parse_certificate_range(certificate_range)
        for name, text in (("registry", registry), ("run_id", run_id), ("beneficiary", beneficiary),
                           ("zone", zone)):
            if not isinstance(text, str) or not text:
                raise InputError(Problem("must be a non-empty string", field_path=name))
        payload = {
            "kind": "claim",
            "registry": registry,
            "certificate_first": str(first),
            "certificate_last": str(last),
            "certificate_count": str(last - first + 1),
            "run_id": run_id,
            "beneficiary": beneficiary,
            "hour": _hour(hour),
            "zone": zone,
            "energy_mwh": _decimal(mwh, "mwh"),
        }
        value, simple = self._prepare(payload)

        def body() -> LedgerRecord:
            head = self._prepare_write()
            holder = self.store.claim_overlap(registry, first, last)
            if holder is not None:
                raise ClaimConflict(registry, first, last, holder[0], f"{holder[1]}-{holder[2]}")
            record, _ = self._write(head, "claim", value, simple)
            self.store.insert_claim(registry, first, last, run_id, record.seq)
            return record

        return self._transaction(body)

    # -- reading ----------------------------------------------------------------------------
    def records(self, run_id: str | None = None, record_type: str | None = None) -> list[LedgerRecord]:
        """Records in sequence order, parsed from their hashed bytes (not from index columns)."""
        with self._lock:
            rows = self.store.select(run_id, record_type)
        return [LedgerRecord.from_envelope(bytes(row[ENVELOPE]), row[RECORD_HASH]) for row in rows]

    def latest_checkpoint(self) -> LedgerRecord | None:
        with self._lock:
            rows = self.store.select(None, "checkpoint")
        return LedgerRecord.from_envelope(bytes(rows[-1][ENVELOPE]), rows[-1][RECORD_HASH]) if rows else None

    def keyring(self) -> KeyRing:
        """The keys this ledger trusts now, replayed from its key records."""
        ring = KeyRing()
        with self._lock:
            rows = self.store.select(None, "key")
        for row in rows:
            env = json.loads(bytes(row[ENVELOPE]))
            ring.apply(env["payload"], env["key_id"], env["prev_hash"])
        return ring

    def export_checkpoint(self, record: LedgerRecord) -> dict[str, Any]:
        """A checkpoint record in the portable form an auditor keeps outside the ledger."""
        public = self.keyring().public.get(record.payload["key_id"])
        if public is None:
            raise LedgerError(f"checkpoint key {record.payload['key_id']} is not enrolled in this ledger")
        return export_checkpoint(record.payload, public, record.seq, record.record_id)

    def verify(
        self,
        *,
        checkpoint: dict[str, Any] | None = None,
        pubkeys: Iterable[str] = (),
        progress: Callable[[int, int | None], None] | None = None,
        deep: bool = False,
        workers: int | None = None,
    ) -> VerifyResult:
        """Verify the whole ledger (see `carbonguard.ledger.verify` for what is checked).

        `checkpoint` is an exported checkpoint kept elsewhere (detects a truncated tail);
        `pubkeys` are base64 raw Ed25519 public keys pinned out of band (the first key must be one).
        `workers`: processes that check ranges of records side by side (hashing is the cost);
        None means one per CPU, up to 4, for ledgers of `PARALLEL_MIN_RECORDS` or more.
        """
        with self._lock:
            head = self.store.head()
            total = self.store.count() if progress is not None else None
        last = head[0] if head else 0
        if workers is None:
            workers = min(os.cpu_count() or 1, 4) if last >= PARALLEL_MIN_RECORDS else 1
        workers = max(1, min(workers, last))
        if workers == 1 or self.source is None:
            return verify_rows(self.store.scan_batches(), total=total, checkpoint=checkpoint,
                               pubkeys=pubkeys, progress=progress, deep=deep, locate_seq=self._locate_seq)
        return self._verify_parallel(last, workers, checkpoint, pubkeys, progress, deep)

    def _verify_parallel(self, last: int, workers: int, checkpoint: dict[str, Any] | None,
                         pubkeys: Iterable[str], progress: Callable[[int, int | None], None] | None,
                         deep: bool) -> VerifyResult:
        """Split 1..last into contiguous ranges (the last one open-ended, for records appended
        meanwhile), check each in its own process, then judge them in order with `combine`."""
        import pickle
        import subprocess
        import sys

        import carbonguard

        starts = [1 + last * i // workers for i in range(workers)]
        ranges = [(a, starts[i + 1] - 1 if i + 1 < workers else None) for i, a in enumerate(starts)]
        want = checkpoint["size"] if checkpoint else None
        root = str(Path(carbonguard.__file__).resolve().parents[1])
        env = {**os.environ,
               "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        procs = []
        try:
            for a, b in ranges:
                proc = subprocess.Popen([sys.executable, "-m", "carbonguard.ledger.worker"], env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                procs.append(proc)
                assert proc.stdin is not None
                proc.stdin.write(pickle.dumps((self.source, a, b, deep, want)))
                proc.stdin.close()
            segments = []
            for proc in procs:
                assert proc.stdout is not None and proc.stderr is not None
                out = proc.stdout.read()  # workers run side by side; their output is read in order
                err = proc.stderr.read()
                proc.wait()
                if proc.returncode != 0:
                    lines = err.decode("utf-8", "replace").strip().splitlines()
                    raise LedgerError(f"a verification worker failed (exit code {proc.returncode}): "
                                      + (lines[-1] if lines else "no message"))
                segments.append(pickle.loads(out))  # our own child's output
                if progress is not None:
                    progress(segments[-1].last_seq, last)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        return combine(segments, checkpoint=checkpoint, pubkeys=pubkeys)

    def _locate_seq(self, seq: int) -> bool:
        for row in self.store.scan():
            try:
                if json.loads(bytes(row[ENVELOPE])).get("seq") == seq:
                    return True
            except ValueError:
                continue
        return False

    # -- internals --------------------------------------------------------------------------
    @staticmethod
    def _prepare(payload: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        if not isinstance(payload, Mapping):
            raise InputError(Problem(f"payload must be an object, not {type(payload).__name__}",
                                     field_path="payload"))
        value, simple = normalise(payload)
        run_id = value.get("run_id")
        if run_id is not None and (not isinstance(run_id, str) or not run_id):
            raise InputError(Problem("run_id must be a non-empty string", field_path="payload.run_id"))
        return value, simple

    def _prepare_write(self) -> tuple[int, str]:
        """Inside the write transaction: read the head, catch up on key records, enrol if new."""
        seq, head_hash, last_key_seq = self.store.head() or (0, GENESIS_PREV_HASH, 0)
        head = (seq, head_hash)
        if last_key_seq > self._ring_seq:  # another writer changed the keys since we last looked
            self._catch_up_keys()
        signer = self.signer
        if not self._ring.public:  # first writer of a new ledger: its key is the genesis key
            prev = head[1]
            payload = self._signed_key_payload("genesis", signer.key_id, signer.public_b64, prev)
            _, head = self._write_raw(head, "key", payload, True, signer.key_id)
            self._ring.apply(payload, signer.key_id, prev)
            self._ring_seq = head[0]
        elif not self._ring.active(signer.key_id) and not self._catch_up_keys(signer.key_id):
            state = "was rotated out" if signer.key_id in self._ring.retired else "is not enrolled"
            raise KeyNotEnrolled(
                f"signing key {signer.key_id} ({signer.path or 'in memory'}) {state} in ledger "
                f"{self.store.description}; enrol its public key with `carbonguard keys add --pubkey FILE` "
                f"using an enrolled key, or set CARBONGUARD_SIGNING_KEY to an enrolled key"
            )
        return head

    def _catch_up_keys(self, wanted: str | None = None) -> bool:
        """Apply key records after `_ring_seq`; True if `wanted` is an active key afterwards.

        Called before refusing a key too, since a store may have answered `head()` from its own
        last write (the read here then checks that head and raises `StaleHead` if it moved).
        """
        for row in self.store.rows_of_type("key", self._ring_seq):
            env = json.loads(bytes(row[ENVELOPE]))
            problem = self._ring.apply(env["payload"], env["key_id"], env["prev_hash"])
            if problem is not None:
                raise LedgerError(f"key record seq {row[SEQ]} does not verify ({problem}); "
                                  "run `carbonguard audit verify` before writing")
            self._ring_seq = row[SEQ]
        return wanted is not None and self._ring.active(wanted)

    def _signed_key_payload(self, action: str, key_id: str, public_b64: str, after_hash: str) -> dict:
        signer = self.signer
        signature = signer.sign(key_message(action, key_id, public_b64, signer.key_id, after_hash))
        return {"action": action, "algorithm": "ed25519", "key_id": key_id, "public_key": public_b64,
                "signed_by": signer.key_id, "signature": signature}

    def _key_record(self, action: str, public_b64: str) -> LedgerRecord:
        try:
            raw = unb64(public_b64)
        except ValueError as exc:
            raise InputError(Problem("not a base64 public key", field_path="public_key")) from exc
        if len(raw) != 32:
            raise InputError(Problem("an Ed25519 public key has 32 bytes", field_path="public_key"))
        new_id = key_id_of(raw)

        def body() -> LedgerRecord:
            head = self._prepare_write()
            if new_id in self._ring.public:
                raise LedgerError(f"key {new_id} is already enrolled in this ledger")
            payload = self._signed_key_payload(action, new_id, public_b64, head[1])
            record, head = self._write_raw(head, "key", payload, True, self.signer.key_id)
            self._ring.apply(payload, self.signer.key_id, record.prev_hash)
            self._ring_seq = record.seq
            return record

        return self._transaction(body)

    def _write(self, head: tuple[int, str], record_type: str, value: dict, simple: bool
               ) -> tuple[LedgerRecord, tuple[int, str]]:
        return self._write_raw(head, record_type, value, simple, self.signer.key_id)

    def _write_raw(self, head: tuple[int, str], record_type: str, value: dict, simple: bool, key_id: str
                   ) -> tuple[LedgerRecord, tuple[int, str]]:
        now = datetime.now(timezone.utc)
        header = Header(seq=head[0] + 1, record_id=str(uuid.uuid4()), record_type=record_type,
                        time=format_time(now), producer=PRODUCER, key_id=key_id,
                        run_id=value.get("run_id"), prev_hash=head[1])
        env = envelope_bytes(header, value, simple)
        record_hash = hash_bytes(env)
        self.store.insert(header, record_hash, env)
        record = LedgerRecord(seq=header.seq, record_id=header.record_id, record_type=record_type,
                              time=now, producer=PRODUCER,
                              prev_hash=header.prev_hash, record_hash=record_hash, key_id=key_id,
                              payload=value, run_id=header.run_id)
        return record, (header.seq, record_hash)

    def _write_checkpoint(self, head: tuple[int, str]) -> tuple[LedgerRecord, tuple[int, str]]:
        signer = self.signer
        time = format_time(datetime.now(timezone.utc))
        signature = signer.sign(checkpoint_message(head[0], head[1], time, signer.key_id))
        payload = {"size": head[0], "head_hash": head[1], "time": time, "key_id": signer.key_id,
                   "signature": signature}
        return self._write_raw(head, "checkpoint", payload, True, signer.key_id)


def _check_decision(value: dict[str, Any]) -> None:
    for name in ("policy_hash", "policy_version"):
        if not isinstance(value.get(name), str) or not value[name]:
            raise InputError(Problem("a decision record must name the policy's content hash and version",
                                     field_path=f"payload.{name}"))
    hashes = value.get("evaluated_record_hashes")
    if not isinstance(hashes, list):
        raise InputError(Problem("a decision record must list the hashes of the records it evaluated",
                                 field_path="payload.evaluated_record_hashes"))
    for i, h in enumerate(hashes):
        if not isinstance(h, str) or not _HEX64.match(h):
            raise InputError(Problem("not a record hash (64 lowercase hex digits)",
                                     field_path=f"payload.evaluated_record_hashes[{i}]"))


def parse_certificate_range(value: tuple[int, int] | list[int] | str) -> tuple[int, int]:
    """`(first, last)` or `"first-last"` (inclusive) or `"n"`; ids are non-negative integers."""
    if isinstance(value, str):
        parts = value.strip().split("-")
        if len(parts) not in (1, 2) or not all(p.strip().isdigit() for p in parts):
            raise InputError(Problem(f"{value!r} is not a range like '1000-1999'",
                                     field_path="certificate_range"))
        first, last = int(parts[0]), int(parts[-1])
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        first, last = value
    else:
        raise InputError(Problem("expected (first, last) integers or 'first-last'",
                                 field_path="certificate_range"))
    if first < 0 or last < first or last > MAX_CERTIFICATE_ID:
        raise InputError(Problem(f"range {first}-{last} must satisfy 0 <= first <= last < 2**63-1",
                                 field_path="certificate_range"))
    return first, last


def _hour(value: datetime | str) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InputError(Problem(f"{value!r} is not an ISO 8601 time", field_path="hour")) from exc
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InputError(Problem("must be a timezone-aware UTC hour", field_path="hour"))
    value = value.astimezone(timezone.utc)
    if value.minute or value.second or value.microsecond:
        raise InputError(Problem(f"{value.isoformat()} is not the start of an hour", field_path="hour"))
    return value.strftime("%Y-%m-%dT%H:00:00Z")


def _decimal(value: float | Decimal | str, name: str) -> str:
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except InvalidOperation as exc:
        raise InputError(Problem(f"{value!r} is not a number", field_path=name)) from exc
    if not number.is_finite() or number <= 0:
        raise InputError(Problem(f"{value!r} must be a positive finite number", field_path=name))
    return format(number, "f")


LEDGER_URL_FORMS = "a file path, sqlite:///PATH, postgresql://... or postgres://..."
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")  # 2+ letters, so a Windows drive `C:` stays a path


def resolve_url(url: str | None) -> str:
    """The ledger URL to open: the argument, `$CARBONGUARD_LEDGER`, else the default path.

    Only the documented forms are accepted. Anything else that looks like a URL
    (`postgresql+psycopg://`, `mysql://`, `http://`, `sqlite://x`) is refused before anything is
    created, because treating it as a file name would silently write a local ledger instead of the
    shared one the user meant.
    """
    from_env = not url and bool(os.environ.get(LEDGER_ENV))
    target = url or os.environ.get(LEDGER_ENV) or str(DEFAULT_LEDGER)
    match = _SCHEME.match(target)
    if match is None:
        return target
    scheme = match.group(1).lower()
    rest = target[match.end():]
    if scheme in ("postgresql", "postgres") and rest.startswith("//"):
        return target
    if scheme == "sqlite" and rest.startswith("///") and len(rest) > 3:
        return target
    if scheme.startswith(("postgresql+", "postgres+")):
        hint = " (drop the driver suffix: postgresql://...)"
    elif scheme == "sqlite":
        hint = " (a SQLite URL has three slashes then the path: sqlite:///ledger.db or sqlite:////abs/ledger.db)"
    else:
        hint = " (a local file whose name contains ':' must start with ./)"
    raise InputError(Problem(f"unsupported ledger URL {_shown(target)!r}; use {LEDGER_URL_FORMS}{hint}",
                             source=f"${LEDGER_ENV}" if from_env else "ledger"))


def _shown(url: str) -> str:
    """The URL without any password, for messages."""
    return re.sub(r"//([^/@:]*):[^/@]*@", r"//\1:***@", url)
