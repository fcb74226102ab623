"""Turn a `MatchResult` into the gate's findings. Pure; the gate adds the policy file and line.

Findings: one per rejection rule (with the count and the first ranges), one for a CFE score below
`min_cfe`, one per hour below `min_hourly_cfe` (the first few, then one with the count of the
rest), one when offsets or annual certificates are all that back the run's claim, and one for
invalid offsets or annual certificates. Outcomes: `spec.matching.action` for the CFE findings and
for rejections whose default severity is block (integrity: quantity, capacity, storage, double
listing or counting); warn for rejections of certificates that merely do not apply to this run;
`spec.matching.unverified` for unverified files; always block for `matching.offsets-only`; warn for
`matching.offset-invalid` (offsets never decide matching).
"""

from __future__ import annotations

from collections import defaultdict

from carbonguard.matching.models import MatchResult, Rejection
from carbonguard.matching.rules import MATCHING_RULES
from carbonguard.models import Finding, Outcome
from carbonguard.policy.models import Matching

MAX_HOUR_FINDINGS = 5
MAX_RANGES_NAMED = 3
_HELP = {str(rule["id"]): str(rule["help"]) for rule in MATCHING_RULES}
_WARN_ONLY = {str(rule["id"]) for rule in MATCHING_RULES if rule["default_severity"] == "warn"}


def judge_matching(policy: Matching, result: MatchResult) -> list[Finding]:
    action = Outcome(policy.action)
    findings: list[Finding] = []
    by_rule: dict[str, list[Rejection]] = defaultdict(list)
    for rejection in result.rejected:
        by_rule[rejection.rule_id].append(rejection)
    for rule_id in sorted(by_rule):
        items = by_rule[rule_id]
        named = "; ".join(f"{r.registry} {r.range}: {r.reason}" for r in items[:MAX_RANGES_NAMED])
        more = f" (and {len(items) - MAX_RANGES_NAMED} more)" if len(items) > MAX_RANGES_NAMED else ""
        if rule_id == "matching.unverified":
            outcome = Outcome(policy.unverified)
        else:
            outcome = Outcome.WARN if rule_id in _WARN_ONLY else action
        findings.append(Finding(rule_id=rule_id, outcome=outcome, scope="certificates",
                                message=f"{len(items)} certificate range(s) rejected: {named}{more}",
                                observed=float(len(items)), unit="ranges", remedy=_HELP.get(rule_id)))

    if result.cfe_score is not None and result.cfe_score < policy.min_cfe:
        findings.append(Finding(
            rule_id="matching.cfe", outcome=action, observed=round(result.cfe_score, 6), limit=policy.min_cfe,
            unit="hourly CFE score",
            message=(f"hourly CFE score {result.cfe_score:.1%} is below the policy minimum {policy.min_cfe:.1%}: "
                     f"{result.matched_kwh:.3f} of {result.consumption_kwh:.3f} kWh matched hour by hour"),
            remedy=_HELP["matching.cfe"]))

    if policy.min_hourly_cfe is not None:
        short = [h for h in result.hours if h.cfe is not None and h.cfe < policy.min_hourly_cfe]
        for hour in short[:MAX_HOUR_FINDINGS]:
            findings.append(Finding(
                rule_id="matching.hourly-cfe", outcome=action, scope=f"hour:{hour.hour_start.isoformat()}",
                observed=round(hour.cfe or 0.0, 6), limit=policy.min_hourly_cfe, unit="hourly CFE",
                message=(f"hour {hour.hour_start.isoformat()}: {hour.matched_kwh:.3f} of "
                         f"{hour.consumption_kwh:.3f} kWh matched ({(hour.cfe or 0.0):.1%}), below "
                         f"{policy.min_hourly_cfe:.1%}"),
                remedy=_HELP["matching.hourly-cfe"]))
        if len(short) > MAX_HOUR_FINDINGS:
            rest = len(short) - MAX_HOUR_FINDINGS
            findings.append(Finding(
                rule_id="matching.hourly-cfe", outcome=action, scope="hours", observed=float(rest), unit="hours",
                message=f"{rest} more hour(s) below {policy.min_hourly_cfe:.1%}", remedy=_HELP["matching.hourly-cfe"]))

    offset_only = offsets_only_finding(result)
    if offset_only is not None:
        findings.append(offset_only)

    invalid = [i for i in result.offsets.items if not i.valid]
    if invalid:
        named = "; ".join(f"{i.kind} {i.registry} {i.serial}: {i.reason}" for i in invalid[:MAX_RANGES_NAMED])
        more = f" (and {len(invalid) - MAX_RANGES_NAMED} more)" if len(invalid) > MAX_RANGES_NAMED else ""
        findings.append(Finding(rule_id="matching.offset-invalid", outcome=Outcome.WARN, scope="offsets",
                                observed=float(len(invalid)), unit="instruments",
                                message=f"{len(invalid)} offset(s)/annual certificate(s) do not count: {named}{more}",
                                remedy=_HELP["matching.offset-invalid"]))
    return findings


def offsets_only_finding(result: MatchResult) -> Finding | None:
    """The block for a renewable or net-zero claim backed only by offsets or annual certificates."""
    if not result.offsets.items or result.matched_kwh > 0 or not result.consumption_kwh:
        return None
    kinds = sorted({"offsets" if i.kind == "offset" else "annual certificates" for i in result.offsets.items})
    return Finding(
        rule_id="matching.offsets-only", outcome=Outcome.BLOCK, scope="run", observed=0.0, limit=None,
        unit="kWh matched hourly",
        message=(f"the run's renewable or net-zero claim rests on {' and '.join(kinds)} alone: none of its "
                 f"{result.consumption_kwh:.3f} kWh is matched hour by hour with granular certificates"),
        remedy=_HELP["matching.offsets-only"])
