"""`carbonguard check` and `carbonguard diff` end to end: the example job spec and CI policy, a saved
baseline, every exit code, a simulated GitHub Actions step, read-only runs, located input errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest

from carbonguard.cli.main import main
from carbonguard.ledger import open_ledger
from carbonguard.models import ComponentEnergy, StageRecord

REPO = Path(__file__).resolve().parents[2]
JOBSPEC = "examples/jobs/train-small.yaml"
POLICY = "policies/ci-budget.yaml"
SCHEMA = REPO / "tests/formats/sarif/sarif-schema-2.1.0.json"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carbonguard", *args], cwd=REPO, capture_output=True, text=True,
                          env=env or os.environ.copy(), timeout=120)


def jobspec(tmp_path: Path, name: str = "head.yaml", flops: str = "7.5e18",
            replace: dict[str, str] | None = None) -> str:
    text = (REPO / JOBSPEC).read_text().replace("flops: 7.5e18", f"flops: {flops}")
    for old, new in (replace or {}).items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def base_json(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The base branch's estimate, saved as the action saves it."""
    path = tmp_path_factory.mktemp("base") / "base.json"
    out = cli("estimate", JOBSPEC, "-o", f"json={path}")
    assert out.returncode == 0, out.stderr
    return str(path)


def test_example_passes_with_warnings_against_its_own_baseline(base_json: str, tmp_path: Path) -> None:
    sarif, junit, md = tmp_path / "c.sarif", tmp_path / "c.xml", tmp_path / "c.md"
    out = cli("check", "--policy", POLICY, "--jobspec", JOBSPEC, "--baseline", base_json, "--baseline-label", "main",
              "-o", "text", "-o", f"sarif={sarif}", "-o", f"junit={junit}", "-o", f"markdown={md}")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("carbonguard check: WARN: ") and "+0.000 kg CO2e (+0 %) over main" in out.stdout
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(json.loads(sarif.read_text()))
    assert ET.parse(junit).getroot().get("failures") == "0"
    assert md.read_text().startswith(f"<!-- carbonguard:{JOBSPEC} -->")  # the tag the action's comment step uses


def test_doubling_the_training_blocks_over_the_increase_limit(base_json: str, tmp_path: Path) -> None:
    head = jobspec(tmp_path, flops="1.5e19")
    out = cli("check", "--policy", POLICY, "--jobspec", head, "--baseline", base_json, "--baseline-label", "main",
              "--json")
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert doc["outcome"] == "block" and doc["failed"] and doc["delta_co2e_fraction"] > 0.9
    messages = [f["message"] for f in doc["subjects"][0]["decision"]["findings"]]
    assert any(re.search(r"\+9\d %\) over main .*allows at most \+25 %", m) for m in messages), messages
    never = cli("check", "--policy", POLICY, "--jobspec", head, "--baseline", base_json, "--fail-on", "never")
    assert never.returncode == 0


def test_fail_on_warn_fails_a_warning() -> None:
    assert cli("check", "--policy", POLICY, "--jobspec", JOBSPEC, "--fail-on", "warn").returncode == 1


def test_github_format_in_a_simulated_actions_step(base_json: str, tmp_path: Path) -> None:
    output, summary, event = tmp_path / "output", tmp_path / "summary.md", tmp_path / "event.json"
    output.write_text("earlier=1\n")
    event.write_text(json.dumps({"pull_request": {"number": 7, "base": {"ref": "main"}}}))
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary),
           "GITHUB_EVENT_PATH": str(event)}
    head = jobspec(tmp_path, flops="1.5e19")
    out = cli("check", "--policy", POLICY, "--jobspec", head, "--baseline", base_json, "--baseline-label", "main",
              "-o", "github", env=env)
    assert out.returncode == 1, out.stderr
    assert re.search(rf"^::error file={re.escape(head.replace(':', '%3A').replace(',', '%2C'))},line=\d+,title=",
                     out.stdout, re.M)
    text = output.read_text()
    assert text.startswith("earlier=1\n")  # appended, never truncated
    values = dict(re.findall(r"^(\w+)<<(ghadelimiter_[0-9a-f]{32})\n(.*?)\n\2$", text, re.M | re.S)[i][0::2]
                  for i in range(3))
    assert values["decision"] == "block" and float(values["co2e_kg"]) > 4 and float(values["delta_co2e_kg"]) > 2
    assert "carbonguard budget check" in summary.read_text() and "over main" in summary.read_text()
    # a second run uses a fresh delimiter
    cli("check", "--policy", POLICY, "--jobspec", head, "-o", "github", env=env)
    assert len(set(re.findall(r"<<(ghadelimiter_[0-9a-f]{32})", output.read_text()))) == 2


