"""The append path as it was before the append-CPU work (as of commit 3fbf43d), for the benchmark's
side-by-side "before" only: `before_appends()` swaps these in for the duration of a `with` block.

What differed: the payload walk ran an `isinstance(v, Mapping)` check for every number and wrote
every float through `Decimal`; the envelope was the canonical JSON of a dict of it (sorted each
time); record ids came from `uuid.uuid4()`; SQLite read the head (three index probes) in every
append's transaction. The records written are the same (tests hold the new code to RFC 8785 and
the old float rule); only the work per append differs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

from carbonguard.errors import InputError, Problem
from carbonguard.ledger.canonical import MAX_SAFE_INT, _check_string, canonical_bytes
from carbonguard.ledger.record import SCHEMA_VERSION, Header


@contextmanager
def before_appends() -> Iterator[None]:
    """`Ledger.append` runs the previous walk, float rule, envelope and record ids inside."""
    import carbonguard.ledger.ledger as ledger_mod
    from carbonguard.ledger.sqlite_store import SQLiteStore

    saved = ledger_mod.normalise, ledger_mod.envelope_bytes, ledger_mod._uuid4, SQLiteStore.head
    ledger_mod.normalise, ledger_mod.envelope_bytes = normalise, envelope_bytes
    ledger_mod._uuid4 = lambda: str(uuid.uuid4())
    SQLiteStore.head = SQLiteStore._read_head  # type: ignore[method-assign]  (every append read the head)
    try:
        yield
    finally:
        ledger_mod.normalise, ledger_mod.envelope_bytes, ledger_mod._uuid4, SQLiteStore.head = saved


def envelope_bytes(header: Header, payload: Any, simple_keys: bool = True) -> bytes:
    env = {
        "key_id": header.key_id,
        "payload": payload,
        "prev_hash": header.prev_hash,
        "producer": header.producer,
        "record_id": header.record_id,
        "record_type": header.record_type,
        "run_id": header.run_id,
        "schema": SCHEMA_VERSION,
        "seq": header.seq,
        "time": header.time,
    }
    return canonical_bytes(env, simple_keys)


def decimal_string(value: float) -> str:
    """The ledger's float rule: shortest round-trip digits (`repr`), written without an exponent.

    `1e-07` becomes `"0.0000001"`, `3.0` stays `"3.0"`, `1e+22` becomes `"10000000000000000000000"`.
    `float(decimal_string(x)) == x` for every finite float.
    """
    if value - value != 0.0:  # NaN or infinity
        raise ValueError(f"{value!r} is not a finite number")
    text = format(Decimal(repr(value)), "f")
    if "." not in text:
        text += ".0"  # keep it recognisably a decimal quantity, as repr does
    return text


def normalise(value: Any, path: str = "payload") -> tuple[Any, bool]:
    """Convert a payload into the JSON subset the ledger stores; return it and `simple_keys`.

    `simple_keys` is False when some object key holds a character at or above U+D800, where the
    UTF-16 key order of RFC 8785 differs from Python's code-point order. The walk is on every
    append's hot path, so the field path of an error is only built when there is an error.
    """
    simple = True

    def where(trail: tuple) -> str:
        text = path
        for step in trail:
            text += f"[{step}]" if isinstance(step, int) else f".{step}"
        return text

    def walk(v: Any, trail: tuple) -> Any:
        nonlocal simple
        kind = type(v)
        if kind is str:
            if not v.isascii():
                _check_string(v, trail, where)
            return v
        if kind is float:
            if v - v != 0.0:  # NaN or infinity
                raise InputError(Problem(f"{v!r} is not a number the ledger can record (NaN and "
                                         "infinity are refused)", field_path=where(trail)))
            return decimal_string(v)
        if kind is dict or isinstance(v, Mapping):
            out = {}
            for k, item in v.items():
                if type(k) is not str:
                    raise InputError(Problem(f"object key {k!r} is not a string", field_path=where(trail)))
                if not k.isascii():
                    _check_string(k, trail, where)
                    if simple and any(ord(c) >= 0xD800 for c in k):
                        simple = False
                # ASCII strings and None (most of a payload) need no work and no trail
                out[k] = item if (item is None or (type(item) is str and item.isascii())) else walk(item, (*trail, k))
            return out
        if kind is list or kind is tuple:
            return [item if type(item) is str and item.isascii() else walk(item, (*trail, i))
                    for i, item in enumerate(v)]
        if v is None or kind is bool:
            return v
        if isinstance(v, int) and not isinstance(v, bool):
            if abs(v) > MAX_SAFE_INT:
                raise InputError(Problem(f"integer {v} is outside the exactly representable range "
                                         f"(|n| <= 2**53-1); pass it as a decimal string",
                                         field_path=where(trail)))
            return int(v)
        if isinstance(v, str):
            return walk(str(v), trail)
        if isinstance(v, float):
            return walk(float(v), trail)
        if isinstance(v, Decimal):
            if not v.is_finite():
                raise InputError(Problem(f"{v} is not finite", field_path=where(trail)))
            return format(v, "f")
        if isinstance(v, Enum):
            return walk(v.value, trail)
        if isinstance(v, datetime):
            if v.tzinfo is None:
                raise InputError(Problem("naive datetime; the ledger records UTC-aware times",
                                         field_path=where(trail)))
            return v.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        if isinstance(v, (list, tuple)):
            return [walk(item, (*trail, i)) for i, item in enumerate(v)]
        raise InputError(Problem(f"value of type {type(v).__name__} cannot be recorded; "
                                 "pass model.model_dump(mode='json')", field_path=where(trail)))

    return walk(value, ()), simple

