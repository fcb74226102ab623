"""The certificate schema is generated from the models; the bulk validator agrees with the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from carbonguard.matching.models import GranularCertificateBundle
from carbonguard.matching.schema import SCHEMA_PATH, certificates_schema, certificates_schema_text
from carbonguard.matching.table import BUNDLE_FIELDS, BundleParser, BundleTable, RowError

from .helpers import bundle

REPO = Path(__file__).resolve().parents[2]
OFFSET = {"kind": "offset", "registry": "verra", "serial": "VCS-1", "vintage_year": 2025, "status": "retired",
          "retirement_beneficiary": "x", "tco2e": 2}


def test_checked_in_schema_matches_models() -> None:
    assert (REPO / SCHEMA_PATH).read_text() == certificates_schema_text(), (
        "certificate schema drifted from the models: run `python scripts/certificate_schema.py`")


def test_schema_is_valid_and_accepts_both_forms() -> None:
    schema = certificates_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate([bundle(0, 9), OFFSET], schema)
    jsonschema.validate({"granular_certificate_bundles": [bundle(0, 9)], "offsets": [OFFSET]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([bundle(0, 9, face_value=0, bundle_quantity=1)], schema)


def test_examples_validate_against_the_schema() -> None:
    schema = certificates_schema()
    examples = sorted((REPO / "examples" / "certificates").glob("*.json"))
    assert examples
    for path in examples:
        jsonschema.validate(json.loads(path.read_text()), schema)


VALUES: list[tuple[str, Any]] = [
    ("face_value", 0), ("face_value", -1), ("face_value", 1.5), ("face_value", "3"), ("face_value", True),
    ("bundle_quantity", 0), ("certificate_bundle_id_range_start", -1),
    ("certificate_bundle_id_range_end", 2**63), ("certificate_bundle_id_range_start", 10**6),
    ("registry", ""), ("registry", "r" * 65), ("registry", 7), ("energy_source", None),
    ("device_id", 12), ("device_id", 1.5), ("device_id", None),
    ("device_capacity", 0), ("device_capacity", -5.5), ("device_capacity", "5"), ("device_capacity", 2.5),
    ("production_starting_interval", "2026-03-02T10:00:00"), ("production_starting_interval", "2026-03-02"),
    ("production_starting_interval", "2026-03-02T10:30:00+02:00"), ("production_ending_interval", "2026-03-02T09:00Z"),
    ("certificate_bundle_status", "CANCELLED"), ("certificate_bundle_status", "cancelled"),
    ("certificate_bundle_status", "Claimed"), ("certificate_bundle_status", "done"),
    ("beneficiary", ""), ("beneficiary", None), ("expiry_datestamp", "2027-02-30"),
    ("expiry_datestamp", "2027-03-02T00:00:00+00:00"), ("expiry_datestamp", 20270302),
    ("cancellation_timestamp", None), ("cancellation_timestamp", "soon"),
    ("is_storage", 1), ("is_storage", 2), ("is_storage", "yes"), ("is_storage", None),
    ("sdr_allocation_id", 5), ("sdr_allocation_id", ""), ("storage_efficiency_factor", 0),
    ("storage_efficiency_factor", 1), ("storage_efficiency_factor", 1.01), ("storage_efficiency_factor", 0.5),
    ("zone", None), ("zone", ""), ("issue_market_zone", "FR"), ("kind", "granular"), ("kind", "annual"),
    ("issuance_id", 3), ("issuance_id", "x"),
]


def _model_ok(row: dict[str, Any]) -> bool:
    try:
        GranularCertificateBundle.model_validate(row)
    except ValidationError:
        return False
    return True


def _row_ok(row: dict[str, Any]) -> bool:
    try:
        BundleParser(BundleTable("x"), text=False).add(row, 1)
    except RowError:
        return False
    return True


def _columns_ok(row: dict[str, Any]) -> bool:
    table = BundleTable("x")
    ok = BundleParser(table, text=False).add_columns({k: [row.get(k)] for k in BUNDLE_FIELDS}, [1])
    assert ok == (len(table) == 1)
    return ok


@pytest.mark.parametrize(("field", "value"), VALUES, ids=[f"{f}={v!r}" for f, v in VALUES])
def test_bulk_validator_agrees_with_the_model(field: str, value: Any) -> None:
    row = bundle(0, 999)
    row[field] = value
    if field == "issue_market_zone":
        del row["zone"]
    row = {k: v for k, v in row.items() if v is not None}
    model_ok = _model_ok(row)
    assert _row_ok(row) == model_ok
    if _columns_ok(row):  # the column path may refuse more (then rows decide), never accept more
        assert model_ok


def test_table_round_trips_every_field_to_the_model() -> None:
    row = bundle(0, 999, is_storage=True, sdr_allocation_id="s-1", storage_efficiency_factor=0.9,
                 issuance_id="i-1", device_capacity=2.5e6)
    for path in ("columns", "rows"):
        table = BundleTable("x")
        parser = BundleParser(table, text=False)
        if path == "columns":
            assert parser.add_columns({k: [row.get(k)] for k in BUNDLE_FIELDS}, [1])
        else:
            parser.add(row, 1)
        assert table.bundle(0) == GranularCertificateBundle.model_validate(row)
    assert set(BUNDLE_FIELDS) == set(GranularCertificateBundle.model_fields)


@pytest.mark.parametrize("encode", ["csv", "json", "jsonl"])
def test_valid_exports_take_the_column_path(encode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The row-by-row validator is only the fallback that names problems; valid chunks never use it."""
    from carbonguard.matching.inputs import parse_certificates

    from .helpers import csv_bytes, json_bytes, jsonl_bytes

    def refuse(*_: object) -> None:
        raise AssertionError("row path used for a valid chunk")

    monkeypatch.setattr(BundleParser, "add", refuse)
    rows = [bundle(0, 999, beneficiary=None), bundle(1000, 1999, is_storage=True, sdr_allocation_id="9",
                                                      storage_efficiency_factor=0.5, cancellation_timestamp=None)]
    data = {"csv": csv_bytes, "json": json_bytes, "jsonl": jsonl_bytes}[encode](rows)
    loaded = parse_certificates(data, f"x.{encode}")
    assert [b.model_dump() for b in map(loaded.bundles.bundle, range(2))] == [
        GranularCertificateBundle.model_validate(r).model_dump() for r in rows]
