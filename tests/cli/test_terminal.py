"""In a terminal, `gate`, `runs` and `audit verify --progress` print colour and tables; under
NO_COLOR and through a pipe, not one escape sequence (https://no-color.org).

Each command runs in a fresh interpreter on a real pseudo-terminal (Python's `pty`), so rich sees
exactly what it would see in a user's shell.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from carbonguard.ledger import Signer, open_ledger
from carbonguard.ledger.keys import write_key_pair
from carbonguard.models import ComponentEnergy, StageRecord

REPO = Path(__file__).resolve().parents[2]
SGR = re.compile(r"\x1b\[[0-9;]*m")  # Select Graphic Rendition: colour and bold
START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {name: terminal-test, version: "1"}
spec:
  location: {zone: FR}
  pue: 1.5
  budgets: [{id: run-co2e, metric: co2e_kg, limit: 0.1}]
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A signed ledger with a two-stage run, gated once (blocked: 3 kWh in FR is over 0.1 kg)."""
    work = tmp_path_factory.mktemp("terminal")
    key, _ = write_key_pair(Signer.generate(), work / "keys")
    with open_ledger(str(work / "ledger.db"), signing_key=key) as led:
        for i, (name, kwh) in enumerate((("train", 2.0), ("evaluate", 0.0123))):
            led.append("stage", StageRecord(
                run_id="run-1", flow_name="train-flow", stage=name, start=START + timedelta(hours=i),
                end=START + timedelta(hours=i, minutes=30), host="h", pid=1,
                components=(ComponentEnergy(component="gpu", device="g", method="counter", energy_kwh=kwh,
                                            source="t"),)).model_dump(mode="json"))
    (work / "policy.yaml").write_text(POLICY)
    assert _piped(work, "gate", "--policy", "policy.yaml", "--run", "run-1", "--ledger", "ledger.db").returncode == 1
    return work


def _env(work: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES")}
    env.update(TERM="xterm-256color", PYTHONPATH=str(REPO),
               CARBONGUARD_SIGNING_KEY=str(work / "keys" / "signing-key.pem"))
    env.pop("CARBONGUARD_LEDGER", None)
    env.update(extra)
    return env


def _terminal(work: Path, *args: str, **env: str) -> tuple[int, str]:
    """Run the CLI with stdin, stdout and stderr on a 160x40 pseudo-terminal; all it wrote, and its code."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "carbonguard", *args], stdin=slave, stdout=slave, stderr=slave,
                            cwd=work, env=_env(work, **env), close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=60)
    return code, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def _piped(work: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "carbonguard", *args], cwd=work, env=_env(work, **env),
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


GATE = ("gate", "--policy", "policy.yaml", "--run", "run-1", "--ledger", "ledger.db", "--no-record")
RUNS = ("runs", "--ledger", "ledger.db")
VERIFY = ("audit", "verify", "--ledger", "ledger.db", "--progress")


def test_gate_in_a_terminal_colours_the_outcome_and_draws_the_stage_table(workdir: Path) -> None:
    code, out = _terminal(workdir, *GATE)
    assert code == 1
    assert SGR.search(out), out
    assert re.search(r"\x1b\[[0-9;]*31m(\x1b\[[0-9;]*m)*BLOCK", out) or re.search(r"31m.*BLOCK", out)  # red
    plain = SGR.sub("", out)
    header = next(line for line in plain.splitlines() if line.lstrip().startswith("stage "))
    assert header.split() == ["stage", "energy", "(facility)", "CO2e", "(location-based)", "records"]
    assert re.search(r"^train +3\.00 kWh +0\.168 kg CO2e +1 record$", plain, re.M), plain
    assert re.search(r"^evaluate +0\.0185 kWh", plain, re.M)


def test_runs_in_a_terminal_is_a_coloured_table(workdir: Path) -> None:
    code, out = _terminal(workdir, *RUNS)
    assert code == 0 and SGR.search(out)
    plain = SGR.sub("", out)
    assert re.search(r"^start \(UTC\) +run id +flow +stages +energy_kwh +co2e_kg +last decision$", plain, re.M)
    assert re.search(r"^2026-03-02 09:00 +run-1 +train-flow +2 +3\.02 +0\.169 +block *$", plain, re.M), plain


def test_verify_progress_in_a_terminal_draws_a_bar_and_a_coloured_verdict(workdir: Path) -> None:
    code, out = _terminal(workdir, *VERIFY)
    assert code == 0 and SGR.search(out)
    plain = SGR.sub("", out)
    assert "verifying" in plain and "━" in plain and "records" in plain  # rich's bar on stderr
    assert re.search(r"intact: \d+ records", plain)


@pytest.mark.parametrize("args", [GATE, RUNS, VERIFY], ids=["gate", "runs", "verify"])
def test_no_color_and_pipes_get_no_escape_sequence(workdir: Path, args: tuple[str, ...]) -> None:
    code, out = _terminal(workdir, *args, NO_COLOR="1")
    assert not SGR.search(out), out
    piped = _piped(workdir, *args)
    assert piped.returncode == code
    assert "\x1b" not in piped.stdout + piped.stderr
    if args != VERIFY:  # under NO_COLOR a terminal gets exactly the bytes a pipe gets
        assert out == piped.stdout + piped.stderr


def test_an_empty_no_color_does_not_switch_colour_off(workdir: Path) -> None:
    """no-color.org: NO_COLOR counts when it is present *and not empty*."""
    code, out = _terminal(workdir, *RUNS, NO_COLOR="")
    assert code == 0 and SGR.search(out)


def test_piped_output_does_not_load_rich() -> None:
    """Start-up stays fast: rich is imported only for a terminal."""
    code = ("import contextlib, io, sys\n"
            "from carbonguard.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "    main(['runs', '--ledger', 'none.db'])\n"
            "    main(['intensity', 'DE', '--at', '2026-03-02T10:00Z'])\n"
            "print('rich' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("args", [("policy", "validate", "policy.yaml"), ("keys", "list", "--ledger", "ledger.db")],
                         ids=["policy-validate", "keys-list"])
def test_other_verdicts_are_coloured_at_a_terminal_only(workdir: Path, args: tuple[str, ...]) -> None:
    code, out = _terminal(workdir, *args)
    assert code == 0 and re.search(r"\x1b\[[0-9;]*32m(ok|active)", out), out  # green
    code, out = _terminal(workdir, *args, NO_COLOR="1")
    assert not SGR.search(out) and out == _piped(workdir, *args).stdout


def test_user_strings_reach_the_terminal_as_typed_never_as_markup_or_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run called `[bold red]x` with an escape sequence prints literally, its ESC made a space."""
    import io

    monkeypatch.setenv("COLUMNS", "200")
    from carbonguard.formats import terminal
    from carbonguard.reporting.runs import RunList, RunSummary

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    hostile = "[bold red]x\x1b[2J"
    terminal.write(RunList("l.db", (RunSummary(hostile, flow_name=hostile, start=START, stages=1),), 1), out)
    text = out.getvalue()
    assert SGR.search(text)  # a terminal: coloured
    assert text.count("[bold red]x [2J") == 2 and "\x1b[2J" not in text
