"""Command-line failure modes: one clear line and exit 2 for bad paths, never a traceback or a 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carbonguard", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def test_output_into_a_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "nodir" / "schema.json"
    result = _cli("policy", "schema", "--out", str(target))
    assert result.returncode == 2
    assert result.stderr.strip() == f"carbonguard: {target}: No such file or directory"


def test_output_onto_a_directory(tmp_path: Path) -> None:
    result = _cli("policy", "schema", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "Is a directory" in result.stderr and "Traceback" not in result.stderr


def test_closed_output_pipe_is_not_a_crash(tmp_path: Path) -> None:
    reader = subprocess.Popen(["head", "-c", "10"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    writer = subprocess.run([sys.executable, "-m", "carbonguard", "policy", "schema"], cwd=REPO,
                            stdout=reader.stdin, stderr=subprocess.PIPE, text=True, timeout=60)
    reader.stdin.close()
    reader.wait()
    assert writer.returncode in (0, 141)  # 0 when the schema fit in the pipe buffer before head exited
    assert "Traceback" not in writer.stderr


def test_intensity_times_far_outside_any_data_are_input_errors() -> None:
    for when in ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"):
        result = _cli("intensity", "DE", "--at", when)
        assert result.returncode == 2, result.stderr
        assert "outside the years 1900-2200" in result.stderr


def test_checkpoint_that_is_not_utf8_is_one_line_exit_2(tmp_path: Path) -> None:
    checkpoint = tmp_path / "cp.json"
    checkpoint.write_bytes(b'{"format": "\xff\xfe"}')
    result = _cli("audit", "verify", "--checkpoint", str(checkpoint))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"carbonguard: {checkpoint}:1:13: checkpoint is not UTF-8 text (byte 12)"
    ]


def test_stdout_closed_is_one_line_exit_2(tmp_path: Path) -> None:
    # `carbonguard policy schema >&-`: no stdout at all; nothing may be written in its place
    before = sorted(tmp_path.rglob("*"))
    result = subprocess.run([sys.executable, "-m", "carbonguard", "policy", "schema"], cwd=tmp_path,
                            stdout=None, stderr=subprocess.PIPE, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPO)},
                            preexec_fn=lambda: os.close(1))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "carbonguard: standard output is closed; redirect it to a file or /dev/null"]
    assert sorted(tmp_path.rglob("*")) == before


def test_a_crash_exits_70_with_the_traceback_never_1(monkeypatch, capsys) -> None:
    """A bug must never look like a gate decision (1) or bad input (2) to CI."""
    from carbonguard.cli import main as cli_main
    from carbonguard.cli import policy_cmd

    def crash(args) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(policy_cmd, "_schema", crash)
    assert cli_main.main(["policy", "schema"]) == cli_main.EXIT_INTERNAL_ERROR == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: boom" in err
    assert err.strip().splitlines()[-1] == ("carbonguard: internal error (RuntimeError: boom); this is a bug, "
                                            "please report it")
