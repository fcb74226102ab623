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
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

from carbonguard import __version__
from carbonguard.errors import InputError, Problem
from carbonguard.judged import judged_sha256, shape_problem
from carbonguard.ledger.canonical import encode_string, normalise
from carbonguard.ledger.claims import claim_payload
from carbonguard.ledger.keyring import KeyRing
from carbonguard.ledger.keys import (
    CHECKPOINT_CONTEXT,
    SIGNING_KEY_ENV,
    Signer,
    key_id_of,
    key_message,
    resolve_signer,
    unb64,
)
from carbonguard.ledger.record import (
    GENESIS_PREV_HASH,
    RECORD_TYPES,
    SCHEMA_VERSION,
    Header,
    LedgerRecord,
    envelope_bytes,
    format_time,
    hash_bytes,
    paused_gc,
    payload_bytes,
)
from carbonguard.ledger.store import ENVELOPE, RECORD_HASH, SEQ, ClaimConflict, LedgerError, StaleHead, Store
from carbonguard.ledger.verify import (
    EXIT_DELETED,
    EXIT_UNSIGNED,
    SignatureRecheck,
    VerifiedRun,
    VerifyResult,
    check_segment,
    combine,
    export_checkpoint,
    head_seal_problem,
    read_json,
    verify_rows,
)

LEDGER_ENV = "CARBONGUARD_LEDGER"
_SEQ_OF, _HASH_OF, _ENVELOPE_OF = itemgetter(SEQ), itemgetter(RECORD_HASH), itemgetter(ENVELOPE)  # columns
_JUDGED_KEPT = 8  # digests of verified runs a ledger keeps for its decisions' check (`_check_judged`)
DEFAULT_LEDGER = Path(".carbonguard") / "ledger.db"
DEFAULT_CHECKPOINT_EVERY = 100
PRODUCER = f"carbonguard {__version__}"
_PRODUCER_JSON = encode_string(PRODUCER)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
# Written by the ledger itself, with signatures or registry checks, never through `append`.
_INTERNAL_TYPES = {"key": "rotate_key()/add_key()", "checkpoint": "checkpoint()",
                   "claim": "claim_certificates()"}
_T = TypeVar("_T")
PARALLEL_MIN_RECORDS = 200_000  # below this, starting worker processes costs more than it saves


class KeyNotEnrolled(LedgerError):
    """The writer's signing key is not trusted by this ledger, so it may not write to it."""


