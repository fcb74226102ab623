"""Certificate claims: which run holds which certificates of a registry, at most once.

Why here and not in `Ledger`: a claim is a domain rule (an inclusive id range, an hour, a zone, a
beneficiary, an amount of energy) written through the chain; the ledger only supplies the
serialised transaction in which the overlap check and the write happen together. `Ledger.
claim_certificates` and `Transaction.claim_certificates` call `claim_payload` and then write.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from carbonguard.errors import InputError, Problem

MAX_CERTIFICATE_ID = 2**63 - 2


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


def claim_payload(
    registry: str,
    certificate_range: tuple[int, int] | str,
    run_id: str,
    beneficiary: str,
    hour: datetime | str,
    zone: str,
    mwh: float | Decimal | str,
) -> tuple[dict[str, Any], int, int]:
    """The `claim` record's payload and the parsed range; bad input raises `InputError`."""
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
    return payload, first, last


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
