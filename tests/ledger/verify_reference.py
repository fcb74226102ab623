"""`check_segment` as it was before its hot loop was trimmed (commit 3fbf43d), verbatim: the reference.

Why kept: the verifier's per-record loop was rewritten for speed (the column bytes reused while
record type, run and the seq's hundreds stay) and must judge every row exactly as before;
tests/ledger/test_verify_equivalence.py compares the two on random tamperings, and
benchmarks/ledger_scale.py runs this one as the verification's "before".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence

from carbonguard.ledger.canonical import canonical_bytes, encode_string
from carbonguard.ledger.record import SCHEMA_VERSION
from carbonguard.ledger.verify import (
    _KEY_OPEN,
    _PAYLOAD_OPEN,
    _TIME_TAIL,
    EXIT_DELETED,
    EXIT_EDITED,
    PROGRESS_EVERY,
    Segment,
    _diagnose,
    _record_id,
)


def check_segment(
    batches: Iterable[Sequence[tuple]],
    first_seq: int = 1,
    *,
    deep: bool = False,
    locate_seq: Callable[[int], bool] | None = None,
    want_hash_at: int | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    total: int | None = None,
) -> Segment:
    """Check rows `(seq, record_type, run_id, record_hash, envelope)` from `first_seq` on."""
    seg = Segment(first_seq, first_seq - 1)
    expected, last_hash = first_seq, None
    sha256 = hashlib.sha256
    special = frozenset(("key", "checkpoint"))
    quoted: dict[str | None, str] = {None: "null"}  # canonical encodings of repeating column values
    key_open, current_key, after_key = b"\x00", b"", True

    def stop(code: int, message: str, seq: int, env: bytes | None) -> Segment:
        seg.failure = (code, message, seq, env)
        seg.last_seq, seg.last_hash = expected - 1, last_hash
        return seg

    for batch in batches:
        for row in batch:
            seq, rtype, run_id, rhash, env = row
            if not isinstance(env, (bytes, bytearray, memoryview)):
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
            rtype_q = quoted.get(rtype)
            if rtype_q is None:
                rtype_q = quoted[rtype] = encode_string(rtype) if isinstance(rtype, str) else "\x00"
            run_q = quoted.get(run_id)
            if run_q is None:
                run_q = quoted[run_id] = encode_string(run_id) if isinstance(run_id, str) else "\x00"
            mid = (f',"record_type":{rtype_q},"run_id":{run_q},"schema":{SCHEMA_VERSION},"seq":{seq},'
                   '"time":"').encode()
            end = len(env) - _TIME_TAIL
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
            if deep or rtype in special:
                try:
                    parsed = json.loads(env)
                except ValueError:
                    return stop(EXIT_EDITED, "its content is not JSON", seq, env)
                payload = parsed.get("payload")
                if not isinstance(payload, dict):
                    return stop(EXIT_EDITED, "its payload is not an object", seq, env)
                if deep:
                    if canonical_bytes(parsed, simple_keys=False) != env:
                        return stop(EXIT_EDITED, "its bytes are not canonical JSON (RFC 8785)", seq, env)
                    if "run_id" in payload and payload["run_id"] != run_id:
                        return stop(EXIT_EDITED, "its run_id differs from its payload's run_id", seq, env)
                if rtype in special:
                    seg.events.append((seq, rtype, parsed["key_id"], payload, parsed.get("prev_hash"),
                                       parsed.get("record_id")))
                    if rtype == "key":  # the ring may change here: check the next key use again
                        after_key = True
            if after_key and rtype != "key":
                seg.events.append((seq, "uses", current_key.decode("ascii", "replace"), None, None,
                                   _record_id(env)))
                after_key = False
            if seq == want_hash_at:
                seg.hash_at[seq] = rhash
            last_hash = rhash
            expected += 1
            if progress is not None and not seq & (PROGRESS_EVERY - 1):
                progress(seq, total)
    seg.last_seq, seg.last_hash = expected - 1, last_hash
    return seg
