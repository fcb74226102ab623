"""Verify a ledger: hash chain, header columns, key records, checkpoint signatures, pinned keys.

Why it is shaped like this: an attacker with write access to the store can change any byte and
any column. Changing a record's bytes breaks its hash or, if re-hashed, the next record's link;
re-linking everything after it breaks every later checkpoint signature, which needs the private
key; deleting the tail is caught only against a checkpoint kept elsewhere. Columns outside the
hashed bytes are checked against them by rebuilding the envelope's prefix and tail, so the hot
loop hashes each record once and never parses its payload (unless `deep`).

Exit codes, one per failure kind (documented in docs/ledger.md and `audit verify --help`):
0 intact, 2 usage or input error, 10 edited, 11 deleted or chain broken, 12 reordered,
13 bad signature, 14 truncated or diverged against a checkpoint, 15 untrusted key, 16 unsigned
records after the last checkpoint (every write transaction ends with one, so none may follow it).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from carbonguard.errors import InputError, Problem
from carbonguard.ledger.canonical import canonical_bytes, encode_string
from carbonguard.ledger.keyring import KeyRing
from carbonguard.ledger.keys import checkpoint_message, key_id_of, unb64, verify_signature
from carbonguard.ledger.record import GENESIS_PREV_HASH, SCHEMA_VERSION
from carbonguard.safe_read import read_text

EXIT_INTACT = 0
EXIT_EDITED = 10
EXIT_DELETED = 11
EXIT_REORDERED = 12
EXIT_BAD_SIGNATURE = 13
EXIT_TRUNCATED = 14
EXIT_UNTRUSTED_KEY = 15
EXIT_UNSIGNED = 16

FAILURE_KINDS = {
    EXIT_EDITED: "edited",
    EXIT_DELETED: "deleted",
    EXIT_REORDERED: "reordered",
    EXIT_BAD_SIGNATURE: "bad-signature",
    EXIT_TRUNCATED: "truncated",
    EXIT_UNTRUSTED_KEY: "untrusted-key",
    EXIT_UNSIGNED: "unsigned",
}

CHECKPOINT_FORMAT = "carbonguard-checkpoint/1"
MAX_CHECKPOINT_BYTES = 65_536  # an exported checkpoint is ~500 bytes
PROGRESS_EVERY = 65536
_TIME_TAIL = len('2026-01-01T00:00:00.000000Z"}')  # fixed width: see record.format_time
_KEY_OPEN = b'{"key_id":"'
_PAYLOAD_OPEN = b'","payload":{'
_SEQ_TAIL = tuple(f'{i:02d},"time":"'.encode() for i in range(100))  # a seq's last two digits (seq >= 100) onwards
_UNSET = object()  # a column value no row holds
_STATES_KEPT = 64  # (record type, run) pairs whose envelope bytes `check_segment` keeps built
_TEXT = rb'[\x20\x21\x23-\x5b\x5d-\x7e]*'  # a JSON string's inside without escapes: printable ASCII
# A checkpoint exactly as `Ledger._write_seal` writes it, whole; anything else is parsed with json.
_SEAL = re.compile(
    rb'\{"key_id":"([0-9a-f]{32})","payload":\{"head_hash":"([0-9a-f]{64})","key_id":"([0-9a-f]{32})",'
    rb'"signature":"([A-Za-z0-9+/=]*)","size":(0|[1-9][0-9]{0,17}),"time":"(' + _TEXT + rb')"\},'
    rb'"prev_hash":"([0-9a-f]{64})","producer":"' + _TEXT + rb'","record_id":"(' + _TEXT + rb')",'
    rb'"record_type":"checkpoint","run_id":null,"schema":' + str(SCHEMA_VERSION).encode()
    + rb',"seq":(?:0|[1-9][0-9]{0,17}),"time":"' + _TEXT + rb'"\}').fullmatch


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a verification; `exit_code` is what `carbonguard audit verify` returns."""

    ok: bool
    exit_code: int
    message: str
    failure: str | None = None  # one of FAILURE_KINDS' values
    seq: int | None = None
    record_id: str | None = None
    records: int = 0  # records checked
    checkpoints: int = 0  # signed checkpoints verified inside the ledger
    head_seq: int = 0
    head_hash: str = GENESIS_PREV_HASH
    unsigned_tail: int = 0  # records after the last signed checkpoint
    key_ids: tuple[str, ...] = field(default=())
    signatures: int = 0  # checkpoint signatures verified (see `combine`: the others are covered by the chain)

    def __bool__(self) -> bool:
        return self.ok


