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
    text = repr(value)
    if "e" not in text and "n" not in text:  # no exponent, not inf or nan: `repr` is the answer
        return text
    if value - value != 0.0:  # NaN or infinity
        raise ValueError(f"{value!r} is not a finite number")
    text = format(Decimal(text), "f")
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
        # Exact built-in types first (what `model_dump(mode="json")` gives), each by an identity
        # test: an isinstance(v, Mapping) per number cost more than the number itself.
        if kind is str:
            if not v.isascii():
                _check_string(v, trail, where)
            return v
        if kind is int or (kind is not bool and isinstance(v, int)):
            if abs(v) > MAX_SAFE_INT:
                raise InputError(Problem(f"integer {v} is outside the exactly representable range "
                                         f"(|n| <= 2**53-1); pass it as a decimal string",
                                         field_path=where(trail)))
            return v if kind is int else int(v)
        if kind is float:
            if v - v != 0.0:  # NaN or infinity
                raise InputError(Problem(f"{v!r} is not a number the ledger can record (NaN and "
                                         "infinity are refused)", field_path=where(trail)))
            return decimal_string(v)
        if kind is list or kind is tuple:
            return [item if type(item) is str and item.isascii() else walk(item, (*trail, i))
                    for i, item in enumerate(v)]
        if v is None or kind is bool:
            return v
        if kind is dict or isinstance(v, Mapping):
            out = {}
            for k, item in v.items():
                if type(k) is not str:
                    raise InputError(Problem(f"object key {k!r} is not a string", field_path=where(trail)))
                if not k.isascii():
                    _check_string(k, trail, where)
                    if simple and any(ord(c) >= 0xD800 for c in k):
                        simple = False
                # ASCII strings, null, booleans and safe integers (most of a payload) pass as they
                # are, finite floats and empty lists need no trail; everything else is walked
                leaf = type(item)
                if (item is None or (leaf is str and item.isascii()) or leaf is bool
                        or (leaf is int and -MAX_SAFE_INT <= item <= MAX_SAFE_INT)):
                    out[k] = item
                elif leaf is float and item - item == 0.0:
                    out[k] = decimal_string(item)
                elif leaf is list and not item:
                    out[k] = []
                else:
                    out[k] = walk(item, (*trail, k))
            return out
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


def _check_string(s: str, trail: tuple, where: Any) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(Problem("string holds a lone surrogate, which JSON cannot carry",
                                 field_path=where(trail))) from exc


def canonical_bytes(value: Any, simple_keys: bool = True) -> bytes:
    """RFC 8785 bytes of a value already in the ledger's JSON subset (see `normalise`)."""
    return canonical_text(value, simple_keys).encode("utf-8")


def canonical_text(value: Any, simple_keys: bool = True) -> str:
    """`canonical_bytes` before its UTF-8 encoding (to be embedded in a larger canonical text)."""
    return _dumps(value) if simple_keys else _slow(value)


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
