"""The built wheel installs into a fresh virtual environment and its CLI works from there.

This is what a user gets from `pip install .` (and later from PyPI): the package data (grid
dataset, policy schema) must be in the wheel and the console script must start. The wheel is
built without build isolation (hatchling is a dev dependency) and installed with `--no-deps
--no-index`; the fresh environment finds the dependencies through a `.pth` line naming this
environment's site-packages, so the test needs no network and takes a few seconds. The release
workflow does the full check (`pip install dist/*.whl` with its dependencies from PyPI).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("hatchling", reason="the wheel is built with hatchling: pip install -e '.[dev]'")
    out = tmp_path_factory.mktemp("dist")
    done = run(sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-w", out, cwd=REPO)
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("carbonguard-*.whl")
    return built


def test_wheel_carries_the_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in ("grid_annual.csv", "residual_mix.csv", "cloud_regions.csv", "zone_aliases.csv"):
        assert f"carbonguard/intensity/data/{data}" in names
    assert not any(n.startswith(("tests/", "scripts/", "docs/")) for n in names)


def test_installed_wheel_runs_the_cli_in_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path).returncode == 0
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    done = run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    fresh_site = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).stdout
    # dependencies come from this environment, after the fresh one's own site-packages
    (Path(fresh_site.strip()) / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    work = tmp_path / "elsewhere"  # not the repo: nothing may be imported from the source tree
    work.mkdir()

    where = run(python, "-c", "import carbonguard; print(carbonguard.__file__)", cwd=work, env=env)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr

    version = run(bindir / "carbonguard", "--version", cwd=work, env=env)
    assert version.returncode == 0 and version.stdout.strip().startswith("carbonguard "), version.stderr

    policy = run(
        bindir / "carbonguard", "policy", "validate", REPO / "policies" / "team-default.yaml", cwd=work, env=env
    )
    assert policy.returncode == 0, policy.stdout + policy.stderr

    figure = run(bindir / "carbonguard", "intensity", "DE", "--at", "2025-05-04T12:00Z", "--json", cwd=work, env=env)
    assert figure.returncode == 0 and '"dataset_version": "2026.1"' in figure.stdout, figure.stderr
