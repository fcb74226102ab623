"""The README's CI recipe runs as written: meter a command, gate it, write the step summary.

The block under "In CI without Prefect" is taken from README.md itself (minus the install line,
which tests/test_install_wheel.py covers with a built wheel), run by bash in a simulated Actions
environment, and its outputs read back.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def ci_recipe() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### In CI without Prefect", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return "\n".join(line for line in block.splitlines() if not line.startswith("pip install"))


def test_the_ci_recipe_meters_gates_and_writes_the_summary(tmp_path: Path) -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    (tmp_path / "train.py").write_text("import sys\nassert sys.argv[1:] == ['--smoke']\nsum(range(10**6))\n")
    summary = tmp_path / "summary.md"
    bindir = str(Path(sys.executable).parent)  # the carbonguard and python of this environment
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", "GITHUB_RUN_ID": "4242",
           "GITHUB_RUN_ATTEMPT": "2", "GITHUB_STEP_SUMMARY": str(summary),
           "CARBONGUARD_LEDGER": str(tmp_path / "ledger" / "ledger.db")}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", ci_recipe()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr  # pass, or the policy's verdict: never a crash or bad input
    assert "carbonguard gate:" in done.stdout and "(run 4242-2)" in done.stdout
    assert summary.read_text().startswith("## carbonguard gate:")