def test_without_actions_variables_nothing_but_stdout_is_written(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
    out = cli("check", "--policy", POLICY, "--jobspec", JOBSPEC, "-o", "github", env=env)
    assert out.returncode == 0 and "::warning " in out.stdout


def test_a_job_spec_in_another_grid_is_the_zone_mismatch_finding(tmp_path: Path) -> None:
    moved = {"provider: gcp\n      region: europe-west4": "provider: aws\n      region: us-east-1"}
    elsewhere = jobspec(tmp_path, replace=moved)
    out = cli("check", "--policy", POLICY, "--jobspec", elsewhere, "--json")
    assert out.returncode == 1, out.stderr
    findings = json.loads(out.stdout)["subjects"][0]["decision"]["findings"]
    (mismatch,) = [f for f in findings if f["rule_id"] == "location.zone-mismatch"]
    assert "NL" in mismatch["message"]


def test_a_job_spec_pue_other_than_the_policys_is_a_located_input_error(tmp_path: Path) -> None:
    other = jobspec(tmp_path, replace={"pue: 1.1": "pue: 1.4"})
    out = cli("check", "--policy", POLICY, "--jobspec", other)
    assert out.returncode == 2
    assert re.search(rf"{re.escape(other)}:\d+(:\d+)?: spec\.pue: PUE 1\.4 differs from the policy's 1\.1 "
                     rf"\({re.escape(POLICY)}:\d+\)", out.stderr), out.stderr


@pytest.mark.parametrize(("args", "expect"), [
    (["--jobspec", "no/such.yaml"], "no/such.yaml: no such file"),
    ([], "give at least one --jobspec FILE or --run RUN_ID"),
    (["--jobspec", JOBSPEC, "--jobspec", JOBSPEC, "--baseline", JOBSPEC], "1 --baseline for 2"),
    (["--jobspec", JOBSPEC, "--tag", "a b"], "--tag"),
    (["--jobspec", JOBSPEC, "-o", "pdf"], "unknown format 'pdf'"),
    (["--jobspec", JOBSPEC, "--fail-on", "sometimes"], "invalid choice"),
    (["--jobspec", JOBSPEC, "--as-of", "yesterday"], "--as-of"),
])
def test_usage_and_input_errors_exit_2(args: list[str], expect: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:  # argparse's own errors
        code = main(["check", "--policy", POLICY, *args])
        raise SystemExit(code)
    assert stopped.value.code == 2
    assert expect in capsys.readouterr().err


def test_a_broken_baseline_json_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "base.json"
    bad.write_text('{\n  "kind": "estimate",\n  "footprints": [,]\n}\n')
    assert main(["check", "--policy", POLICY, "--jobspec", JOBSPEC, "--baseline", str(bad)]) == 2
    assert f"{bad}:3:" in capsys.readouterr().err
    stage = {"stage": "t", "start": "2025-01-01T00:00:00Z", "end": "2025-01-01T01:00:00Z", "location": "NL",
             "components": [{"component": "gpu", "device": "d", "method": "counter", "source": "s",
                             "energy_kwh": -1}]}
    bad.write_text(json.dumps({"kind": "estimate", "run_id": "r", "job": "j", "stages": [stage]}))
    assert main(["check", "--policy", POLICY, "--jobspec", JOBSPEC, "--baseline", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: stages.0.components.0.energy_kwh: Input should be greater than or equal to 0" in err, err
    bad.write_text(json.dumps({"kind": "estimate", "run_id": "r", "job": "j"}))
    assert main(["check", "--policy", POLICY, "--jobspec", JOBSPEC, "--baseline", str(bad)]) == 2
    assert "missing 'stages'" in capsys.readouterr().err


def test_a_crash_exits_70_not_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import carbonguard.cli.check_cmd as check_cmd

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(check_cmd, "grid_records", boom)  # looked up at call time, so nothing else keeps it
    assert main(["check", "--policy", POLICY, "--jobspec", JOBSPEC]) == 70
    assert "this is a bug" in capsys.readouterr().err


def _stage(run_id: str, stage: str, kwh: float, offset_h: float) -> StageRecord:
    start = datetime(2026, 3, 2, 9, tzinfo=timezone.utc) + timedelta(hours=offset_h)
    return StageRecord(run_id=run_id, flow_name="t", stage=stage, start=start, end=start + timedelta(minutes=40),
                       host="h", pid=1, zone="NL",
                       components=(ComponentEnergy(component="gpu", device="GPU-0", method="counter", energy_kwh=kwh,
                                                   source="nvml:total-energy-counter"),))


def test_runs_are_judged_read_only_against_a_run_baseline(_isolated_ledger: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    with open_ledger() as ledger:
        for run, kwh in (("run-base", 2.0), ("run-head", 4.0)):
            ledger.append("stage", _stage(run, "train", kwh, 0).model_dump(mode="json"))
            ledger.append("stage", _stage(run, "evaluate", 0.5, 1).model_dump(mode="json"))
    before = hashlib.sha256(_isolated_ledger.read_bytes()).hexdigest()
    code = main(["check", "--policy", POLICY, "--run", "run-head", "--baseline", "run-base", "--json"])
    assert code == 1  # +80 % over the base run, the limit is +25 %
    doc = json.loads(capsys.readouterr().out)
    assert doc["subjects"][0]["kind"] == "run" and doc["delta_co2e_fraction"] == pytest.approx(0.8)
    assert hashlib.sha256(_isolated_ledger.read_bytes()).hexdigest() == before  # nothing written
    with open_ledger() as ledger:
        assert not ledger.records(record_type="decision")


def test_check_imports_no_prefect() -> None:
    code = ("import sys; from carbonguard.cli.main import main; "
            f"rc = main(['check', '--policy', {POLICY!r}, '--jobspec', {JOBSPEC!r}, '-o', 'json=/dev/null']); "
            "assert rc == 0, rc; bad = sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'); "
            "assert not bad, bad")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


# --- diff -------------------------------------------------------------------------------------------

def test_diff_of_job_specs_and_saved_estimates(base_json: str, tmp_path: Path) -> None:
    head = jobspec(tmp_path, flops="1.5e19", replace={"duration_h: 0.25": "duration_h: 1.0"})
    out = cli("diff", "--base", base_json, "--head", head, "--base-label", "main", "--head-label", "pr", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [s["stage"] for s in doc["stages"]] == ["train", "evaluate", "preprocess"]  # moved most first
    assert doc["total"]["co2e_fraction"] == pytest.approx(1.0, abs=0.02)
    assert doc["stages"][2]["status"] == "unchanged"
    text = cli("diff", "--base", JOBSPEC, "--head", head)
    assert text.returncode == 0 and text.stdout.splitlines()[3].startswith("  train (changed)")
    md = cli("diff", "--base", JOBSPEC, "--head", head, "-o", "markdown", "--tag", "diff")
    assert md.stdout.startswith("<!-- carbonguard:diff -->") and "| **total** |" in md.stdout


def test_diff_errors_exit_2(tmp_path: Path) -> None:
    out = cli("diff", "--base", "missing.json", "--head", JOBSPEC)
    assert out.returncode == 2 and "missing.json: no such file" in out.stderr
    (tmp_path / "x.json").write_text('{"kind": "something"}')
    out = cli("diff", "--base", str(tmp_path / "x.json"), "--head", JOBSPEC)
    assert out.returncode == 2 and "not a carbonguard estimate, check, gate or footprint" in out.stderr


def test_several_job_specs_pair_with_their_baselines_in_order(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    big = jobspec(tmp_path, "big.yaml", flops="1.5e19")
    code = main(["check", "--policy", POLICY, "--jobspec", JOBSPEC, "--jobspec", big,
                 "--baseline", JOBSPEC, "--baseline", JOBSPEC, "--baseline-label", "main", "--baseline-label", "main",
                 "-o", "github"])
    assert code == 1
    out = capsys.readouterr().out
    errors = [line for line in out.splitlines() if line.startswith("::error ")]
    assert errors and all(f"::{big}: " in line for line in errors)  # only the doubled one, named
    assert not any(f"::{JOBSPEC}: " in line and line.startswith("::error ") for line in out.splitlines())
