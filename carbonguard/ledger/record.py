"""The ledger record: an envelope around a payload, hash-chained to the record before it.

Why the shape: the hashed bytes are the RFC 8785 form of the envelope (everything but
`record_hash`). Its keys sort so that the payload comes second and every header field after it,
which lets the verifier check that the indexed columns of a store match the hashed bytes by
rebuilding the envelope's fixed prefix and tail, without parsing the payload (see `envelope_frame`).
"""

from __future__ import annotations

import gc
import hashlib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from carbonguard.ledger.canonical import canonical_text, encode_string

SCHEMA_VERSION = 1
GENESIS_PREV_HASH = "0" * 64
RECORD_TYPES = ("stage", "decision", "policy", "claim", "key", "checkpoint", "footprint", "subflow", "reschedule",
                "match")


def format_time(value: datetime) -> str:
    """Fixed-width UTC time with microseconds, e.g. `2026-01-01T00:00:00.000000Z`.

    `isoformat` rather than `strftime`: a few times faster (it runs twice per append) and always
    pads the year to four digits.
    """
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_time(text: str) -> datetime:
    """The inverse of `format_time`. Its fixed form goes through `fromisoformat` (about 30x faster
    than `strptime`, which was a tenth of loading a record); anything else through `strptime`,
    which refuses what is not exactly that form."""
    if len(text) == 27 and text[-1] == "Z" and text[10] == "T" and text[19] == ".":
        try:
            return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while many records are parsed.

    Why: parsing allocates millions of small containers, none of them in a cycle, and each
    collection of the oldest generation walks the whole (by then large) heap; measured on 60,000
    stage records, loading took about 2-4x as long with the collector running. Reference counting
    still frees everything; the collector resumes (if it was on) when the block ends.

    What the block leaves alive (a run's rows) is moved to the oldest generation as it ends
    (`gc.freeze` then `gc.unfreeze`: two list splices, no walk), as if it had survived the young
    collections: otherwise the first collection after the block walked every one of them, and the
    next one again (a tenth of a 99,000-record gate). Only after a block that left many objects
    young (`_MANY_YOUNG`: a small read is not worth moving the whole process's young objects), and
    not where the application has frozen objects itself (a server that freezes before forking
    workers: unfreezing would thaw them), nor on a free-threaded build, where freezing stops every
    thread and walks the heap. A cycle among what was moved is freed at the next full collection
    rather than a young one: later, never leaked.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_count()[0] > _MANY_YOUNG and gc.get_freeze_count() == 0 and not _FREE_THREADED:
                gc.freeze()  # never when the application froze objects itself (before forking)
                gc.unfreeze()
            gc.enable()


_MANY_YOUNG = 100_000  # young objects after a `paused_gc` block worth moving to the oldest generation
_FREE_THREADED = not getattr(sys, "_is_gil_enabled", lambda: True)()  # 3.13t and later, GIL off
_PAYLOAD_AT = len('{"key_id":"') + 32 + len('","payload":')  # key ids are 32 hex digits
_PAYLOAD_END = b',"prev_hash":"'


def payload_bytes(envelope: bytes) -> bytes | None:
    """The canonical payload inside an envelope's bytes, without parsing it; None when the bytes
    are not in the form carbonguard writes (the caller then parses the whole envelope)."""
    if not envelope.startswith(b'{"key_id":"') or not envelope.startswith(b'","payload":', _PAYLOAD_AT - 12):
        return None
    # The envelope's own `prev_hash` follows its payload; a nested one inside the payload comes
    # earlier, so the last occurrence is the envelope's.
    end = envelope.rfind(_PAYLOAD_END)
    return envelope[_PAYLOAD_AT:end] if end > _PAYLOAD_AT else None


@dataclass(frozen=True)
class Header:
    """Envelope fields besides the payload."""

    seq: int
    record_id: str
    record_type: str
    time: str
    producer: str
    key_id: str
    run_id: str | None
    prev_hash: str


def envelope_bytes(header: Header, payload: Any, simple_keys: bool = True) -> bytes:
    """Canonical bytes of the whole envelope: what `record_hash` is the SHA-256 of.

    Written as `envelope_frame`'s prefix + the canonical payload + its tail in one format string
    rather than by sorting a dict of the envelope (it runs on every append); tests hold it to
    `canonical_bytes` of that dict.
    """
    run_id = "null" if header.run_id is None else encode_string(header.run_id)
    return (f'{{"key_id":{encode_string(header.key_id)},"payload":{canonical_text(payload, simple_keys)},'
            f'"prev_hash":{encode_string(header.prev_hash)},"producer":{encode_string(header.producer)},'
            f'"record_id":{encode_string(header.record_id)},"record_type":{encode_string(header.record_type)},'
            f'"run_id":{run_id},"schema":{SCHEMA_VERSION},"seq":{int(header.seq)},'
            f'"time":{encode_string(header.time)}}}').encode()


def envelope_frame(header: Header) -> tuple[bytes, bytes]:
    """The prefix before and the tail after the payload in `envelope_bytes(header, ...)`.

    Every top-level key is ASCII and sorts the same in UTF-16 and code-point order, and `payload`
    sorts second, so the canonical envelope is always `prefix + canonical(payload) + tail`.
    """
    prefix = '{"key_id":' + encode_string(header.key_id) + ',"payload":'
    run_id = "null" if header.run_id is None else encode_string(header.run_id)
    tail = (
        ',"prev_hash":' + encode_string(header.prev_hash)
        + ',"producer":' + encode_string(header.producer)
        + ',"record_id":' + encode_string(header.record_id)
        + ',"record_type":' + encode_string(header.record_type)
        + ',"run_id":' + run_id
        + ',"schema":' + str(SCHEMA_VERSION)
        + ',"seq":' + str(header.seq)
        + ',"time":' + encode_string(header.time)
        + "}"
    )
    return prefix.encode("utf-8"), tail.encode("utf-8")


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class LedgerRecord:
    """One record as read back from the ledger; `payload` holds decimal strings, never floats."""

    seq: int
    record_id: str
    record_type: str
    time: datetime
    producer: str
    prev_hash: str
    record_hash: str
    key_id: str
    payload: dict[str, Any] = field(repr=False)
    run_id: str | None = None
    schema: int = SCHEMA_VERSION

    @classmethod
    def from_envelope(cls, envelope: bytes, record_hash: str) -> LedgerRecord:
        env = json.loads(envelope)
        return cls(
            seq=env["seq"],
            record_id=env["record_id"],
            record_type=env["record_type"],
            time=parse_time(env["time"]),
            producer=env["producer"],
            prev_hash=env["prev_hash"],
            record_hash=record_hash,
            key_id=env["key_id"],
            payload=env["payload"],
            run_id=env["run_id"],
            schema=env["schema"],
        )

    def envelope(self) -> dict[str, Any]:
        """The hashed envelope as a JSON object (what the JSONL export writes, plus record_hash)."""
        return {
            "key_id": self.key_id,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "producer": self.producer,
            "record_id": self.record_id,
            "record_type": self.record_type,
            "run_id": self.run_id,
            "schema": self.schema,
            "seq": self.seq,
            "time": format_time(self.time),
        }
