"""The compliance report: basis of energy, compute, dual Scope 2, renewable share, SCI, and
explicit statements wherever a figure is absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carbonguard.cli.main import main
from carbonguard.judged import judged_sha256
from carbonguard.ledger import open_ledger
from carbonguard.models import ComponentEnergy, EnergyMethod, JudgedRecords, RunFootprint

from .conftest import stage_record


@pytest.fixture
def ledger(tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CARBONGUARD_SIGNING_KEY", str(key_file))
    url = str(tmp_path / "ledger.db")
    with open_ledger(url) as led:
        a1 = led.append("stage", stage_record("run-a", "fit", 2.0, hour=0).model_dump(mode="json"))
        a2 = led.append("stage", stage_record("run-a", "eval", 1.0, hour=1).model_dump(mode="json"))
        fp = RunFootprint(run_id="run-a", zone="DE", pue=1.2, it_energy_kwh=3.2, energy_kwh=3.84,
                          energy_upper_kwh=3.96, co2e_kg=1.5, market_co2e_kg=0.3,
                          record_hashes=(a1.record_hash, a2.record_hash)).model_dump(mode="json")
        fp.update(functional_unit="training run", functional_units=1)
        led.append("footprint", fp)
        decision = {"kind": "decision", "outcome": "allow", "run_id": "run-a", "policy_name": "team",
                    "policy_version": "2", "policy_hash": "c" * 64, "evaluated_at": "2026-03-01T02:00:00Z",
                    "energy_kwh": 3.84, "co2e_kg": 1.5, "findings": [],
                    "evaluated_record_hashes": [a1.record_hash, a2.record_hash]}
        led.append("decision", decision)
        led.claim_certificates("fea", (1, 1000), "run-a", "acme", "2026-03-01T00:00:00Z", "DE", "0.00192")
        est = stage_record("run-b", "fit", 0.5, hour=3).model_dump(mode="json")
        est["components"] = [ComponentEnergy(component="cpu", device="process", method=EnergyMethod.ESTIMATED,
                                             energy_kwh=0.5, source="process").model_dump(mode="json"),
                             ComponentEnergy(component="gpu", device="GPU-1", method=EnergyMethod.UNAVAILABLE,
                                             source="nvml:error").model_dump(mode="json")]
        led.append("stage", est)
        april = stage_record("run-c", "fit", 1.0).model_dump(mode="json")
        april["start"], april["end"] = "2026-04-02T00:00:00Z", "2026-04-02T01:00:00Z"
        led.append("stage", april)
    return url


def _report(url: str, capsys: pytest.CaptureFixture, *args: str) -> dict:
    assert main(["audit", "report", "--ledger", url, "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_run_report_figures_and_provenance(ledger: str, capsys: pytest.CaptureFixture) -> None:
    report = _report(ledger, capsys, "--run", "run-a")
    assert report["ledger"]["verified"] is True
    (run,) = report["runs"]
    assert run["energy"]["it_energy_kwh"] == "3.2" and run["energy"]["basis"] == "mixed"
    assert run["energy"]["measured_energy_kwh"] == "3.0" and run["energy"]["estimated_energy_kwh"] == "0.2"
    assert run["energy"]["facility_energy_kwh"] == "3.84"
    assert run["compute"]["gpu_count"] == 1 and run["compute"]["gpu_device_hours"] == "1.000000"
    assert run["compute"]["training_wall_time_h"] == "1.500000"
    assert run["scope2"]["location_based_co2e_kg"] == "1.5"
    assert run["scope2"]["market_based_co2e_kg"] == "0.3"
    assert run["renewable"]["renewable_share_percent"] == "50.00"  # 1.92 kWh of 3.84 kWh
    assert run["sci"]["sci_g_per_unit"] == "1500.000000000" and run["sci"]["status"] == "computed without M"
    assert run["decisions"][0]["policy_hash"] == "c" * 64
    assert len(run["provenance"]["record_hashes"]) == 5


def test_absent_figures_are_stated_never_zero(ledger: str, capsys: pytest.CaptureFixture) -> None:
    (run,) = _report(ledger, capsys, "--run", "run-b")["runs"]
    assert run["energy"]["basis"] == "estimated" and run["energy"]["unavailable_readings"] == 1
    assert run["energy"]["facility_energy_kwh"] is None
    assert run["energy"]["facility_energy_status"].startswith("not computed")
    assert run["scope2"]["location_based_co2e_kg"] is None
    assert run["scope2"]["market_based_co2e_kg"] is None
    assert run["scope2"]["market_based_source"].startswith("not computed")
    assert run["renewable"]["status"] == "not claimed" and run["renewable"]["renewable_share_percent"] is None
    assert run["sci"]["sci_g_per_unit"] is None and "functional unit" in run["sci"]["status"]


def test_period_totals_and_markdown(ledger: str, capsys: pytest.CaptureFixture) -> None:
    report = _report(ledger, capsys, "--since", "2026-03-01", "--until", "2026-04-01")
    assert [r["run_id"] for r in report["runs"]] == ["run-a", "run-b"]
    period = report["period"]
    assert period["total_energy_mwh"] == "0.0037"  # IT energy: run-b has no footprint
    assert period["total_energy_scope"].startswith("IT equipment only")
    assert period["location_based_co2e_kg"] is None and "run-b" in period["location_based_status"]
    assert period["market_based_co2e_kg"] is None
    assert period["renewable_energy_mwh"] == "0.00192"
    assert main(["audit", "report", "--ledger", ledger]) == 0
    markdown = capsys.readouterr().out
    assert "## Run `run-c`" in markdown and "| Scope 2 market-based | 0.300 kg CO2e |" in markdown
    assert "not claimed" in markdown


def test_markdown_prints_figures_for_people_and_json_keeps_every_digit(ledger: str,
                                                                       capsys: pytest.CaptureFixture) -> None:
    """3 significant figures with their unit; kWh for runs and a period under 1 MWh; the JSON unchanged."""
    period = _report(ledger, capsys, "--since", "2026-03-01", "--until", "2026-04-01")["period"]
    assert period["total_energy_mwh"] == "0.0037" and period["renewable_energy_mwh"] == "0.00192"
    (run,) = _report(ledger, capsys, "--run", "run-a")["runs"]
    assert run["sci"]["sci_g_per_unit"] == "1500.000000000"
    assert main(["audit", "report", "--ledger", ledger, "--since", "2026-03-01", "--until", "2026-04-01"]) == 0
    markdown = capsys.readouterr().out
    assert "| total energy | 3.70 kWh (IT equipment only" in markdown
    assert "| renewable energy | 1.92 kWh |" in markdown
    assert "| facility energy | 3.84 kWh | PUE 1.20;" in markdown
    assert "| training wall time | 1.50 h | 2 stages, 1.00 stage-hours |" in markdown
    assert "| SCI | 1,500 g CO2e per training run |" in markdown
    assert "1500.000000000" not in markdown and "1.000000" not in markdown
    assert "| IT energy | 0.500 kWh | basis: estimated; measured 0 kWh, estimated 0.500 kWh, " \
           "1 unavailable reading |" in markdown


def test_report_input_errors(ledger: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["audit", "report", "--ledger", ledger, "--run", "nope"]) == 2
    assert main(["audit", "report", "--ledger", ledger, "--since", "2026-03-01T00:00"]) == 2
    assert "--since" in capsys.readouterr().err
    assert main(["audit", "report", "--ledger", ledger, "--run", "run-a", "--since", "2026-03-01"]) == 2


def test_a_run_without_any_reading_has_no_energy_figure(
    tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("CARBONGUARD_SIGNING_KEY", str(key_file))
    url = str(tmp_path / "dark.db")
    with open_ledger(url) as led:
        dark = stage_record("run-dark", "fit", 1.0, hour=0).model_dump(mode="json")
        dark["components"] = [ComponentEnergy(component="gpu", device="GPU-1", method=EnergyMethod.UNAVAILABLE,
                                              source="nvml:error").model_dump(mode="json")]
        led.append("stage", dark)
    (run,) = _report(url, capsys, "--run", "run-dark")["runs"]
    assert run["energy"]["it_energy_kwh"] is None
    assert run["energy"]["basis"] == "unavailable"
    assert run["energy"]["facility_energy_kwh"] is None
    assert run["energy"]["facility_energy_status"] == "not computed: no device gave a reading for this run"
    assert run["scope2"]["location_based_co2e_kg"] is None


def test_an_empty_period_prints_no_zeros(ledger: str, capsys: pytest.CaptureFixture) -> None:
    period = _report(ledger, capsys, "--since", "2030-01-01", "--until", "2030-02-01")["period"]
    assert period["runs"] == 0
    assert period["measured_it_energy_mwh"] is None and period["metered_gpu_device_hours"] is None
    assert period["total_energy_scope"] == "no runs"


def test_a_subflow_run_is_part_of_its_parent_and_the_totals_add_up(
    tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from carbonguard.runtree import subflow_payload

    monkeypatch.setenv("CARBONGUARD_SIGNING_KEY", str(key_file))
    url = str(tmp_path / "tree.db")
    with open_ledger(url) as led:
        own = led.append("stage", stage_record("parent", "load", 1.0, hour=0).model_dump(mode="json"))
        led.append("subflow", subflow_payload("parent", "child"))
        led.append("subflow", subflow_payload("child", "grandchild"))
        kids = [led.append("stage", stage_record(run, "fit", 2.0, hour=1).model_dump(mode="json"))
                for run in ("child", "grandchild")]
        # the footprint the gate recorded for the whole tree (stage_record adds 0.1 kWh estimated to each)
        led.append("footprint", RunFootprint(
            run_id="parent", zone="DE", pue=1.2, it_energy_kwh=5.3, energy_kwh=6.36, energy_upper_kwh=6.36,
            co2e_kg=2.0, record_hashes=tuple(r.record_hash for r in (own, *kids))).model_dump(mode="json"))
    period = _report(url, capsys)
    (run,) = period["runs"]  # the subflow runs are not runs of their own
    assert run["run_id"] == "parent" and run["subflow_run_ids"] == ["child", "grandchild"]
    assert run["compute"]["stages"] == 3
    assert run["energy"]["it_energy_kwh"] == "5.3" and run["energy"]["facility_energy_kwh"] == "6.36"
    assert period["period"]["total_energy_mwh"] == "0.00636"
    assert run["scope2"]["location_based_source"].startswith("footprint record")
    assert len(run["provenance"]["record_hashes"]) == 6  # 3 stages, 2 subflow links, the footprint
    (child,) = _report(url, capsys, "--run", "child")["runs"]
    assert child["part_of_run_id"] == "parent" and child["subflow_run_ids"] == ["grandchild"]
    assert child["compute"]["stages"] == 2
    assert child["energy"]["facility_energy_kwh"] is None
    assert child["energy"]["facility_energy_status"] == "not computed: part of run parent, whose report has the figures"
    assert main(["audit", "report", "--ledger", url, "--run", "parent"]) == 0
    assert "Includes subflow runs `child`, `grandchild`." in capsys.readouterr().out


def test_a_footprint_over_fewer_stages_than_the_run_holds_says_so(
    tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("CARBONGUARD_SIGNING_KEY", str(key_file))
    url = str(tmp_path / "late.db")
    with open_ledger(url) as led:
        first = led.append("stage", stage_record("late", "fit", 1.0, hour=0).model_dump(mode="json"))
        led.append("footprint", RunFootprint(
            run_id="late", zone="DE", pue=1.5, it_energy_kwh=1.1, energy_kwh=1.65, energy_upper_kwh=1.65,
            co2e_kg=0.5, record_hashes=(first.record_hash,)).model_dump(mode="json"))
        led.append("stage", stage_record("late", "eval", 1.0, hour=1).model_dump(mode="json"))  # after the gate
    (run,) = _report(url, capsys, "--run", "late")["runs"]
    assert run["energy"]["facility_energy_kwh"] == "3.30"  # 2.2 kWh IT x 1.5: the figures add up
    assert run["scope2"]["location_based_source"].startswith("its footprint judged 1 of the run's 2 stage records")


def test_report_progress_goes_to_stderr_only(ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Verifying a large ledger before the report takes time: a bar on stderr when asked, never in the report."""
    assert main(["audit", "report", "--ledger", ledger, "--json"]) == 0
    assert capsys.readouterr().err == ""  # stderr is not a terminal: no bar
    assert main(["audit", "report", "--ledger", ledger, "--json", "--progress"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("verifying before the report") and " records" in captured.err
    assert json.loads(captured.out)["ledger"]["verified"] is True


def _digest_run(url: str, wrong: bool = False) -> tuple[list[str], int]:
    """run-d with two stages and a footprint carrying their digest (or, `wrong`, other records')."""
    with open_ledger(url) as led:
        hashes = [led.append("stage", stage_record("run-d", s, 1.0, hour=i).model_dump(mode="json")).record_hash
                  for i, s in enumerate(("fit", "eval"))]
        head = led.head_seq()
        judged = JudgedRecords.of(["e" * 64, "f" * 64] if wrong else hashes, head)
        led.append("footprint", RunFootprint(run_id="run-d", zone="DE", pue=1.2, it_energy_kwh=2.2, energy_kwh=2.64,
                                             energy_upper_kwh=2.7, co2e_kg=1.0,
                                             judged_records=judged).model_dump(mode="json"))
    return hashes, head


def test_a_footprints_digest_is_checked_and_reported_not_listed(tmp_path: Path, key_file: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("CARBONGUARD_SIGNING_KEY", str(key_file))
    url = str(tmp_path / "ledger.db")
    hashes, head = _digest_run(url)
    (run,) = _report(url, capsys, "--run", "run-d")["runs"]
    judged = run["provenance"]["judged_records"]
    assert judged["matches_ledger"] is True and judged["count"] == 2 and judged["through_seq"] == head
    assert judged["sha256"] == judged_sha256(hashes) and judged["list_with"].startswith("carbonguard audit judged ")
    assert "judged" not in run["scope2"]["location_based_source"]  # every stage judged: nothing to say


def test_a_footprint_whose_digest_does_not_match_is_named(tmp_path: Path, key_file: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("CARBONGUARD_SIGNING_KEY", str(key_file))
    url = str(tmp_path / "ledger.db")
    _digest_run(url, wrong=True)  # the right count, other records
    (run,) = _report(url, capsys, "--run", "run-d")["runs"]
    assert run["provenance"]["judged_records"]["matches_ledger"] is False
    assert "the ledger holds 2 for run run-d" in run["scope2"]["location_based_source"]
