"""`carbonguard meter`: runs a real command, passes its exit code through, records a stage."""

from __future__ import annotations

import json
import sys

import pytest

from carbonguard.cli.main import main
from carbonguard.models import EnergyMethod, StageRecord

BURN = (
    "import sys, time\nend = time.process_time() + 0.2\n"
    "while time.process_time() < end: pass\nsys.exit({code})"
)


@pytest.fixture(autouse=True)
def isolated_host(monkeypatch):
    monkeypatch.setenv("CARBONGUARD_CPU_W_PER_CORE", "10")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_meter_json_without_recording(capsys):
    code = main(
        [
            "meter",
            "--no-record",
            "--json",
            "--stage",
            "burn",
            "--zone",
            "FR",
            "--",
            sys.executable,
            "-c",
            BURN.format(code=0),
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    record = StageRecord.model_validate(doc["stage_record"])
    assert (record.stage, record.flow_name, record.zone) == ("burn", "cli", "FR")
    assert record.pid != 0 and len(record.run_id) == 32
    cpu = next(c for c in record.components if c.component == "cpu")
    assert cpu.method == EnergyMethod.ESTIMATED  # honest on a machine without RAPL
    assert cpu.energy_kwh * 3.6e6 >= 0.2 * 10 * 0.9  # the child's CPU time, at 10 W per core
    assert not any(c.component == "gpu" for c in record.components)
    assert doc["ledger"] is None and doc["exit_code"] == 0
    assert "kWh" in captured.err and "estimated" in captured.err and "not recorded" in captured.err


def test_exit_code_is_passed_through(capsys):
    assert main(["meter", "--no-record", "--", sys.executable, "-c", BURN.format(code=7)]) == 7
    assert "exit status 7" in capsys.readouterr().err


def test_killed_by_signal_exits_like_a_shell(capsys):
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    assert main(["meter", "--no-record", "--", sys.executable, "-c", code]) == 128 + 9


def test_command_not_found_is_127(capsys):
    assert main(["meter", "--no-record", "--", "carbonguard-no-such-command"]) == 127
    assert "command not found: carbonguard-no-such-command" in capsys.readouterr().err


def test_not_executable_is_126(tmp_path, capsys):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    assert main(["meter", "--no-record", "--", str(script)]) == 126


def test_missing_command_is_a_usage_error(capsys):
    assert main(["meter", "--no-record"]) == 2
    assert "no command given" in capsys.readouterr().err


def test_records_a_stage_in_the_ledger(tmp_path, capsys):
    ledger_mod = pytest.importorskip("carbonguard.ledger")
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    code = main(
        [
            "meter",
            "--json",
            "--ledger",
            url,
            "--run-id",
            "run-1",
            "--",
            sys.executable,
            "-c",
            BURN.format(code=0),
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ledger"]["record_hash"] and doc["ledger"]["seq"] >= 0
    assert doc["stage_record"]["run_id"] == "run-1"
    with ledger_mod.open_ledger(url, create=False) as led:  # read back what was written, not what was said
        stored = led.records(run_id="run-1", record_type="stage")
        assert led.verify().ok
    assert len(stored) == 1 and stored[0].seq == doc["ledger"]["seq"]
    record = StageRecord.model_validate(stored[0].payload)
    assert record.model_dump(mode="json") == doc["stage_record"]
    cpu = [c for c in record.components if c.component == "cpu"]
    assert cpu and cpu[0].energy_kwh is not None and cpu[0].energy_kwh > 0  # a stage with its readings


def test_bad_cpu_power_env_fails_before_the_command_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CARBONGUARD_CPU_W_PER_CORE", "lots")
    marker = tmp_path / "ran"
    code = main(["meter", "--no-record", "--", sys.executable, "-c", f"open({str(marker)!r}, 'w')"])
    assert code == 2
    assert not marker.exists()
    assert "CARBONGUARD_CPU_W_PER_CORE" in capsys.readouterr().err


def test_ctrl_c_reaches_the_metered_command(tmp_path) -> None:
    """SIGINT to the foreground process group stops the command; the wrapper reports 130."""
    import os
    import signal
    import subprocess
    import sys
    import time

    ready = tmp_path / "ready"
    code = ("import pathlib, time, sys; pathlib.Path(sys.argv[1]).write_text('x'); time.sleep(30)")
    proc = subprocess.Popen(
        [sys.executable, "-m", "carbonguard", "meter", "--no-record", "--", sys.executable, "-c", code, str(ready)],
        start_new_session=True, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists()
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    proc.wait(timeout=20)
    assert time.monotonic() - started < 10, "the command ignored Ctrl-C"
    assert proc.returncode == 130


def test_a_script_without_shebang_exits_126(tmp_path) -> None:
    import subprocess
    import sys

    script = tmp_path / "noshebang"
    script.write_bytes(b"\x7fELF-not-really")
    script.chmod(0o755)
    result = subprocess.run([sys.executable, "-m", "carbonguard", "meter", "--no-record", "--", str(script)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 126
    assert "cannot execute" in result.stderr
