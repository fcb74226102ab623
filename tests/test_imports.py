"""Layering rules that keep the CLI fast and the gate pure, checked in fresh interpreters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sorted(sys.modules)))"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout
    return set(out.split())


def test_cli_does_not_import_prefect() -> None:
    loaded = _modules_after("import carbonguard.cli")
    assert "prefect" not in loaded


def test_cli_parser_with_every_command_does_not_import_prefect() -> None:
    loaded = _modules_after("from carbonguard.cli.main import build_parser; build_parser()")
    assert not {m for m in loaded if m == "prefect" or m.startswith("prefect.")}


def test_gate_is_pure() -> None:
    loaded = _modules_after("import carbonguard.gate")
    for forbidden in ("prefect", "httpx", "sqlite3", "psycopg", "pynvml", "urllib.request"):
        assert forbidden not in loaded, f"carbonguard.gate pulls in {forbidden}"


def test_version_flag() -> None:
    from carbonguard import __version__

    out = subprocess.run([sys.executable, "-m", "carbonguard", "--version"], cwd=REPO, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == f"carbonguard {__version__}"


def test_no_command_is_a_usage_error() -> None:
    result = subprocess.run([sys.executable, "-m", "carbonguard"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2


def test_unknown_flag_is_a_usage_error() -> None:
    result = subprocess.run([sys.executable, "-m", "carbonguard", "gate", "--bogus"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "error" in result.stderr
    assert "Traceback" not in result.stderr
