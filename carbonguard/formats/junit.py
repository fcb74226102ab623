"""JUnit XML for `check`: one test suite per job spec or run, one test case per budget and per rule.

CI systems that read JUnit (GitLab, Jenkins, Azure Pipelines) then list every budget as a test that
passed, failed or was skipped (waived). A case fails when a finding of its rule would fail the check
under `--fail-on` (block and reschedule; warn too under `--fail-on warn`); other findings are kept
in the case's output. XML is built with ElementTree, which escapes markup; control characters,
which XML 1.0 cannot carry at all, are replaced first. No timestamps, `time` is 0: deterministic.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from carbonguard.formats.check_common import finding_order
from carbonguard.formats.escape import text_safe
from carbonguard.formats.registry import RenderOptions
from carbonguard.models import Finding, Outcome
from carbonguard.reporting.check import CheckReport
from carbonguard.rules import BUDGET_TEMPLATE, RULES


def _fails(finding: Finding, fail_on: str) -> bool:
    if finding.waived_by is not None or fail_on == "never":
        return False
    threshold = Outcome.WARN if fail_on == "warn" else Outcome.RESCHEDULE
    return finding.outcome.severity >= threshold.severity


def _line(finding: Finding) -> str:
    return text_safe(f"[{finding.outcome.value}] {finding.rule_id} ({finding.scope}): {finding.message}")


def render_check(report: CheckReport, options: RenderOptions) -> str:
    root = ET.Element("testsuites", name="carbonguard check")
    budget_ids = [b.rule_id for b in report.budgets]
    fixed = sorted(r for r in RULES if r != BUDGET_TEMPLATE and not r.startswith("budget."))
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for subject in report.subjects:
        by_rule: dict[str, list[Finding]] = {}
        for finding in sorted(subject.decision.findings, key=finding_order):
            by_rule.setdefault(finding.rule_id, []).append(finding)
        case_ids = list(dict.fromkeys([*budget_ids, *sorted(r for r in RULES if r.startswith("budget.")
                                                            and r != BUDGET_TEMPLATE), *fixed,
                                       *sorted(by_rule)]))
        suite = ET.SubElement(root, "testsuite", name=text_safe(f"{subject.kind} {subject.name}"))
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for rule_id in case_ids:
            found = by_rule.get(rule_id, [])
            case = ET.SubElement(suite, "testcase", name=text_safe(rule_id),
                                 classname=text_safe(f"carbonguard.{subject.kind}"), time="0")
            counts["tests"] += 1
            failing = [f for f in found if _fails(f, report.fail_on)]
            if failing:
                counts["failures"] += 1
                failure = ET.SubElement(case, "failure", message=text_safe(failing[0].message),
                                        type=failing[0].outcome.value)
                failure.text = "\n".join(_line(f) + (f"\nfix: {text_safe(f.remedy)}" if f.remedy else "")
                                         for f in failing)
            elif found and all(f.waived_by is not None for f in found):
                counts["skipped"] += 1
                w = found[0].waived_by
                assert w is not None
                ET.SubElement(case, "skipped", message=text_safe(
                    f"waived: {w.reason} (approved by {w.approved_by}, until {w.expires})"))
            if found and not failing:
                ET.SubElement(case, "system-out").text = "\n".join(_line(f) for f in found)
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("errors", "0")
        suite.set("time", "0")
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


RENDERERS: dict[str, Any] = {"check": render_check}
