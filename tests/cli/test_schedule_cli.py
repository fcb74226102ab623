"""`carbonguard schedule` end to end: exit codes, JSON shape, located errors, terminal-safe text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "gb-carbon-intensity-2023-05-04.csv"
T0 = "2023-05-04T12:30Z"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carbonguard", "schedule", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_json_answer_from_a_forecast_file() -> None:
    r = _cli("--zone", "GB", "--zone", "FR", "--duration", "6h", "--not-before", T0, "--forecast", str(FIXTURE),
             "--energy-kwh", "100", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["best"] == {"zone": "GB", "start": "2023-05-05T09:30:00Z", "end": "2023-05-05T15:30:00Z",
                           "mean_g_per_kwh": pytest.approx(92 / 12)}
    assert doc["run_now"]["start"] == "2023-05-04T12:30:00Z"
    assert doc["run_now"]["mean_g_per_kwh"] == pytest.approx(166 / 12)
    assert doc["saving"]["g_per_kwh"] == pytest.approx(74 / 12)
    assert doc["saving"]["fraction"] == pytest.approx(74 / 166)
    assert doc["saving"]["co2e_kg"] == pytest.approx(100 * 74 / 12 / 1000)
    assert doc["ties"][0]["start"] == "2023-05-05T09:30:00Z"
    pr = doc["pause_resume"]
    assert pr["status"] == "ok" and pr["interruptions"] == len(pr["slots"]) - 1
    assert [z["zone"] for z in doc["zones"]] == ["GB", "FR"]
    assert doc["zones"][1]["basis"] == "annual"
    assert {lv["kind"] for lv in doc["levers"]} >= {"time", "zone"}


def test_saving_without_energy_has_no_kg() -> None:
    r = _cli("--zone", "GB", "--duration", "2h", "--not-before", T0, "--forecast", str(FIXTURE), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["saving"]["co2e_kg"] is None


def test_embedded_only_compares_zones_and_says_time_cannot_be_judged() -> None:
    r = _cli("--zone", "DE", "--zone", "FR", "--duration", "6h")
    assert r.returncode == 0, r.stderr
    assert "time shifting: cannot be judged" in r.stdout
    assert "FR" in r.stdout


def test_deadline_too_tight_exits_2_and_says_by_how_much() -> None:
    r = _cli("--zone", "GB", "--duration", "6h", "--not-before", T0, "--deadline", "2023-05-04T17:30Z",
             "--forecast", str(FIXTURE))
    assert r.returncode == 2
    assert "too tight by 1 h" in r.stderr and "Traceback" not in r.stderr


def test_naive_forecast_time_exits_2_with_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "naive.csv"
    f.write_text("time,intensity\n2023-05-04T12:30Z,11\n2023-05-04T13:00,15\n")
    r = _cli("--zone", "GB", "--duration", "30min", "--forecast", str(f))
    assert r.returncode == 2
    assert f"{f}:3: time:" in r.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--duration", "6"), "not a duration"),
        (("--duration", "6h", "--not-before", "2023-05-04T12:30"), "no UTC offset"),
        (("--duration", "6h", "--energy-kwh", "-1"), "--energy-kwh"),
        (("--duration", "6h", "-o", "yaml"), "unknown format"),
        (("--duration", "6h", "--interruption-cost", "5 apples"), "interruption cost"),
    ],
)
def test_bad_flags_exit_2(args: tuple[str, ...], words: str) -> None:
    r = _cli("--zone", "GB", "--forecast", str(FIXTURE), *args)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr


def test_control_characters_never_reach_the_terminal(tmp_path: Path) -> None:
    f = tmp_path / "evil\x1b[2Jname.csv"
    f.write_text(FIXTURE.read_text())
    r = _cli("--zone", "GB\x1b]0;pwned\x07", "--duration", "1h", "--not-before", T0, "--forecast", str(f))
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout
    assert "evil [2Jname.csv" in r.stdout  # control characters become spaces, as in every text output


def test_json_to_a_file_and_text_to_stdout(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    r = _cli("--zone", "GB", "--duration", "6h", "--not-before", T0, "--forecast", str(FIXTURE), "-o", "text",
             "-o", f"json={out}")
    assert r.returncode == 0, r.stderr
    assert "best:" in r.stdout and json.loads(out.read_text())["best"]["zone"] == "GB"


def test_policy_limits_are_reported(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "apiVersion: carbonguard/v1\nkind: CarbonPolicy\nmetadata: {name: p, version: '1'}\n"
        "spec:\n  location: {zone: GB}\n  pue: 1.1\n  scheduling:\n    max_delay_h: 6\n"
        "    candidate_zones: [FR]\n    interruption_cost: {value: 15, unit: minutes}\n"
    )
    r = _cli("--policy", str(policy), "--duration", "6h", "--not-before", T0, "--forecast", str(FIXTURE), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    time_lever = next(lv for lv in doc["levers"] if lv["kind"] == "time")
    assert time_lever["allowed_by_policy"] is False and "max_delay_h" in time_lever["reason"]
    assert next(z for z in doc["zones"] if z["zone"] == "FR")["allowed_by_policy"] is True
    assert doc["pause_resume"]["interruption_cost"] == {"value": 15.0, "unit": "minutes"}


def test_forecast_per_zone(tmp_path: Path) -> None:
    other = tmp_path / "fr.csv"
    other.write_text("time,intensity\n2023-05-04T12:30Z,3\n2023-05-04T18:30Z,3\n2023-05-05T00:30Z,3\n")
    r = _cli("--zone", "GB", "--zone", "FR", "--duration", "6h", "--not-before", T0, "--forecast", str(FIXTURE),
             "--forecast", f"fr={other}", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["best"]["zone"] == "FR" and doc["best"]["mean_g_per_kwh"] == 3
    assert next(z for z in doc["zones"] if z["zone"] == "FR")["basis"] == "forecast"
    r = _cli("--zone", "GB", "--duration", "6h", "--forecast", f"SE={other}")
    assert r.returncode == 2 and "not one of the --zone values" in r.stderr
