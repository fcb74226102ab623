"""`carbonguard match` and `carbonguard gate --certificates` end to end: real files, real signatures,
a real ledger, the CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from carbonguard.ledger import Signer, open_ledger
from carbonguard.models import ComponentEnergy, StageRecord

REPO = Path(__file__).resolve().parents[2]
HOUR = datetime(2026, 3, 2, 10, tzinfo=timezone.utc)
KEY = Signer.generate()  # the test registry's key, pinned by the policy below
POLICY = f"""\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {{name: match-cli, version: "3"}}
spec:
  location: {{zone: FR}}
  pue: 1.0
  budgets:
    - {{id: run-co2e, metric: co2e_kg, limit: 1000, action: block}}
  measurement: {{estimated: allow, unavailable: block}}
  matching:
    min_cfe: 0.5
    beneficiary: Example AI GmbH
    registries:
      - {{name: test-registry, public_key: {KEY.public_b64}}}
"""


def bundle(first: int, last: int, hour: int = 0, **changes: object) -> dict:
    start = HOUR + timedelta(hours=hour)
    row = {"registry": "test-registry", "certificate_bundle_id_range_start": first,
           "certificate_bundle_id_range_end": last, "bundle_quantity": last - first + 1, "face_value": 1,
           "energy_carrier": "electricity", "energy_source": "wind", "device_id": "FR-WIND-1",
           "production_starting_interval": start.isoformat(),
           "production_ending_interval": (start + timedelta(hours=1)).isoformat(),
           "certificate_bundle_status": "Cancelled", "beneficiary": "Example AI GmbH",
           "expiry_datestamp": "2027-03-02", "cancellation_timestamp": "2026-03-03T09:00:00Z", "zone": "FR"}
    row.update(changes)
    return row


def export(tmp_path: Path, rows: list[dict], name: str = "certs.json", signer: Signer | None = KEY) -> str:
    path = tmp_path / name
    data = json.dumps(rows).encode()
    path.write_bytes(data)
    if signer is not None:
        path.with_name(name + ".sig").write_text(signer.sign(data) + "\n")
    return str(path)


@pytest.fixture
def policy(tmp_path: Path) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return str(path)


@pytest.fixture
def consumption(tmp_path: Path) -> str:
    path = tmp_path / "consumption.csv"
    path.write_text("hour_start,energy_kwh\n2026-03-02T10:00:00Z,0.010\n2026-03-02T11:00:00Z,0.010\n")
    return str(path)


@pytest.fixture
def run_in_ledger(_isolated_ledger: Path) -> str:
    """run-m: 10 Wh in the hour from 10:00 and 10 Wh in the hour from 11:00 (GPU counter)."""
    with open_ledger() as ledger:
        for hour in (0, 1):
            start = HOUR + timedelta(hours=hour, minutes=10)
            ledger.append("stage", StageRecord(
                run_id="run-m", flow_name="cli", stage=f"s{hour}", start=start, end=start + timedelta(minutes=30),
                host="h", pid=1, components=(ComponentEnergy(component="gpu", device="GPU-0", method="counter",
                                                             energy_kwh=0.01, source="nvml"),),
            ).model_dump(mode="json"))
    return "run-m"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carbonguard", *args], cwd=REPO, capture_output=True, text=True,
                          env=os.environ.copy(), timeout=60)


def records(kind: str | None = None) -> list:
    with open_ledger() as ledger:
        return ledger.records(record_type=kind)


def test_consumption_file_json_has_every_documented_field(policy: str, consumption: str, tmp_path: Path) -> None:
    certs = export(tmp_path, [bundle(0, 7), bundle(100, 109, hour=1), bundle(500, 599, zone="DE")])
    result = cli("match", "--policy", policy, "--certificates", certs, "--consumption", consumption, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["cfe_score"] == pytest.approx(0.9) and doc["consumption_kwh"] == pytest.approx(0.02)
    assert doc["matched_kwh"] == pytest.approx(0.018)
    first = doc["hours"][0]
    assert (first["hour_start"], first["consumption_kwh"], first["matched_kwh"]) == ("2026-03-02T10:00:00Z",
                                                                                     0.01, pytest.approx(0.008))
    assert first["certificates"][0]["range"] == "0-7"
    (rejected,) = doc["rejected"]
    assert (rejected["registry"], rejected["range"], rejected["rule_id"]) == ("test-registry", "500-599",
                                                                              "matching.zone")
    assert "'DE'" in rejected["reason"]
    for key in ("offsets", "location_co2e_kg", "market_co2e_kg"):
        assert key in doc
    assert doc["location_co2e_kg"] > 0 and doc["market_co2e_kg"] > 0
    assert doc["claims_recorded"] is None and doc["passed"] is True


def test_text_shows_score_each_hour_and_each_rejection_with_its_rule(policy: str, consumption: str,
                                                                     tmp_path: Path) -> None:
    certs = export(tmp_path, [bundle(0, 7), bundle(500, 599, zone="DE")])
    result = cli("match", "--policy", policy, "--certificates", certs, "--consumption", consumption)
    assert result.returncode == 1, result.stderr  # 40 % against a minimum of 50 %
    out = result.stdout
    assert "cfe_score (hourly): 40.0% (policy minimum 50.0%; NOT met)" in out
    assert "2026-03-02T10:00Z  0.01  0.008  0.002  80%" in out and "2026-03-02T11:00Z  0.01  0  0.01  0%" in out
    assert "test-registry 500-599: matching.zone:" in out
    assert "matching.cfe" in out and "co2e_kg (market-based)" in out


@pytest.mark.parametrize("how", ["unsigned", "wrong-key", "edited"])
def test_an_unsigned_or_wrongly_signed_export_matches_nothing(how: str, policy: str, consumption: str,
                                                              tmp_path: Path) -> None:
    rows = [bundle(0, 9), bundle(100, 109, hour=1)]
    certs = export(tmp_path, rows, signer=None if how == "unsigned" else Signer.generate() if how == "wrong-key"
                   else KEY)
    if how == "edited":  # one byte changed after signing
        Path(certs).write_bytes(Path(certs).read_bytes().replace(b"Example AI", b"Example AJ"))
    result = cli("match", "--policy", policy, "--certificates", certs, "--consumption", consumption, "--json")
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert doc["cfe_score"] == 0.0 and doc["matched_kwh"] == 0.0 and doc["claims"] == []
    assert {r["rule_id"] for r in doc["rejected"]} == {"matching.unverified"} and len(doc["rejected"]) == 2
    assert "matching.unverified" in {f["rule_id"] for f in doc["findings"]}


def test_run_records_claims_and_dry_run_writes_nothing(policy: str, run_in_ledger: str, tmp_path: Path) -> None:
    certs = export(tmp_path, [bundle(0, 9), bundle(100, 104, hour=1)])
    before = len(records())
    dry = cli("match", "--policy", policy, "--certificates", certs, "--run", run_in_ledger, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["cfe_score"] == pytest.approx(0.75)
    assert len(records()) == before
    real = cli("match", "--policy", policy, "--certificates", certs, "--run", run_in_ledger)
    assert real.returncode == 0, real.stderr
    assert "claims: 2 new claim(s) recorded" in real.stdout
    claims = records("claim")
    assert [(c.payload["certificate_first"], c.payload["certificate_last"]) for c in claims] == [("0", "9"),
                                                                                                 ("100", "104")]
    (match,) = records("match")
    assert match.run_id == "run-m" and match.payload["claims_count"] == 2
    # the gate then counts the run's own claims first and claims nothing twice
    gate = cli("gate", "--policy", policy, "--run", run_in_ledger, "--certificates", certs, "--json")
    assert gate.returncode == 0, gate.stderr
    doc = json.loads(gate.stdout)
    assert doc["decision"]["cfe_score"] == pytest.approx(0.75) and doc["match"]["claims"] == []
    assert len(records("claim")) == 2
    with open_ledger() as ledger:
        assert ledger.verify().ok


def test_gate_with_certificates_records_claims_with_the_decision(policy: str, run_in_ledger: str,
                                                                 tmp_path: Path) -> None:
    low = export(tmp_path, [bundle(0, 4)], name="low.json")  # 5 of 20 Wh
    blocked = cli("gate", "--policy", policy, "--run", run_in_ledger, "--certificates", low)
    assert blocked.returncode == 1
    assert "cfe_score (hourly): 25.0%" in blocked.stdout and "matching.cfe" in blocked.stdout
    assert "policy.yaml:11" in blocked.stdout  # the line of spec.matching.min_cfe
    kinds = [r.record_type for r in records() if r.record_type not in ("checkpoint", "key")]
    assert kinds[-5:] == ["policy", "footprint", "match", "claim", "decision"]
    (decision,) = records("decision")
    assert decision.payload["cfe_score"] == "0.25" and decision.payload["market_co2e_kg"] is not None


def test_no_certificates_under_a_matching_policy_is_cfe_zero(policy: str, run_in_ledger: str) -> None:
    result = cli("gate", "--policy", policy, "--run", run_in_ledger, "--json")
    assert result.returncode == 1
    finding = next(f for f in json.loads(result.stdout)["decision"]["findings"] if f["rule_id"] == "matching.cfe")
    assert "no certificate files were given" in finding["message"]


def test_bad_certificate_file_exits_2_before_anything_is_written(policy: str, run_in_ledger: str,
                                                                 tmp_path: Path) -> None:
    bad = export(tmp_path, [bundle(0, 9, face_value="one")], name="bad.json")
    before = len(records())
    for command in ("gate", "match"):
        result = cli(command, "--policy", policy, "--run", run_in_ledger, "--certificates", bad)
        assert result.returncode == 2, result.stderr
        assert f"{bad}: $[0].face_value" in result.stderr and "Traceback" not in result.stderr
    assert len(records()) == before


@pytest.mark.parametrize(("text", "where"), [
    ("hour_start,kwh\n", "consumption.csv:1: the header must be"),
    ("hour_start,energy_kwh\n2026-03-02T10:00:00Z,\n", "consumption.csv:2: energy_kwh: is empty"),
    ("hour_start,energy_kwh\n2026-03-02T10:30:00Z,0.1\n", "consumption.csv:2: hour_start: '2026-03-02T10:30:00Z' is "
                                                          "not the start of a UTC hour"),
    ("hour_start,energy_kwh\n2026-03-02T10:00:00,0.1\n", "consumption.csv:2: hour_start: '2026-03-02T10:00:00' has no"),
    ("hour_start,energy_kwh\n2026-03-02T10:00:00Z,0.1\n2026-03-02T10:00:00Z,0.2\n",
     "consumption.csv:3: hour_start: hour 2026-03-02T10:00Z is already given on line 2"),
    ("hour_start,energy_kwh\n2026-03-02T10:00:00Z,-1\n", "consumption.csv:2: energy_kwh: '-1' is not a number"),
])
def test_bad_consumption_exits_2_with_file_line_and_field(text: str, where: str, policy: str,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "consumption.csv"
    path.write_text(text)
    certs = export(tmp_path, [bundle(0, 9)])
    result = cli("match", "--policy", policy, "--certificates", certs, "--consumption", str(path))
    assert result.returncode == 2
    assert where in result.stderr, result.stderr


def test_hostile_certificate_text_is_stripped_from_the_terminal(policy: str, consumption: str,
                                                                tmp_path: Path) -> None:
    certs = export(tmp_path, [bundle(0, 9, registry="\x1b[2J\x1b]0;owned\x07evil")])
    result = cli("match", "--policy", policy, "--certificates", certs, "--consumption", consumption)
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "evil 0-9: matching.unverified" in result.stdout
