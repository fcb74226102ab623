"""A training flow under a real Prefect API whose carbon gate blocks promotion when the hourly CFE
score is below the policy's minimum and allows it above, with real signed certificate exports.

No GPU exists here, and a metered CPU stage of a test draws far less than the 1 Wh of one
certificate, so the flow's GPU stage is recorded the way a GPU worker on another host records its
stage: a stage record in the shared ledger under this flow run's id (10 Wh by its energy counter,
in a fixed past hour so the test never straddles an hour boundary). The gate then reads it like
any other stage of the run.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from prefect import flow, task
from workloads import burn_cpu as _burn  # tests/prefect is on sys.path under pytest

from carbonguard.errors import GateBlocked
from carbonguard.ledger import Signer, open_ledger
from carbonguard.models import ComponentEnergy, Outcome, StageRecord
from carbonguard.prefect import carbon_gate, metered

HOUR = datetime(2026, 3, 2, 10, tzinfo=timezone.utc)
REGISTRY_KEY = Signer.generate()
POLICY = f"""\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {{name: flow-matching, version: "1"}}
spec:
  location: {{zone: DE}}
  pue: 1.0
  measurement: {{estimated: allow, unavailable: block}}
  matching:
    min_cfe: 0.5
    beneficiary: Example AI GmbH
    registries:
      - {{name: test-registry, public_key: {REGISTRY_KEY.public_b64}}}
"""


def signed_export(path: Path, wh: int) -> str:
    """`wh` 1-Wh wind certificates produced in HOUR in DE, cancelled for the policy's beneficiary."""
    row = {"registry": "test-registry", "certificate_bundle_id_range_start": 1000,
           "certificate_bundle_id_range_end": 1000 + wh - 1, "bundle_quantity": wh, "face_value": 1,
           "energy_carrier": "electricity", "energy_source": "wind", "device_id": "DE-WIND-7",
           "production_starting_interval": HOUR.isoformat(),
           "production_ending_interval": (HOUR + timedelta(hours=1)).isoformat(),
           "certificate_bundle_status": "Cancelled", "beneficiary": "Example AI GmbH",
           "expiry_datestamp": "2027-03-02", "cancellation_timestamp": "2026-03-03T00:00:00Z", "zone": "DE"}
    data = json.dumps({"granular_certificate_bundles": [row]}).encode()
    path.write_bytes(data)
    path.with_name(path.name + ".sig").write_text(REGISTRY_KEY.sign(data))
    return str(path)


@task
@metered(stage="prepare")
def prepare_stage() -> int:
    return _burn(0.02)


@task
def gpu_stage_recorded_by_worker(run_id: str) -> None:
    record = StageRecord(run_id=run_id, flow_name="matched-training", stage="train", host="gpu-worker-1", pid=7,
                         start=HOUR + timedelta(minutes=10), end=HOUR + timedelta(minutes=40),
                         components=(ComponentEnergy(component="gpu", device="GPU-a1b2", method="counter",
                                                     energy_kwh=0.01, source="nvml:total-energy-counter"),))
    with open_ledger() as ledger:
        ledger.append("stage", record.model_dump(mode="json"))


@task
def promote_stage(marker: Path) -> None:
    marker.write_text("promoted")


@flow
def matched_training(policy: str, certificates: str, marker: str) -> tuple[str, Outcome]:
    from prefect.runtime import flow_run

    prepare_stage()
    gpu_stage_recorded_by_worker(flow_run.id)
    decision = carbon_gate(policy, certificates=certificates)
    if decision.outcome in (Outcome.ALLOW, Outcome.WARN):
        promote_stage(Path(marker))
    return flow_run.id, decision.outcome


@pytest.fixture
def policy(tmp_path: Path) -> str:
    path = tmp_path / "matching.yaml"
    path.write_text(POLICY)
    return str(path)


def test_gate_allows_promotion_when_cfe_reaches_the_minimum(policy: str, tmp_path: Path) -> None:
    marker = tmp_path / "promoted"
    run_id, outcome = matched_training(policy, signed_export(tmp_path / "certs.json", 8), str(marker))
    assert outcome == Outcome.ALLOW and marker.read_text() == "promoted"
    with open_ledger() as ledger:
        (decision,) = ledger.records(run_id=run_id, record_type="decision")
        assert float(decision.payload["cfe_score"]) == pytest.approx(0.8, abs=0.01)  # 8 of 10 Wh (+ the CPU stage)
        (claim,) = ledger.records(record_type="claim")
        assert claim.run_id == run_id and claim.payload["certificate_first"] == "1000"
        assert len(ledger.records(run_id=run_id, record_type="match")) == 1
        assert ledger.verify().ok


def test_gate_blocks_promotion_when_cfe_is_below_the_minimum(policy: str, tmp_path: Path) -> None:
    marker = tmp_path / "promoted"
    with pytest.raises(GateBlocked) as info:
        matched_training(policy, signed_export(tmp_path / "certs.json", 2), str(marker))
    assert not marker.exists()
    decision = info.value.decision
    assert decision.outcome == Outcome.BLOCK and decision.cfe_score == pytest.approx(0.2, abs=0.01)
    assert "matching.cfe" in {f.rule_id for f in decision.active_findings}
    with open_ledger() as ledger:
        assert ledger.records(record_type="decision")[-1].payload["outcome"] == "block"
        assert len(ledger.records(record_type="claim")) == 1  # the claim is recorded with the decision
        assert ledger.verify().ok