class VerifiedRun(NamedTuple):
    """A gate's one read of its run (`Ledger.verified_run_payloads`): the span's verdict, the run's
    records parsed from the rows it checked, and their judged digest `(count, sha256)` (stage
    records; None otherwise, or when the span did not verify)."""

    result: VerifyResult
    entries: list[tuple[int, str, Any]]  # (seq, record_hash, parsed), in sequence order
    judged: tuple[int, str] | None


def load_checkpoint_file(path: Path) -> dict[str, Any]:
    """Read an exported checkpoint; anything malformed is an input error naming the field."""
    try:
        data = json.loads(read_text(path, max_bytes=MAX_CHECKPOINT_BYTES, what="checkpoint"))
    except json.JSONDecodeError as exc:
        raise InputError(Problem(f"not JSON: {exc.msg}", source=str(path), line=exc.lineno,
                                 column=exc.colno)) from exc
    except RecursionError:
        raise InputError(Problem("not a checkpoint: JSON nested too deeply", source=str(path))) from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise InputError(Problem(f"not a carbonguard checkpoint (format must be {CHECKPOINT_FORMAT!r})",
                                 source=str(path), field_path="format"))
    for name, kind in (("size", int), ("head_hash", str), ("time", str), ("key_id", str),
                       ("signature", str), ("public_key", str)):
        if not isinstance(data.get(name), kind) or isinstance(data.get(name), bool):
            raise InputError(Problem(f"missing or not a {kind.__name__}", source=str(path), field_path=name))
    return data


def export_checkpoint(payload: dict[str, Any], public_key: str, seq: int, record_id: str) -> dict[str, Any]:
    """The portable form of a checkpoint record, to keep outside the ledger."""
    return {"format": CHECKPOINT_FORMAT, "size": payload["size"], "head_hash": payload["head_hash"],
            "time": payload["time"], "key_id": payload["key_id"], "signature": payload["signature"],
            "public_key": public_key, "checkpoint_seq": seq, "checkpoint_record_id": record_id}


@dataclass
class Segment:
    """What a scan of records `first_seq..` found, for `combine` to judge in sequence order.

    Per-record checks (hash, columns, links inside the segment, `deep`) need no state and run
    here, possibly in another process; key trust and signatures need the chain's history and are
    left as `events` for `combine`: key records, checkpoints, and each first use of a signing key
    (where the key changes, and right after every key record).
    """

    first_seq: int
    last_seq: int = 0  # last record that passed the per-record checks (first_seq - 1 if none)
    first_link: str | None = None  # the prev_hash named by the segment's first record
    last_hash: str | None = None
    events: list[tuple] = field(default_factory=list)  # (seq, kind, key_id, payload, prev_hash, record_id)
    failure: tuple[int, str, int, bytes | None] | None = None  # (code, message, seq, env)
    hash_at: dict[int, str] = field(default_factory=dict)  # record hashes at requested seqs
    # Deferred signatures (`every_signature=False`): only some checkpoints are events (see
    # `check_segment`); each one's count of the segment's checkpoints up to it, for `combine`.
    checkpoint_counts: dict[int, int] = field(default_factory=dict)
    # A checkpoint that became an event but could not be read as one (`every_signature=False`): the
    # segment stopped there, and `combine` has the caller verify again with every signature.
    recheck: int | None = None


class SignatureRecheck(Exception):
    """A checkpoint signature checked late (`every_signature=False`) does not verify: verify again
    checking every signature, which finds the first checkpoint that fails and judges as before."""


