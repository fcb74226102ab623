"""Certificate rows, signed files and policies for the matching tests."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from carbonguard.ledger.keys import Signer
from carbonguard.matching.inputs import CertificateFile, parse_certificates
from carbonguard.matching.signature import check_signature
from carbonguard.policy.models import Matching

HOUR = datetime(2026, 3, 2, 10, tzinfo=timezone.utc)
BENEFICIARY = "Example AI GmbH"
REGISTRY = "demo-registry"
SIGNER = Signer.generate()


def at(hours: float) -> datetime:
    return HOUR + timedelta(hours=hours)


def bundle(first: int, last: int, hour: float = 0, **changes: Any) -> dict[str, Any]:
    """A bundle that passes every rule for a run in FR at HOUR + `hour`, with `changes` applied."""
    face = changes.pop("face_value", 1)
    row: dict[str, Any] = {
        "registry": REGISTRY,
        "certificate_bundle_id_range_start": first,
        "certificate_bundle_id_range_end": last,
        "bundle_quantity": (last - first + 1) * face,
        "face_value": face,
        "energy_carrier": "electricity",
        "energy_source": "wind",
        "device_id": "FR-WIND-1",
        "device_capacity": 10_000_000,
        "production_starting_interval": at(hour).isoformat(),
        "production_ending_interval": at(hour + 1).isoformat(),
        "certificate_bundle_status": "Cancelled",
        "beneficiary": BENEFICIARY,
        "expiry_datestamp": "2027-03-02",
        "cancellation_timestamp": "2026-03-03T09:00:00Z",
        "is_storage": False,
        "zone": "FR",
    }
    row.update(changes)
    return {k: v for k, v in row.items() if v is not None}


def policy(**changes: Any) -> Matching:
    base: dict[str, Any] = {"min_cfe": 0.9, "beneficiary": BENEFICIARY,
                            "registries": [{"name": REGISTRY, "public_key": SIGNER.public_b64}]}
    base.update(changes)
    return Matching.model_validate(base)


def json_bytes(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps(rows, indent=1).encode()


def jsonl_bytes(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("true" if v is True else "false" if v is False else v) for k, v in row.items()})
    return out.getvalue().encode()


def signed(rows: list[dict[str, Any]], name: str = "certs.json", signer: Signer = SIGNER,
           pinned: dict[str, str] | None = None) -> CertificateFile:
    """Parse rows (as JSON) and check a real signature over the exact bytes."""
    data = json_bytes(rows)
    loaded = parse_certificates(data, name)
    keys = pinned if pinned is not None else {REGISTRY: SIGNER.public_b64}
    loaded.signature = check_signature(data, signer.sign(data).encode(), loaded.registries, keys)
    return loaded


def write_signed(path: Path, data: bytes, signer: Signer = SIGNER) -> Path:
    path.write_bytes(data)
    path.with_name(path.name + ".sig").write_text(signer.sign(data) + "\n")
    return path


def matching_policy(name: str, extra: str = "") -> str:
    """A policy for zone FR pinning the test registry: min_cfe 0.5 for BENEFICIARY; `extra` is appended."""
    return f"""\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {{name: {name}, version: "1"}}
spec:
  location: {{zone: FR}}
  pue: 1.0
  measurement: {{estimated: allow, unavailable: allow}}
  matching:
    min_cfe: 0.5
    beneficiary: {BENEFICIARY}
    registries:
      - {{name: {REGISTRY}, public_key: {SIGNER.public_b64}}}
{extra}"""
