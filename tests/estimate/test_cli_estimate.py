"""`carbonguard estimate` end to end in a subprocess: outputs, exit codes, from_run, no Prefect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from carbonguard.ledger import open_ledger
from carbonguard.models import ComponentEnergy, StageRecord

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = "examples/jobs/train-small.yaml"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carbonguard", "estimate", *args], cwd=REPO,
                          capture_output=True, text=True, env=os.environ.copy(), timeout=60)


def test_text_output_names_every_stage_and_the_sources() -> None:
    out = run(EXAMPLE)
    assert out.returncode == 0, out.stderr
    for stage in ("preprocess", "train", "evaluate"):
        assert f"  {stage}: " in out.stdout
    assert "every figure is an estimate" in out.stdout
    assert "total: energy_kwh" in out.stdout and "co2e_kg" in out.stdout
    assert "intensity: 268 gCO2e/kWh for NL" in out.stdout  # gcp europe-west4: its grid zone, as the gate
    assert "power: accelerators.csv:nvidia-a100-sxm4-40gb" in out.stdout


def test_json_is_deterministic_and_consistent(tmp_path: Path) -> None:
    first, second = run(EXAMPLE, "--json"), run(EXAMPLE, "-o", f"json={tmp_path / 'e.json'}", "-o", "text")
    assert first.returncode == second.returncode == 0
    assert first.stdout == (tmp_path / "e.json").read_text()
    doc = json.loads(first.stdout)
    assert doc["schema_version"] == 1 and doc["kind"] == "estimate" and doc["method"] == "estimated"
    assert [s["stage"] for s in doc["stages"]] == ["preprocess", "train", "evaluate"]
    total = sum(s["co2e_kg"] for s in doc["stages"])
    assert doc["totals"]["co2e_kg"] == pytest.approx(total)
    assert doc["totals"]["co2e_upper_kg"] > doc["totals"]["co2e_kg"] > 0
    assert doc["stages"][0]["start"] == "2025-01-01T00:00:00+00:00"
    assert all(c["method"] == "estimated" for s in doc["stages"] for c in s["components"])
    assert "total: energy_kwh" in second.stdout


def test_start_moves_the_synthetic_window() -> None:
    doc = json.loads(run(EXAMPLE, "--json", "--start", "2024-06-01T12:00:00Z").stdout)
    assert doc["stages"][0]["start"] == "2024-06-01T12:00:00+00:00"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--start", "yesterday", EXAMPLE), "--start: not an ISO 8601 time"),
        (("--start", "2025-01-01T00:00:00", EXAMPLE), "--start: give a timezone"),
        (("-o", "yaml", EXAMPLE), "unknown format 'yaml'"),
        (("-o", "json", "-o", "text", EXAMPLE), "only one output may go to standard output"),
        (("no-such.yaml",), "no-such.yaml: no such file"),
        ((), "give a job spec file"),
    ],
)
def test_bad_input_exits_2_without_traceback(args: tuple[str, ...], expected: str) -> None:
    out = run(*args)
    assert out.returncode == 2, out
    assert expected in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_job_spec_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "job.yaml"
    bad.write_text((REPO / EXAMPLE).read_text().replace("model: a100-40gb", "model: a100-400gb"))
    out = run(str(bad))
    assert out.returncode == 2
    assert f"{bad}:25:18: spec.stages[1].hardware.accelerator.model: unknown accelerator model" in out.stderr


def test_unknown_zone_names_the_job_spec_location(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text("apiVersion: carbonguard/v1\nkind: TrainingJob\nmetadata: {name: j}\nspec:\n"
                   "  location: {zone: XX-NOWHERE}\n  pue: 1.0\n"
                   "  stages: [{name: s, hardware: {cpu_cores: 1}, duration_h: 1}]\n")
    out = run(str(job))
    assert out.returncode == 2
    assert f"{job}:5: spec.location: no grid carbon intensity for zone 'XX-NOWHERE'" in out.stderr


def test_schema_flag_prints_the_checked_in_schema() -> None:
    out = run("--schema")
    assert out.returncode == 0
    assert out.stdout == (REPO / "policies/schema/jobspec-v1.schema.json").read_text()


def test_from_run_scales_a_recorded_run(tmp_path: Path) -> None:
    start = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
    record = StageRecord(
        run_id="run-9", flow_name="f", stage="train", start=start, end=start + timedelta(hours=1), host="h",
        pid=1, zone="SE",
        components=(ComponentEnergy(component="gpu", device="GPU-0", method="counter", energy_kwh=4.0,
                                    source="nvml:total-energy-counter"),),
    )
    with open_ledger() as ledger:
        ledger.append("stage", record.model_dump(mode="json"))
    job = tmp_path / "job.yaml"
    job.write_text("apiVersion: carbonguard/v1\nkind: TrainingJob\nmetadata: {name: j}\nspec:\n"
                   "  location: {zone: SE}\n  pue: 1.0\n  from_run: {run_id: run-9, scale: 2.5}\n")
    out = run(str(job), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    [stage] = doc["stages"]
    assert stage["it_energy_kwh"] == pytest.approx(10.0) and stage["duration_s"] == pytest.approx(9000)
    assert "from_run run-9 x2.5" in stage["components"][0]["source"]
    job.write_text(job.read_text().replace("run-9", "run-404"))
    out = run(str(job))
    assert out.returncode == 2 and "no stage records for run 'run-404'" in out.stderr


def test_estimate_never_imports_prefect() -> None:
    code = ("import sys; from carbonguard.cli.main import main; rc = main(['estimate', "
            f"{EXAMPLE!r}, '--json']); "
            "bad = sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')); "
            "print('PREFECT:', bad, file=sys.stderr); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "PREFECT: []" in out.stderr


def test_hostile_names_cannot_drive_the_terminal() -> None:
    from carbonguard.formats import render
    from carbonguard.reporting.estimate import EstimatedStage, EstimateReport

    start = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
    record = StageRecord(
        run_id="r", flow_name="f", stage="train", start=start, end=start + timedelta(hours=1), host="h", pid=1,
        components=(ComponentEnergy(component="gpu", device="GPU-0", method="estimated", energy_kwh=1.0,
                                    source="estimate: x; row\x1b]0;pwned\x07"),),
    )
    report = EstimateReport(job="job\x1b[2J", run_id="r", stages=(EstimatedStage(record, "DE\u202e\x1b[31m", 1.0),),
                            footprints=())
    text = render("text", report)
    assert not any(ch in text for ch in "\x1b\x07\u202e")
    assert "job [2J" in text and "power: row ]0;pwned " in text


def test_a_cloud_region_is_priced_as_the_check_and_gate_price_it(tmp_path: Path) -> None:
    """`estimate` and `check` under a policy for the same cloud region give the same CO2e: the region
    is its grid zone in both, given as `cloud:` or as the zone `gcp:<region>` (it was Google's own
    figure in `estimate` and the grid average in `check` and `gate`)."""
    spec = (REPO / EXAMPLE).read_text()
    cloud = "    cloud:\n      provider: gcp\n      region: europe-west4\n"
    assert cloud in spec
    zoned = tmp_path / "zoned.yaml"
    zoned.write_text(spec.replace(cloud, "    zone: gcp:europe-west4\n"))
    policy = (REPO / "policies/ci-budget.yaml").read_text()
    assert "      provider: gcp\n      region: europe-west4\n" in policy
    zoned_policy = tmp_path / "zoned-policy.yaml"
    zoned_policy.write_text(policy.replace("    cloud:\n      provider: gcp\n      region: europe-west4\n",
                                           "    zone: gcp:europe-west4\n"))
    figures = set()
    for job in (EXAMPLE, str(zoned)):
        alone = run(job, "--json")
        assert alone.returncode == 0, alone.stderr
        assert "for NL" in run(job).stdout
        figures.add(json.loads(alone.stdout)["totals"]["co2e_kg"])
        for pol in ("policies/ci-budget.yaml", str(zoned_policy)):
            checked = subprocess.run([sys.executable, "-m", "carbonguard", "check", "--policy", pol, "--jobspec", job,
                                      "--json"], cwd=REPO, capture_output=True, text=True, timeout=60)
            assert checked.returncode in (0, 1), checked.stderr
            figures.add(json.loads(checked.stdout)["co2e_kg"])
    assert len(figures) == 1
