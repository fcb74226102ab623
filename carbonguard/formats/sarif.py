"""SARIF 2.1.0 for `check`, for GitHub code scanning (`github/codeql-action/upload-sarif`).

`tool.driver.rules` comes from the rule catalogue (`carbonguard.rules`): every fixed rule, plus one
rule per budget of the policy (`budget.<id>`, described by the budget template), sorted by id, so
rule ids are stable across runs. Each result has `partialFingerprints` built from what identifies
the finding (rule, subject, scope, kind of limit), never from its numbers, so code scanning tracks
one alert across pushes. Waived findings are results with a `suppressions` entry carrying the
waiver's reason. Locations point at the job spec line the finding is about and the policy line of
the rule. JSON escaping makes every user string data; nothing here is markup.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePath
from typing import Any

from carbonguard import __version__
from carbonguard.formats.check_common import LEVEL, ordered_findings
from carbonguard.formats.registry import RenderOptions
from carbonguard.models import Finding
from carbonguard.reporting.check import CheckedSubject, CheckReport, SourceLine
from carbonguard.rules import BUDGET_TEMPLATE, RULES, lookup

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT_KEY = "carbonguardFinding/v1"


def _rule(rule_id: str) -> dict[str, Any]:
    rule = lookup(rule_id)
    title = rule.title if rule_id == rule.id else f"{rule.title}: {rule_id.split('.', 1)[1]}"
    return {
        "id": rule_id,
        "name": "".join(part.capitalize() for part in rule_id.replace("-", ".").split(".")),
        "shortDescription": {"text": title},
        "fullDescription": {"text": rule.help},
        "help": {"text": rule.help, "markdown": rule.help},
        "defaultConfiguration": {"level": "error" if rule.default_severity == "block" else "warning"},
        "properties": {"waivable": rule.waivable},
    }


def rule_ids(report: CheckReport) -> list[str]:
    """Fixed catalogue rules, every budget of the policy, and any other rule a finding names; sorted."""
    ids = {rid for rid in RULES if rid != BUDGET_TEMPLATE}
    ids |= {b.rule_id for b in report.budgets}
    ids |= {f.rule_id for s in report.subjects for f in s.decision.findings}
    return sorted(ids)


def _uri(path: str) -> str:
    p = PurePath(path)
    return p.as_uri() if p.is_absolute() else p.as_posix()


def _location(loc: SourceLine) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(loc.file)}}
    if loc.line:
        physical["region"] = {"startLine": int(loc.line)}
    return {"physicalLocation": physical}


def facet(finding: Finding) -> str:
    """Which limit a finding is about: the absolute one, or the increase over the baseline."""
    return "increase" if finding.unit and finding.unit.endswith("over baseline") else "limit"


def fingerprint(subject: CheckedSubject, finding: Finding) -> str:
    key = "\x1f".join((finding.rule_id, subject.kind, subject.name, finding.scope, facet(finding)))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _result(subject: CheckedSubject, finding: Finding, index: dict[str, int]) -> dict[str, Any]:
    locations = subject.locations(finding)
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": index[finding.rule_id],
        "level": LEVEL[finding.outcome],
        "message": {"text": finding.message + (f" Fix: {finding.remedy}" if finding.remedy else "")},
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(subject, finding)},
        "properties": {"subject": subject.name, "scope": finding.scope, "outcome": finding.outcome.value,
                       "observed": finding.observed, "limit": finding.limit, "unit": finding.unit},
    }
    if locations:
        result["locations"] = [_location(locations[0])]
        if len(locations) > 1:
            result["relatedLocations"] = [{"id": i, **_location(loc)} for i, loc in enumerate(locations[1:], 1)]
    if finding.waived_by is not None:
        w = finding.waived_by
        result["suppressions"] = [{
            "kind": "external",
            "status": "accepted",
            "justification": f"{w.reason} (approved by {w.approved_by}, expires {w.expires})",
        }]
    return result


def sarif_document(report: CheckReport) -> dict[str, Any]:
    ids = rule_ids(report)
    index = {rid: i for i, rid in enumerate(ids)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "carbonguard",
                "semanticVersion": __version__,
                "rules": [_rule(rid) for rid in ids],
            }},
            "automationDetails": {"id": f"carbonguard/check/{report.policy_name}/"},
            "results": [_result(s, f, index) for s, f in ordered_findings(report)],
            "properties": {"outcome": report.outcome.value, "co2e_kg": report.co2e_kg,
                           "delta_co2e_kg": report.delta_co2e_kg, "policy": report.policy_file},
        }],
    }


def render_check(report: CheckReport, options: RenderOptions) -> str:
    return json.dumps(sarif_document(report), indent=2, sort_keys=True) + "\n"


RENDERERS: dict[str, Any] = {"check": render_check}