def check_segment(
    batches: Iterable[Sequence[tuple]],
    first_seq: int = 1,
    *,
    deep: bool = False,
    locate_seq: Callable[[int], bool] | None = None,
    want_hash_at: int | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    total: int | None = None,
    every_signature: bool = True,
) -> Segment:
    """Check rows `(seq, record_type, run_id, record_hash, envelope)` from `first_seq` on.

    `every_signature=False` (what `combine` then expects too): only the checkpoints `combine`
    needs are events: the first record under a key (whose key it checks), the last checkpoint
    before any other event, and the segment's last checkpoint (whose signature covers, through the
    links checked here, every record before it). Every checkpoint is hashed and linked; only those
    are read (`_special_event`), when they become events. A ledger written by `append` is half
    checkpoints, so this keeps the events (and what they hold) few, and reading them was a fifth of
    verifying such a ledger.
    """
    seg = Segment(first_seq, first_seq - 1)
    counts, held, held_count = seg.checkpoint_counts, None, 0  # the last checkpoint not yet an event
    expected, last_hash = first_seq, None
    sha256, seq_tail, time_tail = hashlib.sha256, _SEQ_TAIL, _TIME_TAIL  # locals: cheaper than globals in the loop
    special = frozenset(("key", "checkpoint"))
    key_open, current_key, after_key = b"\x00", b"", True
    # The bytes the envelope must hold before its time, `,"record_type":T,"run_id":R,"schema":1,
    # "seq":N,"time":"`, built from the columns. Consecutive records mostly share T and R, and N
    # counts up, so the part before N's last two digits is kept while T, R and N // 100 stay
    # (`prefix`, `head`), and the rest comes from a table: building these bytes afresh for every
    # record was a fifth of the loop. Equal values give equal bytes, so reusing them is exact.
    col_type: object = _UNSET
    col_run: object = _UNSET
    prefix, head, head_base, head_next, parse = b"", b"", 0, 0, deep
    lazy_seals = not every_signature and not deep  # checkpoints read only if they become events
    states: dict[tuple[Any, Any], list[Any]] = {}  # (type, run) -> [prefix, head, head_base, head_next, parse]
    state: list[Any] = []

    def release() -> bool:
        """Make the held checkpoint an event: one comes next, or the segment ends. One held unread
        (`lazy_seals`) is read now; if it cannot be read as a checkpoint, the segment stops there
        and asks `combine` for a verification with every signature (`recheck`), which judges it in
        its turn, as it always did. True when the segment has stopped so."""
        nonlocal held
        if held is None:
            return False
        cp, held = held, None
        if len(cp) == 5:  # (seq, envelope, link offset, key id bytes, hash of the record before)
            seq, env, link, key, before = cp
            try:
                cp = _special_event(seq, "checkpoint", None, env, link, key, False)
            except _Refused as refused:
                seg.recheck = seq
                seg.failure = (*refused.args, seq, env)
                seg.last_seq, seg.last_hash = seq - 1, before
                return True
        seg.events.append(cp)
        counts[cp[0]] = held_count
        return False

    def stop(code: int, message: str, seq: int, env: bytes | None) -> Segment:
        if not release():  # else a checkpoint before this record stopped the segment
            seg.failure = (code, message, seq, env)
            seg.last_seq, seg.last_hash = expected - 1, last_hash
        return seg

    for batch in batches:
        for row in batch:
            seq, rtype, run_id, rhash, env = row
            if type(env) is not bytes and not isinstance(env, (bytearray, memoryview)):
                # A column rewritten as text (SQLite's replace() on a blob returns text) is an edit
                # like any other: report it, never crash on it.
                return stop(EXIT_EDITED, f"its envelope column holds {type(env).__name__}, not the hashed bytes",
                            seq, None)
            if seq != expected:
                return stop(EXIT_DELETED, f"missing; the next record present is seq {seq} "
                            f"(id {_record_id(env)})", expected, None)
            # The envelope ends `,"record_type":T,"run_id":R,"schema":1,"seq":N,"time":"<27 chars>"}`
            # and starts `{"key_id":"<32 hex>","payload":{`: check the columns, read the key id and
            # the link there, without parsing the payload. Canonical values never hold a bare
            # quote, so a match at these fixed offsets is a match of the fields themselves.
            if rtype != col_type or run_id != col_run:
                col_type, col_run = rtype, run_id
                # kept per (type, run): a ledger written by `append` alternates stage and checkpoint
                state = states.get((rtype, run_id))
                if state is None:
                    if len(states) >= _STATES_KEPT:
                        states.clear()
                    state = states[(rtype, run_id)] = [
                        (f',"record_type":{_quoted(rtype)},"run_id":{_quoted(run_id)},"schema":{SCHEMA_VERSION},'
                         '"seq":').encode(), b"", 0, 0, deep or rtype in special]
                prefix, head, head_base, head_next, parse = state
            if type(seq) is int and seq >= 100:  # N's digits: `head` (all but the last two) + table
                if seq >= head_next:
                    head_base = seq - seq % 100
                    head, head_next = prefix + str(head_base // 100).encode(), head_base + 100
                    state[1:4] = head, head_base, head_next
                mid = head + seq_tail[seq - head_base]
            else:
                mid = prefix + f'{seq},"time":"'.encode()
            end = len(env) - time_tail
            if not env.endswith(mid, 0, end):  # before the hash: a record in another's place is
                code, message = _diagnose(row, env, locate_seq)  # a move, not an edit (as the
                return stop(code, message, seq, env)  # standalone verifier judges it too)
            if sha256(env).hexdigest() != rhash:
                return stop(EXIT_EDITED, "its content does not match its record_hash", seq, env)
            if not env.startswith(key_open):  # another key than the record before
                if env[:11] != _KEY_OPEN or env[43:56] != _PAYLOAD_OPEN:
                    code, message = _diagnose(row, env, locate_seq)
                    return stop(code, message, seq, env)
                key_open, current_key, after_key = env[:56], env[11:43], True
            link = env.rfind(b',"prev_hash":"', 56, end - len(mid))
            if last_hash is None:
                seg.first_link = env[link + 14:link + 78].decode("ascii", "replace") if link >= 0 else ""
            elif link < 0 or not env.startswith(last_hash.encode(), link + 14):
                return stop(EXIT_DELETED, "does not link to the record before it (prev_hash differs): "
                            "a record was removed, or the one before was rewritten", seq, env)
            if parse:
                if lazy_seals and rtype == "checkpoint":
                    # Its form is read only if it becomes an event (`release`): most checkpoints of
                    # a stretch never do, and the last one's signature covers them through the links.
                    held, held_count = (seq, env, link, current_key, last_hash), held_count + 1
                    if after_key and release():  # the first record under its key: `combine` checks its key
                        return seg
                else:
                    try:
                        event = _special_event(seq, rtype, run_id, env, link, current_key, deep)
                    except _Refused as refused:
                        return stop(*refused.args, seq, env)
                    if rtype not in special:
                        pass  # read to check it (`deep`), not an event
                    elif every_signature or rtype != "checkpoint":
                        if release():
                            return seg
                        seg.events.append(event)
                    else:  # a checkpoint read in full (`deep`)
                        held, held_count = event, held_count + 1
                        if after_key and release():
                            return seg
                if rtype == "key":  # the ring may change here: check the next key use again
                    after_key = True
            if after_key and rtype != "key":
                if release():
                    return seg
                # its link (checked against the record before, or the segment's first link): the
                # head a failure here reports, as a key record's or checkpoint's own link is
                seg.events.append((seq, "uses", current_key.decode("ascii", "replace"), None,
                                   env[link + 14:link + 78].decode("ascii", "replace") if link >= 0 else None,
                                   _record_id(env)))
                after_key = False
            if seq == want_hash_at:
                seg.hash_at[seq] = rhash
            last_hash = rhash
            expected += 1
            if progress is not None and not seq & (PROGRESS_EVERY - 1):
                progress(seq, total)
    if not release():
        seg.last_seq, seg.last_hash = expected - 1, last_hash
    return seg


class _Refused(Exception):
    """`(exit code, why)`: a key record or checkpoint that cannot be read as one."""


def read_json(data: bytes) -> Any:
    """`json.loads`, with JSON nested too deeply for the parser refused as `ValueError` like any other
    JSON it cannot read: a row re-hashed with 200,000 nested brackets was a `RecursionError`, and
    `audit verify` ended as an internal error (70) rather than naming the record (10)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _special_event(seq: int, rtype: str, run_id: object, env: bytes, link: int, key: bytes, deep: bool) -> tuple:
    """The event of a key record or checkpoint: `(seq, type, key_id, payload, prev_hash, record_id)`.

    A checkpoint in the form `Ledger._write_seal` writes is read by `_SEAL` rather than `json.loads`
    (not with `deep`, which checks the canonical form of every record). `link`: the offset of the
    `,"prev_hash":"` the byte checks found; `key`: the key id the envelope starts with.
    """
    seal = None if deep or rtype != "checkpoint" else _SEAL(env)
    if seal is not None:
        return _seal_event(seq, seal)
    try:
        parsed = read_json(env)
    except ValueError:
        raise _Refused(EXIT_EDITED, "its content is not JSON") from None
    payload = parsed.get("payload")
    if not isinstance(payload, dict):
        raise _Refused(EXIT_EDITED, "its payload is not an object")
    # The fields a signature covers are read from the parse: they must be the ones the byte checks
    # found (the envelope's first `key_id`, the last `,"prev_hash":"`). A second key_id, or a
    # `prev_hash` nested after the real one (in an object where `producer` stands), made the link
    # checked and the link signed two different hashes.
    if parsed.get("prev_hash") != env[link + 14:link + 78].decode("ascii", "replace"):
        raise _Refused(EXIT_DELETED, "does not link to the record before it (its prev_hash differs from the "
                       "link its bytes hold)")
    if parsed.get("key_id") != key.decode("ascii", "replace"):
        raise _Refused(EXIT_EDITED, "its key_id differs from the one its bytes start with")
    if deep:
        if canonical_bytes(parsed, simple_keys=False) != env:
            raise _Refused(EXIT_EDITED, "its bytes are not canonical JSON (RFC 8785)")
        if "run_id" in payload and payload["run_id"] != run_id:
            raise _Refused(EXIT_EDITED, "its run_id differs from its payload's run_id")
    return (seq, rtype, parsed.get("key_id"), payload, parsed.get("prev_hash"), parsed.get("record_id"))


def _seal_event(seq: int, seal: re.Match) -> tuple:
    """A sealed checkpoint's event, its fields as json.loads reads them from that form."""
    key_id, head_hash, cp_key, signature, size, at, prev, record_id = seal.groups()
    payload = {"head_hash": head_hash.decode(), "key_id": cp_key.decode(), "signature": signature.decode(),
               "size": int(size), "time": at.decode()}
    return (seq, "checkpoint", key_id.decode(), payload, prev.decode(), record_id.decode())


def _quoted(value: object) -> str:
    """A column value as the envelope holds it; a value of another type matches no envelope."""
    if value is None:
        return "null"
    return encode_string(value) if isinstance(value, str) else "\x00"


def combine(
    segments: Iterable[Segment],
    *,
    checkpoint: dict[str, Any] | None = None,
    pubkeys: Iterable[str] = (),
    gaps: bool = False,
    every_signature: bool = True,
) -> VerifyResult:
    """Judge segments in sequence order: links between them, key trust, signatures, checkpoint.

    `gaps=True` (a span verification, `Ledger.verify_span`): the segments need not be contiguous;
    links are checked where one segment follows straight on from another, and the key ring is
    built from the key records inside the segments (which must then include every key record).

    `every_signature=False` (segments checked so too): of the checkpoints of each stretch of linked
    records, the signature of the last one is verified, before anything is reported. Through the
    links checked, it covers every record and checkpoint before it, so an edit anywhere before it
    (re-hashed and re-linked or not) fails there, without a key the ledger trusts; and since every
    later checkpoint then fails too, a failure means: raise `SignatureRecheck`, so that the caller
    verifies again checking every signature and names the first that fails, as it always did. So
    does any problem with a checkpoint that is an event, or one that could not be read
    (`Segment.recheck`): the checkpoints before it in its stretch were never read. What this does
    not catch is a bad checkpoint that a trusted writer itself wrote in the middle of a stretch,
    followed by good ones (a writer's bug, not an edit); `every_signature=True` does.
    """
    pins = {key_id_of(unb64(p)): p for p in pubkeys}
    ring = KeyRing()
    active: set[str] = set()
    head, last_hash, checkpoints, last_cp_seq = 0, GENESIS_PREV_HASH, 0, 0
    hash_at: dict[int, str] = {}
    pending: tuple[int, dict, str] | None = None  # the last checkpoint whose signature is not yet verified
    signatures = 0

    def settle() -> None:
        """Verify the pending signature (it covers every checkpoint before it in its stretch)."""
        nonlocal pending, signatures
        if pending is not None:
            seq, payload, public = pending
            pending = None
            signatures += 1
            if not _signature_verifies(payload, public):
                raise SignatureRecheck(seq)

    def fail(code: int, message: str, seq: int | None, rid: str | None, upto: int,
             upto_hash: str | None = None) -> VerifyResult:
        """`upto_hash`: the hash of record `upto` where known (a key record's or checkpoint's own
        link, checked against the bytes), else the last segment's end."""
        settle()  # a bad signature before this failure is the one to report
        where = "" if seq is None else f"record seq {seq} (id {rid}): " if rid else f"record seq {seq}: "
        return VerifyResult(False, code, where + message, FAILURE_KINDS[code], seq, rid, upto, checkpoints,
                            upto, upto_hash or last_hash, upto - last_cp_seq, tuple(ring.public))

    checked = 0
    for seg in segments:
        if seg.recheck is not None and not every_signature:
            raise SignatureRecheck(seg.recheck)  # a checkpoint read late could not be read
        contiguous = not gaps or seg.first_seq == head + 1
        if not contiguous:
            settle()  # a stretch ends: its last checkpoint vouches for it
        base = checkpoints  # deferred: the segment's checkpoints so far are `base + count`
        if contiguous and seg.last_seq >= seg.first_seq and seg.first_link != last_hash:
            return fail(EXIT_DELETED, "does not link to the record before it (prev_hash differs): a record "
                        "was removed, or the one before was rewritten", seg.first_seq, None, head)
        for seq, kind, key_id, payload, prev, rid in seg.events:
            if kind == "uses":
                if key_id not in active:
                    return fail(EXIT_UNTRUSTED_KEY, f"written under key {key_id}, which is not enrolled and "
                                "active at this point of the chain", seq, rid, seq - 1, prev)
                continue
            if kind == "key":
                problem = ring.apply(payload, key_id, prev)
                if problem is not None:
                    code = EXIT_UNTRUSTED_KEY if "not trusted" in problem else EXIT_BAD_SIGNATURE
                    return fail(code, problem, seq, rid, seq - 1, prev)
                if pins and payload.get("action") == "genesis" and payload["key_id"] not in pins:
                    return fail(EXIT_UNTRUSTED_KEY, f"the ledger's first key {payload['key_id']} is not a "
                                "pinned public key (--pubkey)", seq, rid, seq - 1, prev)
                active = {k for k in ring.public if k not in ring.retired}
            else:
                problem = _check_checkpoint(payload, seq, prev, key_id, ring, signed=every_signature)
                if problem is not None and not every_signature:
                    # The checkpoints before it in its stretch were not read (`check_segment`): judge
                    # with every one read and every signature checked, as the failure always was.
                    raise SignatureRecheck(seq)
                if problem is not None:
                    return fail(EXIT_BAD_SIGNATURE, problem, seq, rid, seq - 1, prev)
                if every_signature:
                    checkpoints += 1
                    signatures += 1
                else:
                    checkpoints = base + seg.checkpoint_counts[seq]
                    pending = (seq, payload, ring.public[payload["key_id"]])
                last_cp_seq = seq
        hash_at.update(seg.hash_at)
        if seg.last_seq >= seg.first_seq:
            head, last_hash = seg.last_seq, seg.last_hash or last_hash
            checked += seg.last_seq - seg.first_seq + 1
        if seg.failure is not None:
            code, message, seq, env = seg.failure
            return fail(code, message, seq, _record_id(env), head)
    settle()
    if pins and not ring.public:
        # A pinned key says "this ledger was written by us": a ledger with no key record at all
        # (emptied, or swapped for a blank one) cannot show that, so it does not pass.
        return fail(EXIT_UNTRUSTED_KEY, "the ledger holds no key record, so none of the pinned keys (--pubkey) "
                    "wrote it", None, None, head)
    if checkpoint is not None:
        result = _against_checkpoint(checkpoint, pins, ring, head, hash_at.get(checkpoint["size"]))
        if result is not None:
            return fail(result[0], result[1], None, None, head)
    if head > last_cp_seq:
        # Every write transaction ends with a signed checkpoint, so records after the last one
        # were written without the key (or its checkpoints were stripped and the chain re-linked).
        return fail(EXIT_UNSIGNED, f"{head - last_cp_seq} records after the last signed checkpoint "
                    f"(seq {last_cp_seq}); every write ends with a checkpoint, so these were added or "
                    "re-linked without the signing key", last_cp_seq + 1, None, head)
    what = f"{checked} of {head} records" if gaps else f"{head} records"
    signed = ("every checkpoint signature verified" if every_signature else
              f"{signatures} checkpoint signature{'' if signatures == 1 else 's'} verified, the last of each "
              "stretch, covering the others through the hash chain")
    return VerifyResult(True, EXIT_INTACT, f"intact: {what}, {checkpoints} signed checkpoints, "
                        f"{head - last_cp_seq} records after the last checkpoint; {signed}", None, None, None,
                        checked if gaps else head, checkpoints, head, last_hash, head - last_cp_seq,
                        tuple(ring.public), signatures)


def verify_rows(
    batches: Iterable[Sequence[tuple]],
    *,
    total: int | None = None,
    checkpoint: dict[str, Any] | None = None,
    pubkeys: Iterable[str] = (),
    progress: Callable[[int, int | None], None] | None = None,
    deep: bool = False,
    locate_seq: Callable[[int], bool] | None = None,
    every_signature: bool = True,
) -> VerifyResult:
    """Verify a whole ledger given as batches of rows, in one process (`SignatureRecheck`: see
    `combine`)."""
    seg = check_segment(batches, 1, deep=deep, locate_seq=locate_seq, progress=progress, total=total,
                        want_hash_at=checkpoint["size"] if checkpoint else None, every_signature=every_signature)
    if progress is not None:
        progress(seg.last_seq, total)
    return combine([seg], checkpoint=checkpoint, pubkeys=pubkeys, every_signature=every_signature)


def _checkpoint_form(payload: dict, seq: int, prev_hash: str | None, key_id: str | None) -> str | None:
    """What a checkpoint must say about its place, before its signature means anything."""
    try:
        size, head_hash, cp_key = payload["size"], payload["head_hash"], payload["key_id"]
        time, signature = payload["time"], payload["signature"]
    except KeyError as exc:
        return f"checkpoint lacks {exc.args[0]}"
    if type(size) is not int or not all(type(v) is str for v in (head_hash, cp_key, time, signature)):
        return "checkpoint's fields are not of their types (size a whole number, the others text)"
    if size != seq - 1 or head_hash != prev_hash:
        return "checkpoint does not describe the records before it"
    if cp_key != key_id:
        return "checkpoint's key differs from its envelope key id"
    return None


def _check_checkpoint(payload: dict, seq: int, prev_hash: str, key_id: str, ring: KeyRing, *,
                      signed: bool = True) -> str | None:
    """A checkpoint's form, its key, and (`signed`) its signature."""
    problem = _checkpoint_form(payload, seq, prev_hash, key_id)
    if problem is not None:
        return problem
    cp_key = payload["key_id"]
    if not ring.active(cp_key):
        return f"checkpoint signed by key {cp_key}, which is not active here"
    if signed and not _signature_verifies(payload, ring.public[cp_key]):
        return "checkpoint signature does not verify"
    return None


def head_seal_problem(row: Sequence[Any] | None, head: tuple[int, str], ring: KeyRing) -> tuple[int, str] | None:
    """`(exit code, why)` unless `row` is the head `head` and a checkpoint whose bytes, form, key and
    signature all verify (what `check_segment` and `combine` check of one, every signature
    included), else None.

    Why a writer asks this before it writes: its seal signs the head, and through the links the
    chain before it. Written on a head that someone without the key rewrote (forged checkpoints,
    or checkpoints stripped and the chain re-linked), it would vouch for the rewrite, and
    verification, which rests on the last signature of a stretch, would then pass it.
    """
    seq, head_hash = head
    if row is None or row[0] != seq or row[3] != head_hash:
        return EXIT_DELETED, f"record seq {seq}, the head, is not the row the head names"
    if row[1] != "checkpoint":
        return EXIT_UNSIGNED, (f"its last record (seq {seq}) is a {row[1]!r} record, not a signed checkpoint: "
                               "records were added without the key, or its checkpoints stripped")
    seg = check_segment([[tuple(row)]], seq)
    if seg.failure is not None:
        return seg.failure[0], f"record seq {seq}, the head: {seg.failure[1]}"
    _, _, key_id, payload, prev, _ = next(e for e in seg.events if e[1] == "checkpoint")
    problem = _check_checkpoint(payload, seq, prev, key_id, ring)
    return None if problem is None else (EXIT_BAD_SIGNATURE, f"record seq {seq}, the head: {problem}")


def _signature_verifies(payload: dict, public_key: str) -> bool:
    message = checkpoint_message(payload["size"], payload["head_hash"], payload["time"], payload["key_id"])
    return verify_signature(public_key, payload["signature"], message)


def _against_checkpoint(cp: dict, pins: dict[str, str], ring: KeyRing, head: int,
                        hash_at_size: str | None) -> tuple[int, str] | None:
    # The ring is anchored at a pinned first key (or the verification failed before this), so a
    # checkpoint signed by a key enrolled or rotated in later is as trusted as one by the pin.
    public = ring.public.get(cp["key_id"]) or pins.get(cp["key_id"])
    if public is None:
        return EXIT_UNTRUSTED_KEY, (f"the checkpoint file is signed by key {cp['key_id']}, which is "
                                    + ("not pinned" if pins else "not enrolled in this ledger"))
    message = checkpoint_message(cp["size"], cp["head_hash"], cp["time"], cp["key_id"])
    if not verify_signature(public, cp["signature"], message):
        return EXIT_BAD_SIGNATURE, "the checkpoint file's signature does not verify"
    if head < cp["size"]:
        return EXIT_TRUNCATED, (f"truncated: the checkpoint of {cp['time']} covers {cp['size']} records, "
                                f"the ledger holds {head}")
    if hash_at_size != cp["head_hash"]:
        return EXIT_TRUNCATED, (f"diverged: record seq {cp['size']} is not the one the checkpoint signed "
                                "(the ledger was cut back and rewritten)")
    return None


def _record_id(env: bytes | None) -> str | None:
    try:
        return read_json(env)["record_id"]  # type: ignore[arg-type]
    except (TypeError, ValueError, KeyError):
        return None


def _diagnose(row: tuple, env: bytes, locate_seq: Callable[[int], bool] | None) -> tuple[int, str]:
    """A row's columns disagree with its hashed bytes: say which, and whether it moved."""
    seq = row[0]
    try:
        parsed = read_json(env)
    except ValueError:
        return EXIT_EDITED, "its content is not JSON"
    if not isinstance(parsed, dict):
        return EXIT_EDITED, "its content is not an envelope"
    if isinstance(parsed.get("seq"), int) and parsed["seq"] != seq:
        if locate_seq is not None and locate_seq(seq):
            return EXIT_REORDERED, (f"holds the record hashed as seq {parsed['seq']}; the record hashed as "
                                    f"seq {seq} sits elsewhere (records were reordered)")
        return EXIT_DELETED, f"holds the record hashed as seq {parsed['seq']}; seq {seq} is gone"
    for i, name in ((1, "record_type"), (2, "run_id")):
        if parsed.get(name) != row[i]:
            return EXIT_EDITED, f"its {name} column does not match its hashed content"
    return EXIT_EDITED, "its hashed content is not a well-formed envelope"
