"""The scheduling package stays pure, and the CLI parser does not load its numpy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sorted(sys.modules)))"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_scheduling_is_pure() -> None:
    loaded = _modules_after(
        "import carbonguard.scheduling.window, carbonguard.scheduling.pause, carbonguard.scheduling.zones, "
        "carbonguard.scheduling.propose"
    )
    for forbidden in ("prefect", "httpx", "sqlite3", "psycopg", "pynvml", "urllib.request",
                      "carbonguard.scheduling.forecast_file", "carbonguard.ledger"):
        assert forbidden not in loaded, f"carbonguard.scheduling pulls in {forbidden}"


def test_cli_parser_does_not_load_numpy() -> None:
    loaded = _modules_after("from carbonguard.cli.main import build_parser; build_parser()")
    assert "numpy" not in loaded and "carbonguard.scheduling.window" not in loaded