class UnsealedHead(LedgerError):
    """The ledger's last record is not a checkpoint this writer can verify, so it writes nothing:
    its seal would vouch for whatever was written there without the key (`verify.head_seal_problem`)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


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
        self._ring_hash: str | None = None  # record_hash of the key record at _ring_seq
        self._lock = threading.RLock()  # one store connection: one thread at a time uses it
        self._open_tx: Transaction | None = None
        # (seq, hash) of the head this object left after its last write (its own seal, or a head
        # it verified and wrote nothing on): a head it need not verify again
        self._checked_head: tuple[int, str] | None = None
        # (run_id, head seq) -> (count, sha256, head hash) of the stage records this object read and
        # verified for a run (`verified_run_payloads`): the decision that follows is checked against
        # it instead of deriving the set again (`Transaction._check_judged`).
        self._verified_judged: dict[tuple[str, int], tuple[int, str, str]] = {}
        # Only benchmarks/ledger.py turns this off, to measure what sealing costs side by side;
        # a ledger written so fails verification (exit 16) until its next sealed write.
        self._seal_transactions = True

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
            with self._lock:
                return self._resolve_signer(generate=not self.keyring().public)
        return self._signer

    # -- writing ----------------------------------------------------------------------------
    def append(self, record_type: str, payload: Mapping[str, Any]) -> LedgerRecord:
        """Append one record (and the checkpoint that seals it); decisions must name policy and inputs."""
        value, simple = self._check_append(record_type, payload)
        return self._transaction(lambda tx: tx._append_checked(record_type, value, simple))

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Several records and claims that commit together, sealed by one checkpoint, or not at all.

            with led.transaction() as tx:
                tx.append("footprint", ...)
                tx.append("decision", ...)
                tx.claim_certificates(...)

        An exception inside the block rolls everything back (and is re-raised). The store's write
        lock is held for the whole block, so keep it short: no network calls inside.
        """
        with self._lock:
            if self._open_tx is not None:
                raise LedgerError("a ledger transaction is already open on this Ledger")
            ring = (self._ring, self._ring_seq, self._signer)
            try:
                with self.store.writing(fresh_head=True):
                    tx = Transaction(self, *self._prepare_write())
                    self._open_tx = tx
                    try:
                        yield tx
                        tx._seal()
                    finally:
                        tx._closed = True
                        self._open_tx = None
            except BaseException:
                self._restore(ring)
                raise
            self._checked_head = tx.head

    def _transaction(self, body: Callable[[Transaction], _T], *, seal_unsigned_tail: bool = False) -> _T:
        """Run `body` in one sealed store write transaction; again on a fresh head after `StaleHead`.

        A store may let `body` build on the head it last wrote itself and find out only at commit
        that another writer moved it (see `Store.head`); nothing was written then, and the second
        run reads the head under the store's lock, so it cannot be stale.
        """
        with self._lock:
            if self._open_tx is not None:
                raise LedgerError("inside `with ledger.transaction() as tx:` write through tx")
            for attempt in range(3):
                ring = (self._ring, self._ring_seq, self._signer)
                try:
                    with self.store.writing():
                        tx = Transaction(self, *self._prepare_write(seal_unsigned_tail))
                        result = body(tx)
                        tx._seal()
                        tx._closed = True
                    self._checked_head = tx.head
                    return result
                except StaleHead:
                    self._restore(ring)
                    if attempt == 2:
                        raise
                except BaseException:
                    self._restore(ring)
                    raise
        raise AssertionError("unreachable")

    def _restore(self, ring: tuple[KeyRing, int, Signer | None]) -> None:
        """After a rollback: forget key records that were applied but never committed."""
        if self._ring_seq != ring[1]:
            self._ring, self._ring_seq, self._ring_hash = KeyRing(), 0, None
        self._signer = ring[2] if ring[2] is not None else self._signer

    def checkpoint(self, *, seal_unsigned_tail: bool = False) -> LedgerRecord:
        """Write a signed checkpoint of the current head now (e.g. before exporting it).

        `seal_unsigned_tail`: the head may be a record that is not a checkpoint (a ledger written by
        a version that did not seal every write). Only after verifying the ledger and finding
        nothing else wrong (`audit checkpoint --seal-unsigned-tail` does): the seal vouches for it.
        """
        return self._transaction(lambda tx: tx._checkpoint(), seal_unsigned_tail=seal_unsigned_tail)

    def add_key(self, public_key_b64: str) -> LedgerRecord:
        """Enrol another writer's public key (e.g. a second host), signed by this writer's key."""
        return self._key_record("add", public_key_b64)

    def rotate_key(self, new_signer: Signer) -> LedgerRecord:
        """Replace this writer's key: the old key signs the new one and signs nothing afterwards
        (the checkpoint that seals the rotation is already signed by the new key)."""
        return self._key_record("rotate", new_signer.public_b64, new_signer)

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
        See `carbonguard.ledger.claims` for the payload.
        """
        claim = claim_payload(registry, certificate_range, run_id, beneficiary, hour, zone, mwh)
        return self._transaction(lambda tx: tx._claim(claim))

    # -- reading ----------------------------------------------------------------------------
    def records(self, run_id: str | None = None, record_type: str | None = None) -> list[LedgerRecord]:
        """Records in sequence order, parsed from their hashed bytes (not from index columns)."""
        with self._lock:
            rows = self.store.select(run_id, record_type)
        with paused_gc():
            return [LedgerRecord.from_envelope(bytes(row[ENVELOPE]), row[RECORD_HASH]) for row in rows]

    def payloads(self, run_id: str, record_type: str, parse: Callable[[bytes], _T]) -> list[tuple[int, str, _T]]:
        """`(seq, record_hash, parse(payload))` for a run's records of one type, in sequence order.

        For loading many records at once (a gate's stage records): `parse` gets the payload's
        canonical JSON bytes straight from the hashed envelope (e.g. a pydantic model's
        `model_validate_json`), so each record is parsed once rather than as a dict and then again
        as a model, with the cyclic collector paused meanwhile.
        """
        with self._lock:
            rows = self.store.select(run_id, record_type)
        with paused_gc():
            return [(row[SEQ], row[RECORD_HASH], parse(_payload_of(row[ENVELOPE]))) for row in rows]

    def run_seqs(self, run_ids: Iterable[str], record_types: Iterable[str]) -> list[int]:
        """Sequence numbers of these runs' records of these types, from the run index (nothing parsed)."""
        with self._lock:
            return self.store.seqs(list(run_ids), list(record_types))

    def first_seq(self, run_ids: Iterable[str], record_types: Iterable[str]) -> int | None:
        """The first of `run_seqs` (None if none), from one index probe per run and type."""
        with self._lock:
            return self.store.first_seq(list(run_ids), list(record_types))

    def head_seq(self) -> int:
        """The seq of the last record (0 for an empty ledger)."""
        with self._lock:
            head = self.store.head()
        return head[0] if head else 0

    def run_tree(self, run_id: str, through_seq: int | None = None) -> list[str]:
        """`run_id` and every run below it (children before grandchildren, each once), from the
        `subflow` records with `seq <= through_seq` (all when None): the runs a gate judges.

        Bounded by `through_seq` so a decision's judged records can be derived again later: a
        subflow link appended after the gate read the ledger does not change what it judged.
        """
        limit = 2**63 - 1 if through_seq is None else through_seq
        seen, frontier, tree = {run_id}, [run_id], [run_id]
        with self._lock:
            while frontier:
                children = []
                for parent in frontier:
                    for row in self.store.select(parent, "subflow"):
                        if row[SEQ] <= limit:
                            children.append(_subflow_child(bytes(row[ENVELOPE])))
                frontier = [c for c in dict.fromkeys(children) if isinstance(c, str) and c not in seen]
                seen.update(frontier)
                tree.extend(frontier)
        return tree

    def judged_hashes(self, run_id: str, through_seq: int) -> list[tuple[int, str, str]]:
        """`(seq, run_id, record_hash)` of the stage records a decision on `run_id` that read the
        ledger up to `through_seq` judged: those of its run tree (`run_tree`) up to that seq."""
        with self._lock:
            return self.store.run_hashes(self.run_tree(run_id, through_seq), "stage", through_seq)

    def latest_checkpoint(self) -> LedgerRecord | None:
        """The last checkpoint record. Every write ends with one, so it is searched for from the
        head backwards in growing windows rather than by reading every checkpoint."""
        with self._lock:
            head = self.store.head()
            after, window, rows = (head[0] if head else 0), 64, []
            while after > 0 and not rows:
                after = max(0, after - window)
                rows = self.store.rows_of_type("checkpoint", after)
                window *= 4
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
        every_signature: bool = False,
    ) -> VerifyResult:
        """Verify the whole ledger (see `carbonguard.ledger.verify` for what is checked).

        `checkpoint` is an exported checkpoint kept elsewhere (detects a truncated tail);
        `pubkeys` are base64 raw Ed25519 public keys pinned out of band (the first key must be one).
        `workers`: processes that check ranges of records side by side (hashing is the cost);
        None means one per CPU, up to 4, for ledgers of `PARALLEL_MIN_RECORDS` or more.
        `every_signature`: verify every checkpoint's signature, not only the one that covers each
        stretch of the chain (see `verify.combine`; a failure is always judged with every one).
        """
        try:
            return self._verify(checkpoint, pubkeys, progress, deep, workers, every_signature)
        except SignatureRecheck:
            return self._verify(checkpoint, pubkeys, progress, deep, workers, True)

    def _verify(self, checkpoint: dict[str, Any] | None, pubkeys: Iterable[str],
                progress: Callable[[int, int | None], None] | None, deep: bool, workers: int | None,
                every_signature: bool) -> VerifyResult:
        with self._lock:
            head = self.store.head()
            total = self.store.count() if progress is not None else None
        last = head[0] if head else 0
        if workers is None:
            workers = min(os.cpu_count() or 1, 4) if last >= PARALLEL_MIN_RECORDS else 1
        workers = max(1, min(workers, last))
        if workers == 1 or self.source is None:
            return verify_rows(self.store.scan_batches(), total=total, checkpoint=checkpoint,
                               pubkeys=pubkeys, progress=progress, deep=deep, locate_seq=self._locate_seq,
                               every_signature=every_signature)
        from carbonguard.ledger.worker import verify_parallel

        return verify_parallel(self.source, last, workers, checkpoint=checkpoint, pubkeys=pubkeys,
                               progress=progress, deep=deep, every_signature=every_signature)

    def verify_span(self, first_seq: int | None, *, pubkeys: Iterable[str] = ()) -> VerifyResult:
        """Verify the chain from `first_seq` to the head, and every key record to its seal.

        What a gate needs, at a cost that grows with the records written since `first_seq` (the
        run's first record) rather than with the ledger: every record from `first_seq` on is
        checked as `verify` checks it (hash, columns against bytes, links, the key that wrote it,
        each checkpoint's signature), so a judged record cannot be edited, moved, hidden from the
        run index or left unsigned without this failing; and the key records, each with the
        records up to the checkpoint that seals it, give the keys trusted at each checkpoint.
        `first_seq=None` checks only the tail after the last checkpoint (and the keys). Records
        before `first_seq` other than those are not read: `verify` (`audit verify`) judges them.
        See docs/ledger.md, "What a gate verifies".
        """
        return self._span(first_seq, pubkeys, None)[0]

    def verified_run_payloads(
        self, run_id: str, record_type: str, parse: Callable[[list[bytes]], list[_T]], *,
        pubkeys: Iterable[str] = ()
    ) -> VerifiedRun:
        """A gate's one read of its run: `verify_span` from the first `record_type` or `subflow`
        record of `run_id`'s tree (`run_tree`) to the head, and `(seq, record_hash, parsed)` of the
        tree's `record_type` records up to that head, in sequence order (none unless the span
        verified), with the judged digest of those records (`judged_sha256`, for stage records).
        `parse` gets payloads (canonical JSON bytes, as in `payloads`) a batch at a time and returns
        what each parses to, in order: a batch can be read column by column.

        Why one method: the records are parsed from the very rows the span's verification checked,
        batch by batch as it passes them, so the bytes parsed are the bytes just verified (no
        second read for an edit or a writer to slip between), the span is read once rather than
        twice, and a batch's rows are let go once checked and parsed (a run written by `append` is
        half checkpoints: holding every row of a 99,000-stage run took 180 MB). What is parsed
        counts only if the whole span then verifies. The head, the tree (subflow links up to that
        head), the first seq and the rows all come from one snapshot. The digest comes with the
        records so that it is computed once, from the same hashes.
        """
        result, kept = self._span(None, pubkeys, (run_id, record_type), parse)
        if not result.ok:
            return VerifiedRun(result, [], None)
        judged = None
        if record_type == "stage":
            judged = self._remember_judged(run_id, result, [h for _, h, _ in kept])
        return VerifiedRun(result, kept, judged)

    def _remember_judged(self, run_id: str, result: VerifyResult, hashes: list[str]) -> tuple[int, str]:
        """Keep the digest of a run's verified stage records through `result.head_seq`: exactly
        what `judged_hashes(run_id, head)` derives, read in the snapshot that verified them."""
        count, digest = len(hashes), judged_sha256(hashes)
        with self._lock:
            if len(self._verified_judged) >= _JUDGED_KEPT:
                del self._verified_judged[next(iter(self._verified_judged))]
            self._verified_judged[(run_id, result.head_seq)] = (count, digest, result.head_hash)
        return count, digest

    def _judged_digest(self, run_id: str, through_seq: int) -> tuple[int, str]:
        """`(count, sha256)` of the stage records a decision on `run_id` through `through_seq`
        judged. Derived again from the store (`judged_hashes`), unless this object verified that
        run through that seq itself and the record at `through_seq` is still the one it verified:
        its hash commits to every record before it, so a ledger cut back and rewritten since is
        derived again (and refused), and a run of 99,000 records is not read a third time."""
        kept = self._verified_judged.get((run_id, through_seq))
        if kept is not None and self.store.hash_at(through_seq) == kept[2]:
            return kept[0], kept[1]
        derived = self.judged_hashes(run_id, through_seq)
        return len(derived), judged_sha256(h for _, _, h in derived)

    def _span(
        self, first_seq: int | None, pubkeys: Iterable[str], run: tuple[str, str] | None,
        parse: Callable[[list[bytes]], list[Any]] | None = None,
    ) -> tuple[VerifyResult, list[tuple[int, str, Any]]]:
        """`verify_span`; with `run=(run_id, record_type)` and `parse`, the span starts at that run
        tree's first record, and the tree's rows of that type are parsed as verification passes
        them: `(seq, record_hash, parsed)`, to be used only if the result is intact."""
        kept: list[tuple[int, str, Any]] = []
        wanted: tuple[str, frozenset[str]] | None = None
        broke: list[BaseException] = []  # what `parse` raised, held until the span's verdict

        def passing(batches: Iterator[list[Any]], keep: bool) -> Iterator[list[Any]]:
            """The batches to `check_segment`; once it has checked one (it asks for the next only
            then, and never after a failure), its wanted rows are parsed and the rest let go. An
            exception from `parse` (a bug, or bytes it cannot take: an edit re-hashed at the end of
            a batch is parsed before the broken link after it is read) waits for the verdict: a span
            that fails is reported as failing, not as the exception."""
            for rows in batches:
                yield rows
                if keep and wanted is not None and parse is not None and not broke:
                    rtype, runs = wanted
                    mine = [r for r in rows if r[1] == rtype and r[2] in runs]
                    if mine:
                        try:
                            parsed = parse(list(map(_payload_of, map(_ENVELOPE_OF, mine))))
                        except Exception as exc:  # re-raised below if the span is intact
                            broke.append(exc)
                            continue
                        kept.extend(zip(map(_SEQ_OF, mine), map(_HASH_OF, mine), parsed, strict=True))

        def judged(ranges: list[tuple[int, int]], every_signature: bool) -> VerifyResult:
            kept.clear()
            per_range = _per_range(self.store.scan_ranges(ranges), len(ranges))
            segments = []
            for (a, b), batches in zip(ranges, per_range, strict=True):
                seg = check_segment(passing(batches, not every_signature), a, every_signature=every_signature)
                # A range that came back short (rows deleted at its end) would otherwise only leave
                # a gap before the next range, which a span verification does not link across.
                if seg.failure is None and seg.last_seq != b:
                    seg.failure = (EXIT_DELETED, "missing (the index lists it, its row is gone)",
                                   seg.last_seq + 1, None)
                segments.append(seg)
                if seg.failure is not None:
                    break  # `combine` reports this one: the ranges after it need no reading
            return combine(segments, pubkeys=pubkeys, gaps=True, every_signature=every_signature)

        # The collector is paused: the rows are many small objects, none in a cycle. One snapshot
        # for every read: the head, the last checkpoint, the key records and their seals, and the
        # rows. Read in separate statements, a writer's commit between them showed a checkpoint
        # beyond the head read first, and the tail range came out empty or short (a spurious 11, or
        # an "intact" that had checked no tail at all). The rows are checked as they are read,
        # inside it, so a second read (below) sees the same rows.
        with paused_gc(), self._lock, self.store.snapshot():
            outline = self.store.span_outline()
            if outline is None:
                return combine([], pubkeys=pubkeys, gaps=True), kept
            last, tail, keys = outline
            if run is not None:
                tree = self.run_tree(run[0], last)
                first_seq = self.store.first_seq(tree, [run[1], "subflow"])
                wanted = (run[1], frozenset(tree))
            tail = tail or 1
            start = tail if first_seq is None else max(1, min(first_seq, tail))
            ranges = _merge([(k, min(seal or last, last)) for k, seal in keys if k < start] + [(start, last)])
            try:
                result = judged(ranges, False)  # each stretch's last signature (see `combine`)
            except SignatureRecheck as failed:  # one failed: every signature, in order, names the first
                result = judged(ranges, True)
                if result.ok:  # cannot be (the one that failed is checked again): never judge on it
                    raise LedgerError("a checkpoint signature failed, then verified, in one snapshot") from failed
        if broke and result.ok:
            raise broke[0]
        return result, kept

    def _locate_seq(self, seq: int) -> bool:
        for row in self.store.scan():
            try:
                if read_json(bytes(row[ENVELOPE])).get("seq") == seq:
                    return True
            except (ValueError, AttributeError):
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

    def _prepare_write(self, seal_unsigned_tail: bool = False) -> tuple[tuple[int, str], bool]:
        """Inside the write transaction: read the head, catch up on key records, enrol if new.

        Returns the head and whether a genesis key record was written (which the seal must cover).
        """
        seq, head_hash, last_key_seq, last_key_hash = self.store.head() or (0, GENESIS_PREV_HASH, 0, None)
        head = (seq, head_hash)
        if (last_key_seq, last_key_hash) != (self._ring_seq, self._ring_hash):
            # Another writer changed the keys, or the ledger was cut back (a restored backup) or
            # replaced, possibly growing new key records since. A ring kept from other key records
            # would let this writer sign with a key this ledger never enrolled (every later record
            # then fails verification, 15), so replay them all: a ledger holds only a handful.
            self._ring, self._ring_seq, self._ring_hash = KeyRing(), 0, None
            self._catch_up_keys()
        if seq and head != self._checked_head:  # not the seal this object wrote: check it before signing on it
            self._check_head(head, seal_unsigned_tail)
        # A ledger that has keys never gets a freshly generated one: it could not be enrolled, so
        # the writer is refused before anything (a key file included) is written.
        signer = self._resolve_signer(generate=not self._ring.public)
        if not self._ring.public:  # first writer of a new ledger: its key is the genesis key
            prev = head[1]
            payload = self._signed_key_payload("genesis", signer.key_id, signer.public_b64, prev)
            _, head = self._write_raw(head, "key", payload, True, signer.key_id)
            self._ring.apply(payload, signer.key_id, prev)
            self._ring_seq, self._ring_hash = head
            return head, True
        elif not self._ring.active(signer.key_id) and not self._catch_up_keys(signer.key_id):
            state = "was rotated out" if signer.key_id in self._ring.retired else "is not enrolled"
            raise KeyNotEnrolled(
                f"signing key {signer.key_id} ({signer.path or 'in memory'}) {state} in ledger "
                f"{self.store.description}; enrol its public key with `carbonguard keys add --pubkey FILE` "
                f"using an enrolled key, or set CARBONGUARD_SIGNING_KEY to an enrolled key"
            )
        return head, False

    def _check_head(self, head: tuple[int, str], seal_unsigned_tail: bool) -> None:
        """Refuse to write on a head that is not a verified checkpoint (`verify.head_seal_problem`):
        one row read and one signature verification, only when another writer (or nobody this
        object knows of) wrote the head."""
        problem = head_seal_problem(self.store.row_at(head[0]), head, self._ring)
        if problem is None:
            return
        code, why = problem
        if code == EXIT_UNSIGNED and seal_unsigned_tail:
            return  # the caller verified the ledger and asked to seal its unsigned tail
        raise UnsealedHead(
            f"ledger {self.store.description}: {why}. Nothing was written: a seal on it would vouch for "
            "whatever was written there without the key. Run `carbonguard audit verify`; a tail left "
            "unsigned by an older carbonguard is sealed, once checked, by `carbonguard audit checkpoint "
            "--seal-unsigned-tail`", code)

    def _resolve_signer(self, *, generate: bool) -> Signer:
        if self._signer is None:
            signer = resolve_signer(self.key_path, generate=generate)
            if signer is None:
                raise KeyNotEnrolled(
                    f"no signing key: ${SIGNING_KEY_ENV} is not set and {self.key_path} does not exist, and "
                    f"ledger {self.store.description} already has keys, so a new one would not be enrolled; "
                    f"set {SIGNING_KEY_ENV} to an enrolled key, or generate one with `carbonguard keys generate` "
                    "and enrol it with `carbonguard keys add --pubkey FILE`")
            self._signer = signer
        return self._signer

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
            self._ring_seq, self._ring_hash = row[SEQ], row[RECORD_HASH]
        return wanted is not None and self._ring.active(wanted)

    def _signed_key_payload(self, action: str, key_id: str, public_b64: str, after_hash: str) -> dict:
        signer = self.signer
        signature = signer.sign(key_message(action, key_id, public_b64, signer.key_id, after_hash))
        return {"action": action, "algorithm": "ed25519", "key_id": key_id, "public_key": public_b64,
                "signed_by": signer.key_id, "signature": signature}

    def _key_record(self, action: str, public_b64: str, new_signer: Signer | None = None) -> LedgerRecord:
        try:
            raw = unb64(public_b64)
        except ValueError as exc:
            raise InputError(Problem("not a base64 public key", field_path="public_key")) from exc
        if len(raw) != 32:
            raise InputError(Problem("an Ed25519 public key has 32 bytes", field_path="public_key"))
        new_id = key_id_of(raw)

        def body(tx: Transaction) -> LedgerRecord:
            if new_id in self._ring.public:
                raise LedgerError(f"key {new_id} is already enrolled in this ledger")
            payload = self._signed_key_payload(action, new_id, public_b64, tx.head[1])
            record = tx._write(tx.head, "key", payload, True, self.signer.key_id)
            self._ring.apply(payload, record.key_id, record.prev_hash)
            self._ring_seq, self._ring_hash = record.seq, record.record_hash
            if new_signer is not None:
                self._signer = new_signer  # the seal after a rotation is the new key's first signature
            return record

        return self._transaction(body)

    def _check_append(self, record_type: str, payload: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
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
        return value, simple

    def _write_raw(self, head: tuple[int, str], record_type: str, value: dict, simple: bool, key_id: str
                   ) -> tuple[LedgerRecord, tuple[int, str]]:
        now = datetime.now(timezone.utc)
        header = Header(seq=head[0] + 1, record_id=_uuid4(), record_type=record_type,
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

    def _write_seal(self, head: tuple[int, str]) -> tuple[int, str]:
        """The checkpoint that ends a transaction, built straight into its canonical bytes.

        Why not through `_write_raw`: it runs once per append, and every value in it is ours (an
        int, hex digits, a fixed-width time, base64, a UUID), so the RFC 8785 bytes can be written
        directly; `verify(deep=True)` re-derives them from the parsed record (tested).
        """
        signer = self.signer
        key_id, (size, head_hash) = signer.key_id, head
        time = format_time(datetime.now(timezone.utc))
        signature = signer.sign(f'{{"context":"{CHECKPOINT_CONTEXT}","head_hash":"{head_hash}","key_id":"{key_id}",'
                                f'"size":{size},"time":"{time}"}}'.encode())
        header = Header(seq=size + 1, record_id=_uuid4(), record_type="checkpoint", time=time,
                        producer=PRODUCER, key_id=key_id, run_id=None, prev_hash=head_hash)
        env = (f'{{"key_id":"{key_id}","payload":{{"head_hash":"{head_hash}","key_id":"{key_id}",'
               f'"signature":"{signature}","size":{size},"time":"{time}"}},"prev_hash":"{head_hash}",'
               f'"producer":{_PRODUCER_JSON},"record_id":"{header.record_id}","record_type":"checkpoint",'
               f'"run_id":null,"schema":{SCHEMA_VERSION},"seq":{size + 1},"time":"{time}"}}').encode()
        record_hash = hash_bytes(env)
        self.store.insert(header, record_hash, env)
        return header.seq, record_hash

    def _checkpoint_payload(self, head: tuple[int, str]) -> dict[str, Any]:
        signer = self.signer
        time = format_time(datetime.now(timezone.utc))
        # The canonical message, built directly: every value here is ours (an int, hex digits, a
        # fixed-width time), so these are exactly the bytes `checkpoint_message` gives (tested).
        message = (f'{{"context":"{CHECKPOINT_CONTEXT}","head_hash":"{head[1]}","key_id":"{signer.key_id}",'
                   f'"size":{head[0]},"time":"{time}"}}').encode()
        signature = signer.sign(message)
        return {"size": head[0], "head_hash": head[1], "time": time, "key_id": signer.key_id,
                "signature": signature}


class Transaction:
    """Records and claims written in one store transaction; see `Ledger.transaction`.

    Why the ledger seals every transaction with a signed checkpoint: a record is then never
    committed without a signature over it, so the verifier can require that the ledger ends with
    a checkpoint, and an attacker without the key can neither add records nor strip checkpoints
    and re-link the chain unnoticed (docs/ledger.md, "What the ledger guarantees").
    """

    def __init__(self, ledger: Ledger, head: tuple[int, str], wrote_genesis: bool = False) -> None:
        self._ledger = ledger
        self.head = head
        self._hashes: set[str] = set()  # written here, not yet visible to every store's reads
        self._start_seq = head[0]  # what a decision in this transaction may have judged, at most
        self._claims: list[tuple[str, int, int, str]] = []
        self._sealed = not wrote_genesis  # nothing written yet: nothing to seal
        self._closed = False

    def append(self, record_type: str, payload: Mapping[str, Any]) -> LedgerRecord:
        """Like `Ledger.append`, inside this transaction; the seal comes once, at commit."""
        value, simple = self._ledger._check_append(record_type, payload)
        return self._append_checked(record_type, value, simple)

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
        """Like `Ledger.claim_certificates`, inside this transaction."""
        return self._claim(claim_payload(registry, certificate_range, run_id, beneficiary, hour, zone, mwh))

    # -- used by Ledger ---------------------------------------------------------------------
    def _live(self) -> None:
        if self._closed:
            raise LedgerError("this ledger transaction has ended")

    def _append_checked(self, record_type: str, value: dict[str, Any], simple: bool) -> LedgerRecord:
        self._live()
        led = self._ledger
        if record_type == "decision":
            self._check_judged(value)
        record = self._write(self.head, record_type, value, simple, led.signer.key_id)
        if record.seq % led.checkpoint_every == 0:
            self._checkpoint()
        return record

    def _check_judged(self, value: dict[str, Any]) -> None:
        """A decision's judged records must be the ledger's: the digest must be that of the run's
        stage records (its run tree up to `through_seq`), as this ledger verified them or derives
        them again (`Ledger._judged_digest`); a legacy list must name held records."""
        led = self._ledger
        judged = value.get("judged_records")
        if judged is None:  # the form written before judged_records: every hash listed
            named = [h for h in value["evaluated_record_hashes"] if h not in self._hashes]
            missing = led.store.missing_hashes(named)
            if missing:
                raise InputError(Problem(f"names records this ledger does not hold: {', '.join(missing)}",
                                         field_path="payload.evaluated_record_hashes"))
            return
        if judged["through_seq"] > self._start_seq:
            raise InputError(Problem(
                f"judged records through seq {judged['through_seq']}, but the ledger ended at seq "
                f"{self._start_seq} when this transaction began", field_path="payload.judged_records.through_seq"))
        count, digest = led._judged_digest(value["run_id"], judged["through_seq"])  # under the store's lock
        if count != judged["count"] or digest != judged["sha256"]:
            raise InputError(Problem(
                f"the judged-records digest does not match the ledger: run {value['run_id']!r} has "
                f"{count} stage records through seq {judged['through_seq']} (sha256 {digest}), "
                f"the decision says {judged['count']} (sha256 {judged['sha256']})",
                field_path="payload.judged_records"))

    def _claim(self, claim: tuple[dict[str, Any], int, int]) -> LedgerRecord:
        self._live()
        payload, first, last = claim
        registry, run_id = payload["registry"], payload["run_id"]
        holder = next(((r, a, b) for reg, a, b, r in self._claims if reg == registry and a <= last and b >= first),
                      None) or self._ledger.store.claim_overlap(registry, first, last)
        if holder is not None:
            raise ClaimConflict(registry, first, last, holder[0], f"{holder[1]}-{holder[2]}")
        value, simple = self._ledger._prepare(payload)
        record = self._write(self.head, "claim", value, simple, self._ledger.signer.key_id)
        self._ledger.store.insert_claim(registry, first, last, run_id, record.seq)
        self._claims.append((registry, first, last, run_id))
        return record

    def _checkpoint(self) -> LedgerRecord:
        self._live()
        led = self._ledger
        record = self._write(self.head, "checkpoint", led._checkpoint_payload(self.head), True, led.signer.key_id)
        self._sealed = True
        return record

    def _seal(self) -> None:
        if not self._sealed and self._ledger._seal_transactions:
            self.head = self._ledger._write_seal(self.head)
            self._sealed = True

    def _write(self, head: tuple[int, str], record_type: str, value: dict, simple: bool, key_id: str
               ) -> LedgerRecord:
        record, self.head = self._ledger._write_raw(head, record_type, value, simple, key_id)
        self._hashes.add(record.record_hash)
        self._sealed = False
        return record


def _payload_of(envelope: Any) -> bytes:
    """A stored envelope's payload bytes: sliced from the canonical form, else parsed out of it."""
    env = bytes(envelope)
    payload = payload_bytes(env)
    return json.dumps(json.loads(env)["payload"]).encode() if payload is None else payload


def _uuid4() -> str:
    """`str(uuid.uuid4())` without building a `UUID` object (two per append): 122 random bits, the
    version and variant bits set as RFC 4122 section 4.4 says, in the same lowercase 8-4-4-4-12 form."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _subflow_child(envelope: bytes) -> object:
    """The child run a subflow record names, or None where its bytes cannot be read as one: the
    row is then in the span the gate verifies (the tree's subflow records are), which reports it,
    rather than the read of the tree ending the command as an internal error."""
    try:
        payload = read_json(envelope).get("payload")
        return payload.get("subflow_run_id") if isinstance(payload, dict) else None
    except (ValueError, AttributeError):
        return None


def _per_range(pairs: Iterator[tuple[int, list[Any]]], count: int) -> list[Iterator[list[Any]]]:
    """`Store.scan_ranges`' `(range index, batch)` pairs as one iterator of batches per range, to be
    read in order; a range left unread (a check that stopped early) is skipped by the next one."""
    it = iter(pairs)
    ahead: list[Any] = [next(it, None)]

    def batches(index: int) -> Iterator[list[Any]]:
        while ahead[0] is not None and ahead[0][0] < index:
            ahead[0] = next(it, None)
        while ahead[0] is not None and ahead[0][0] == index:
            batch = ahead[0][1]
            ahead[0] = next(it, None)
            yield batch

    return [batches(i) for i in range(count)]


def _merge(ranges: list[tuple[int, int]], gap: int = 64) -> list[tuple[int, int]]:
    """Sorted inclusive ranges, overlapping or near ones joined (reading a few records more is
    cheaper than another range; every record read is verified)."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + gap:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _check_decision(value: dict[str, Any]) -> None:
    for name in ("policy_hash", "policy_version"):
        if not isinstance(value.get(name), str) or not value[name]:
            raise InputError(Problem("a decision record must name the policy's content hash and version",
                                     field_path=f"payload.{name}"))
    judged = value.get("judged_records")
    if judged is not None or "evaluated_record_hashes" not in value:
        _check_judged_shape(value, judged)
        return
    hashes = value.get("evaluated_record_hashes")  # the form written before judged_records
    if not isinstance(hashes, list):
        raise InputError(Problem("a decision record must list the hashes of the records it evaluated",
                                 field_path="payload.evaluated_record_hashes"))
    for i, h in enumerate(hashes):
        if not isinstance(h, str) or not _HEX64.match(h):
            raise InputError(Problem("not a record hash (64 lowercase hex digits)",
                                     field_path=f"payload.evaluated_record_hashes[{i}]"))


def _check_judged_shape(value: dict[str, Any], judged: Any) -> None:
    """`judged_records: {count, sha256, through_seq}` (docs/ledger.md, "Judged records")."""
    where = "payload.judged_records"
    if not isinstance(judged, dict):
        raise InputError(Problem("a decision record must carry judged_records {count, sha256, through_seq} "
                                 "(or, as before, evaluated_record_hashes)", field_path=where))
    if "evaluated_record_hashes" in value:
        raise InputError(Problem("a decision carries judged_records or evaluated_record_hashes, not both",
                                 field_path="payload.evaluated_record_hashes"))
    if not isinstance(value.get("run_id"), str):
        raise InputError(Problem("a decision with judged_records must name its run", field_path="payload.run_id"))
    problem = shape_problem(judged)
    if problem is not None:
        raise InputError(Problem(problem[1], field_path=f"{where}.{problem[0]}"))


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
