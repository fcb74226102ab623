"""Canonical JSON (RFC 8785) for ledger records, and the float-to-decimal rule.

Why: a record hash must be reproducible by any auditor from the record's JSON alone, so the bytes
that are hashed are fixed by RFC 8785 (the JSON Canonicalization Scheme). The ledger never stores a
float: every float is written as the shortest decimal string that reads back to the same float
(`repr` digits, written out without an exponent), so the canonical form only ever holds strings,
integers, booleans, null, objects and arrays. For that subset RFC 8785 is: no whitespace, object
keys sorted by their UTF-16 code units, strings escaped minimally (`"`, `\\`, and control characters),
integers in plain decimal.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

from carbonguard.errors import InputError, Problem

# I-JSON (RFC 7493) and RFC 8785 limit integers to those a double holds exactly.
MAX_SAFE_INT = 2**53 - 1

_dumps = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
).encode
_encode_string = json.encoder.encode_basestring  # type: ignore[attr-defined]


def decimal_string(value: float) -> str:
    """The ledger's float rule: shortest round-trip digits (`repr`), written without an exponent.

    `1e-07` becomes `"0.0000001"`, `3.0` stays `"3.0"`, `1e+22` becomes `"10000000000000000000000"`.
    `float(decimal_string(x)) == x` for every finite float.
    """
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    text = format(Decimal(repr(value)), "f")
    if "." not in text:
        text += ".0"  # keep it recognisably a decimal quantity, as repr does
    return text


def normalise(value: Any, path: str = "payload") -> tuple[Any, bool]:
    """Convert a payload into the JSON subset the ledger stores; return it and `simple_keys`.

    `simple_keys` is False when some object key holds a character at or above U+D800, where the
    UTF-16 key order of RFC 8785 differs from Python's code-point order.
    """
    simple = True

    def walk(v: Any, where: str) -> Any:
        nonlocal simple
        if v is None or isinstance(v, (bool, str)):
            if isinstance(v, str):
                _check_string(v, where)
            return v
        if isinstance(v, int):
            if abs(v) > MAX_SAFE_INT:
                raise InputError(Problem(f"integer {v} is outside the exactly representable range "
                                         f"(|n| <= 2**53-1); pass it as a decimal string", field_path=where))
            return int(v)
        if isinstance(v, float):
            if not math.isfinite(v):
                raise InputError(Problem(f"{v!r} is not a number the ledger can record (NaN and "
                                         "infinity are refused)", field_path=where))
            return decimal_string(v)
        if isinstance(v, Decimal):
            if not v.is_finite():
                raise InputError(Problem(f"{v} is not finite", field_path=where))
            return format(v, "f")
        if isinstance(v, Enum):
            return walk(v.value, where)
        if isinstance(v, datetime):
            if v.tzinfo is None:
                raise InputError(Problem("naive datetime; the ledger records UTC-aware times",
                                         field_path=where))
            return v.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        if isinstance(v, Mapping):
            out = {}
            for k, item in v.items():
                if not isinstance(k, str):
                    raise InputError(Problem(f"object key {k!r} is not a string", field_path=where))
                _check_string(k, where)
                if simple and any(ord(c) >= 0xD800 for c in k):
                    simple = False
                out[k] = walk(item, f"{where}.{k}")
            return out
        if isinstance(v, (list, tuple)):
            return [walk(item, f"{where}[{i}]") for i, item in enumerate(v)]
        raise InputError(Problem(f"value of type {type(v).__name__} cannot be recorded; "
                                 "pass model.model_dump(mode='json')", field_path=where))

    return walk(value, path), simple


def _check_string(s: str, where: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(Problem("string holds a lone surrogate, which JSON cannot carry",
                                 field_path=where)) from exc


def canonical_bytes(value: Any, simple_keys: bool = True) -> bytes:
    """RFC 8785 bytes of a value already in the ledger's JSON subset (see `normalise`)."""
    if simple_keys:
        return _dumps(value).encode("utf-8")
    return _slow(value).encode("utf-8")


def _slow(v: Any) -> str:
    """General path: sort keys by UTF-16 code units, as RFC 8785 section 3.2.3 requires."""
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(_encode_string(k) + ":" + _slow(v[k]) for k in keys) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_slow(i) for i in v) + "]"
    return _dumps(v)


def encode_string(s: str) -> str:
    """One JSON string in canonical form."""
    return _encode_string(s)
