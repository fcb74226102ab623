"""Loading exports: three formats, located errors (exit 2), nothing half-loaded, signatures."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from carbonguard.cli.main import main
from carbonguard.errors import InputError
from carbonguard.ledger.keys import Signer
from carbonguard.matching import match_certificates
from carbonguard.matching.inputs import parse_certificates
from carbonguard.matching.loader import load_certificate_files, load_certificates

from .helpers import HOUR, REGISTRY, SIGNER, bundle, csv_bytes, json_bytes, jsonl_bytes, policy, write_signed

ENCODERS = {"json": json_bytes, "jsonl": jsonl_bytes, "csv": csv_bytes}
OFFSET = {"kind": "offset", "registry": "verra", "serial": "VCS-1-2", "vintage_year": 2025, "status": "retired",
          "retirement_beneficiary": "Example AI GmbH", "tco2e": 2}
ANNUAL = {"kind": "annual", "instrument": "GO", "registry": REGISTRY, "serial_start": 1, "serial_end": 10,
          "vintage_year": 2026, "zone": "FR", "energy_mwh": 10, "status": "cancelled",
          "beneficiary": "Example AI GmbH"}


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_every_format_loads_the_same_bundles(fmt: str) -> None:
    rows = [bundle(0, 999), bundle(1000, 1999, hour=1, is_storage=True, sdr_allocation_id="77",
                                   storage_efficiency_factor=0.85), OFFSET, ANNUAL]
    loaded = parse_certificates(ENCODERS[fmt](rows), f"certs.{fmt}")
    assert len(loaded.bundles) == 2 and len(loaded.offsets) == 1 and len(loaded.annual) == 1
    second = loaded.bundles.bundle(1)
    assert second.is_storage and second.sdr_allocation_id == "77" and second.storage_efficiency_factor == 0.85
    assert loaded.bundles.bundle(0).certificate_range == "0-999"
    assert loaded.offsets[0][0].tco2e == 2 and loaded.annual[0][0].serial == "1-10"


def test_json_document_form_of_a_registry_query() -> None:
    data = (b'{"source_id": 1, "total_certificate_volume": 1000, "granular_certificate_bundles": ['
            + json_bytes([bundle(0, 999, account_id=3, hash="ab", issuance_id="1-2026-03-02T10:00:00")])
            [1:-1] + b'], "offsets": [' + json_bytes([OFFSET])[1:-1] + b"]}")
    loaded = parse_certificates(data, "export.json")
    assert len(loaded.bundles) == 1 and loaded.bundles.issuance_id[0] == "1-2026-03-02T10:00:00"
    assert len(loaded.offsets) == 1


BAD_ROWS = [
    ({"face_value": "1", "bundle_quantity": 1000}, "face_value", "is not an integer"),
    ({"face_value": 0, "bundle_quantity": 1000}, "face_value", "outside"),
    ({"certificate_bundle_id_range_end": -1}, "certificate_bundle_id_range_end", "outside"),
    ({"certificate_bundle_id_range_start": 5, "certificate_bundle_id_range_end": 4},
     "certificate_bundle_id_range_end", "before"),
    ({"production_starting_interval": "2026-03-02T10:00:00"}, "production_starting_interval", "no UTC offset"),
    ({"production_ending_interval": "yesterday"}, "production_ending_interval", "not an ISO 8601 time"),
    ({"production_ending_interval": "2026-03-02T09:00:00Z"}, "production_ending_interval", "must be after"),
    ({"certificate_bundle_status": "gone"}, "certificate_bundle_status", "is not one of"),
    ({"registry": None}, "registry", "required field is missing"),
    ({"zone": None}, "zone", "exactly one of"),
    ({"storage_efficiency_factor": 1.5}, "storage_efficiency_factor", "at most 1"),
    ({"device_capacity": -3}, "device_capacity", "greater than 0"),
    ({"expiry_datestamp": "2027-13-01"}, "expiry_datestamp", "not a date"),
]


@pytest.mark.parametrize(("changes", "field", "fragment"), BAD_ROWS, ids=[b[1] + "-" + b[2] for b in BAD_ROWS])
@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_bad_field_is_located(fmt: str, changes: dict, field: str, fragment: str) -> None:
    if fmt == "csv" and changes.get("face_value") == "1":
        pytest.skip("CSV has only strings; '1' is an integer there")
    rows = [bundle(0, 999), bundle(1000, 1999, **changes)]
    with pytest.raises(InputError) as info:
        parse_certificates(ENCODERS[fmt](rows), f"certs.{fmt}")
    text = str(info.value)
    assert fragment in text
    expected = {"json": f"certs.json: $[1].{field}: ",
                "jsonl": f"certs.jsonl:2: {field}: ",
                "csv": f"certs.csv:3: {field}: "}[fmt]
    assert text.startswith(expected), text


def test_json_document_paths_and_syntax_errors() -> None:
    doc = b'{"granular_certificate_bundles": [], "offsets": [{"registry": "v", "serial": "s", "vintage_year": 2025,' \
          b' "status": "burnt", "tco2e": 1}]}'
    with pytest.raises(InputError, match=r"x\.json: \$\.offsets\[0\]\.status: "):
        parse_certificates(doc, "x.json")
    with pytest.raises(InputError, match=r"x\.json:2:\d+: not JSON"):
        parse_certificates(b'[\n{"a": }]', "x.json")
    with pytest.raises(InputError, match=r"x\.jsonl:2:\d+: not JSON"):
        parse_certificates(jsonl_bytes([bundle(0, 9)]) + b"{oops\n", "x.jsonl")
    with pytest.raises(InputError, match=r"x\.json: \$: expected an array"):
        parse_certificates(b'{"rows": []}', "x.json")


def test_csv_structure_errors() -> None:
    good = csv_bytes([bundle(0, 9)])
    with pytest.raises(InputError, match=r"x\.csv:3: 2 cells, but the header has"):
        parse_certificates(good + b"a,b\n", "x.csv")
    with pytest.raises(InputError, match=r"x\.csv:1: column named twice: zone"):
        parse_certificates(b"zone,zone\nFR,FR\n", "x.csv")
    with pytest.raises(InputError, match=r"x\.csv:2: not UTF-8"):
        parse_certificates(good.replace(b"wind", b"w\xffnd"), "x.csv")
    with pytest.raises(InputError, match=r"x\.csv:2: kind: 'lease' is not one of"):
        parse_certificates(b"kind,registry\nlease,r\n", "x.csv")
    with pytest.raises(InputError, match="unknown certificate file type"):
        parse_certificates(good, "x.xml")


def test_many_bad_rows_are_reported_together_and_capped() -> None:
    rows = [bundle(i * 10, i * 10 + 9, face_value=0) for i in range(50)]
    with pytest.raises(InputError) as info:
        parse_certificates(jsonl_bytes(rows), "x.jsonl")
    assert len(info.value.problems) == 21 and "stopped after 20" in str(info.value.problems[-1])


def test_one_bad_file_loads_nothing(tmp_path: Path) -> None:
    good = write_signed(tmp_path / "good.csv", csv_bytes([bundle(0, 999)]))
    bad = write_signed(tmp_path / "bad.jsonl", jsonl_bytes([bundle(0, 9), bundle(10, 19, zone=None)]))
    with pytest.raises(InputError, match=r"bad\.jsonl:2: zone"):
        load_certificate_files([good, bad], policy().pinned_keys)
    with pytest.raises(InputError, match="no such file"):
        load_certificates(tmp_path / "missing.csv")


def _match(path: Path, pinned: dict[str, str]):
    loaded = load_certificates(path, pinned)
    return loaded, match_certificates([(HOUR, 10.0)], [loaded], policy(), run_id="r", zone="FR")


def test_signed_export_verifies_and_matches(tmp_path: Path) -> None:
    path = write_signed(tmp_path / "certs.csv", csv_bytes([bundle(0, 999)]))
    loaded, result = _match(path, policy().pinned_keys)
    assert loaded.signature is not None and loaded.signature.state == "verified"
    assert result.matched_kwh == pytest.approx(1.0) and not result.rejected


@pytest.mark.parametrize(("case", "state", "fragment"), [
    ("unsigned", "unsigned", "certs.csv.sig is missing"),
    ("wrong-key", "bad-signature", "does not verify with the key pinned"),
    ("tampered", "bad-signature", "does not verify with the key pinned"),
    ("malformed", "malformed", "not the base64 of a 64-byte"),
    ("unpinned", "unpinned", "is not pinned"),
])
def test_unverifiable_exports_match_nothing(tmp_path: Path, case: str, state: str, fragment: str) -> None:
    data = csv_bytes([bundle(0, 999), bundle(1000, 1999)])
    path = tmp_path / "certs.csv"
    pinned = policy().pinned_keys
    if case == "unsigned":
        path.write_bytes(data)
    elif case == "wrong-key":
        write_signed(path, data, signer=Signer.generate())
    elif case == "tampered":
        write_signed(path, data)
        path.write_bytes(data.replace(b"1999", b"2999").replace(b",1000,", b",2000,"))
    elif case == "malformed":
        path.write_bytes(data)
        path.with_name("certs.csv.sig").write_text(base64.b64encode(b"x" * 63).decode())
    else:
        write_signed(path, data)
        pinned = {}
    loaded, result = _match(path, pinned)
    assert loaded.signature is not None and loaded.signature.state == state
    assert result.matched_kwh == 0 and not result.claims
    assert {r.rule_id for r in result.rejected} == {"matching.unverified"} and len(result.rejected) == 2
    assert fragment in result.rejected[0].reason


def test_a_registry_vouches_only_for_its_own_rows(tmp_path: Path) -> None:
    rows = [bundle(0, 999), bundle(0, 999, registry="someone-else")]
    path = write_signed(tmp_path / "certs.json", json_bytes(rows))
    _, result = _match(path, {REGISTRY: SIGNER.public_b64, "someone-else": Signer.generate().public_b64})
    assert [(r.registry, r.rule_id) for r in result.rejected] == [("someone-else", "matching.unverified")]
    assert result.matched_kwh == pytest.approx(1.0)


def test_keys_commands_make_a_registry_key_and_sign(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["keys", "registry-generate", "--out", str(tmp_path), "--name", "reg"]) == 0
    out = capsys.readouterr().out
    public_b64 = out.split("public_key: ")[1].split()[0]
    assert (tmp_path / "reg.pem").stat().st_mode & 0o777 == 0o600
    assert main(["keys", "registry-generate", "--out", str(tmp_path), "--name", "reg"]) == 2  # never overwrites
    export = tmp_path / "certs.jsonl"
    export.write_bytes(jsonl_bytes([bundle(0, 999)]))
    assert main(["keys", "sign", str(export), "--key", str(tmp_path / "reg.pem")]) == 0
    assert len(base64.b64decode((tmp_path / "certs.jsonl.sig").read_text().strip())) == 64
    loaded = load_certificates(export, {REGISTRY: public_b64})
    assert loaded.signature is not None and loaded.signature.state == "verified"
    assert main(["keys", "sign", str(tmp_path / "missing.csv"), "--key", str(tmp_path / "reg.pem")]) == 2
