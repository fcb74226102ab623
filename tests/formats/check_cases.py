"""Deterministic `check` and `diff` results for the golden-file tests, built through the real pipeline.

The job spec is examples/jobs/train-small.yaml with twice the training FLOPs (the pull request), the
baseline is the unchanged file (the base branch), the policy adds increase limits and a waiver to
policies/ci-budget.yaml. Sources are named as in a repository checkout, so no path of the machine
that runs the tests reaches an expected file.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from carbonguard.cli.check_cmd import judge_loaded_jobspec
from carbonguard.cli.estimate_cmd import DEFAULT_START, parse_start
from carbonguard.estimate.loader import parse_jobspec
from carbonguard.models import FigureSet
from carbonguard.policy import parse_policy
from carbonguard.reporting.check import BudgetInfo, CheckReport, DiffReport

REPO = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 3, 2, tzinfo=timezone.utc)
START = parse_start(DEFAULT_START)
JOBSPEC = "examples/jobs/train-small.yaml"
POLICY = "policies/ci-budget.yaml"
WAIVER = """  waivers:
    - rule: measurement.estimated
      reason: A pull request can only be estimated; budgets are judged on the upper bound.
      approved_by: ml-platform@example.com
      expires: 2099-12-31
"""


def policy_text() -> str:
    text = (REPO / POLICY).read_text()
    text = text.replace("      limit: 25.0\n", "      limit: 25.0\n      max_increase_kwh: 2.0\n")
    return text + WAIVER


def jobspec_text(flops: str = "7.5e18") -> str:
    return (REPO / JOBSPEC).read_text().replace("flops: 7.5e18", f"flops: {flops}")


def check_report(*, hostile: str | None = None) -> CheckReport:
    """The pull request doubles the training FLOPs; `hostile` replaces the stage and budget labels."""
    policy = parse_policy(policy_text(), POLICY)
    head_text, base_text = jobspec_text("1.5e19"), jobspec_text()
    if hostile is not None:
        head_text = head_text.replace("name: train\n", "name: train-x\n")
        base_text = base_text.replace("name: train\n", "name: train-x\n")
    base = judge_loaded_jobspec(parse_jobspec(base_text, JOBSPEC), policy, start=START, as_of=AS_OF)
    label = "main" if hostile is None else hostile
    baseline = FigureSet.of([base.footprint], label=label, source="base.json")
    subject = judge_loaded_jobspec(parse_jobspec(head_text, JOBSPEC if hostile is None else hostile), policy,
                                   start=START, as_of=AS_OF, baseline=baseline)
    budgets = tuple(BudgetInfo(b.id, b.scope, b.metric, b.limit, policy.line_of("spec", "budgets", i))
                    for i, b in enumerate(policy.policy.spec.budgets))
    return CheckReport(policy.source, policy.name, policy.version, policy.content_hash, (subject,), "block", budgets)


def diff_report() -> DiffReport:
    policy = parse_policy(policy_text(), POLICY)
    base = judge_loaded_jobspec(parse_jobspec(jobspec_text(), JOBSPEC), policy, start=START, as_of=AS_OF)
    head_text = jobspec_text("1.5e19").replace("duration_h: 0.25", "duration_h: 1.0")
    head = judge_loaded_jobspec(parse_jobspec(head_text, JOBSPEC), policy, start=START, as_of=AS_OF)
    return DiffReport.compare(FigureSet.of([base.footprint], label="main", source="base.json"),
                              FigureSet.of([head.footprint], label="pr-42", source=JOBSPEC))
