"""matching/ is pure: importing it (all but the loader) pulls in no I/O, network or orchestration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_matching_core_imports_nothing_that_reaches_outside() -> None:
    code = ("import carbonguard.matching, carbonguard.matching.schema, sys; "
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                                check=True).stdout.split())
    for forbidden in ("prefect", "httpx", "sqlite3", "psycopg", "pynvml", "urllib.request",
                      "carbonguard.ledger", "carbonguard.matching.loader", "carbonguard.gate"):
        assert forbidden not in loaded, f"carbonguard.matching pulls in {forbidden}"
