"""`carbonguard audit judged DECISION_HASH`: the judged records listed again from the ledger and
checked against the decision's digest (text, JSON), exit 2 for an unknown hash, 17 for a mismatch."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from carbonguard.cli.main import main
from carbonguard.ledger import open_ledger
from carbonguard.models import ComponentEnergy, Decision, Outcome, StageRecord

POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {name: judged-test, version: "1"}
spec:
  location: {zone: FR}
  pue: 1.5
  budgets:
    - {id: run-co2e, metric: co2e_kg, limit: 1000, action: block}
"""


def _stage(run_id: str, stage: str, offset_h: int) -> dict:
    start = datetime(2026, 3, 2, 9, tzinfo=timezone.utc) + timedelta(hours=offset_h)
    return StageRecord(run_id=run_id, flow_name="cli", stage=stage, start=start, end=start + timedelta(minutes=30),
                       host="trainer-1", pid=1, components=(ComponentEnergy(
                           component="gpu", device="GPU-0", method="counter", energy_kwh=1.0, source="nvml"),),
                       ).model_dump(mode="json")


@pytest.fixture
def gated(_isolated_ledger: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """A run gated through the CLI: its decision's hash and its stage records' hashes."""
    with open_ledger() as led:
        hashes = [led.append("stage", _stage("run j", s, i)).record_hash for i, s in enumerate(("a", "b", "c"))]
        led.append("stage", _stage("other", "x", 0))
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    assert main(["gate", "--policy", str(policy), "--run", "run j", "-o", f"json={tmp_path / 'gate.json'}"]) == 0
    with open_ledger() as led:
        return led.records(record_type="decision")[-1].record_hash, hashes


def test_text_lists_every_judged_record_and_the_digest_checks(gated, capsys) -> None:
    decision, hashes = gated
    assert main(["audit", "judged", decision]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("# decision seq") and "digest matches the ledger" in lines[0]
    listed = [line.split(" ", 2) for line in lines if not line.startswith("#")]
    assert [row[1] for row in listed] == hashes and {row[2] for row in listed} == {"run j"}
    # The documented shell check (docs/ledger.md), as written: a run id with a space keeps the hash
    # in the second column.
    import shutil
    import subprocess

    if shutil.which("awk") and shutil.which("sha256sum"):
        shell = subprocess.run(["bash", "-c", "grep -v '^#' | awk '{print $2}' | LC_ALL=C sort | sha256sum"],
                               input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
        assert shell.stdout.split()[0] in lines[1]
    recomputed = hashlib.sha256("".join(h + "\n" for h in sorted(hashes)).encode()).hexdigest()
    assert recomputed in lines[1]


def test_json_lists_the_records_with_the_recorded_and_derived_digest(gated, capsys) -> None:
    decision, hashes = gated
    assert main(["audit", "judged", decision, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "carbonguard.judged-records/v1" and document["matches"] is True
    assert [r["record_hash"] for r in document["records"]] == hashes
    assert document["judged_records"]["count"] == 3
    assert document["derived"]["sha256"] == document["judged_records"]["sha256"]


def test_an_unknown_or_malformed_hash_exits_2(gated, capsys) -> None:
    _, hashes = gated
    assert main(["audit", "judged", hashes[0]]) == 2  # a stage record, not a decision
    assert "no decision or footprint record with hash" in capsys.readouterr().err
    assert main(["audit", "judged", "not-a-hash"]) == 2
    assert "64 lowercase hex digits" in capsys.readouterr().err


def test_a_decision_naming_other_records_exits_17(gated, capsys) -> None:
    _, hashes = gated
    with open_ledger() as led:  # the form written before digests: accepted when the hashes exist
        stranger = led.records(run_id="other")[0].record_hash
        bad = led.append("decision", Decision(
            outcome=Outcome.ALLOW, run_id="run j", policy_name="p", policy_version="1", policy_hash="a" * 64,
            evaluated_at=datetime(2026, 3, 3, tzinfo=timezone.utc), evaluated_record_hashes=(hashes[0], stranger),
        ).model_dump(mode="json"))
    assert main(["audit", "judged", bad.record_hash, "--json"]) == 17
    document = json.loads(capsys.readouterr().out)
    assert document["matches"] is False and document["missing"] == [stranger]


@pytest.mark.parametrize("judged", [{"count": 1}, {"count": "x", "sha256": "0" * 64, "through_seq": 3},
                                    {"count": 1, "sha256": 5, "through_seq": 3}])
def test_a_footprint_with_a_malformed_digest_is_a_mismatch_not_a_crash(gated, capsys, judged, tmp_path) -> None:
    with open_ledger() as led:  # footprints are not shape-checked on append, as decisions are
        bad = led.append("footprint", {"run_id": "run j", "zone": "FR", "pue": "1.5", "judged_records": judged})
    assert main(["audit", "judged", bad.record_hash]) == 17
    assert "judged_records" in capsys.readouterr().out
    assert main(["audit", "export", "--format", "codecarbon-csv", "--out", str(tmp_path / "e.csv")]) == 17


def test_codecarbon_export_keeps_an_old_footprint_that_judged_records_of_other_runs(gated, tmp_path) -> None:
    """Before the digest, a gate could judge other runs with its own (`include_runs`); their hashes
    were listed, so the export used them, and still does."""
    from carbonguard.models import RunFootprint

    _, hashes = gated
    with open_ledger() as led:
        stranger = led.records(run_id="other")[0].record_hash
        led.append("footprint", RunFootprint(
            run_id="run j", zone="FR", pue=1.5, it_energy_kwh=1.0, energy_kwh=1.5, energy_upper_kwh=1.5,
            co2e_kg=0.1, co2e_upper_kg=0.1, record_hashes=(*hashes, stranger)).model_dump(mode="json"))
    out = tmp_path / "emissions.csv"
    assert main(["audit", "export", "--format", "codecarbon-csv", "--out", str(out)]) == 0
    assert "run j" in out.read_text()


def test_the_gates_html_page_names_the_recorded_decision_to_list_with(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open_ledger() as led:
        led.append("stage", _stage("run-h", "a", 0))
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    page = tmp_path / "run.html"
    assert main(["gate", "--policy", str(policy), "--run", "run-h", "-o", f"html={page}"]) == 0
    with open_ledger() as led:
        decision = led.records(record_type="decision")[-1].record_hash
    assert f"carbonguard audit judged {decision}" in page.read_text()
