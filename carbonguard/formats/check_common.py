"""Shared wording and ordering for check and diff results, so every format says the same thing.

Fixed precision (3 decimals for kWh and kg, whole percent), findings in one stable order. These
return plain (unescaped) text; each renderer escapes it for its own format.
"""

from __future__ import annotations

from collections.abc import Iterator

from carbonguard.models import Finding, Outcome
from carbonguard.reporting.check import CheckedSubject, CheckReport

LEVEL = {Outcome.BLOCK: "error", Outcome.RESCHEDULE: "error", Outcome.WARN: "warning", Outcome.ALLOW: "note"}


def num(value: float | None, unit: str = "") -> str:
    """A figure at fixed precision with its unit, or 'unknown' (never 0 for a missing figure)."""
    if value is None:
        return "unknown"
    return f"{value:.3f}" + (f" {unit}" if unit else "")


def signed(value: float | None, unit: str = "") -> str:
    """'+1.234', with a change too small to show written '+0.000' (never '-0.000')."""
    if value is None:
        return "unknown"
    text = f"{value:+.3f}"
    return ("+0.000" if text == "-0.000" else text) + (f" {unit}" if unit else "")


def pct(fraction: float | None) -> str:
    if fraction is None:
        return "n/a"
    text = f"{fraction * 100:+.0f}"
    return ("+0" if text == "-0" else text) + " %"


def delta_phrase(delta: float | None, fraction: float | None, label: str | None, unit: str = "kg CO2e") -> str:
    """'+1.930 kg CO2e (+38 %) over main', or '' without a baseline."""
    if label is None:
        return ""
    if delta is None:
        return f"change over {label} unknown"
    return f"{signed(delta, unit)} ({pct(fraction)}) over {label}"


def finding_order(finding: Finding) -> tuple[int, int, str, str, str]:
    """Active before waived, worst first, then rule id, scope and message."""
    return (finding.waived_by is not None, -finding.outcome.severity, finding.rule_id, finding.scope,
            finding.message)


def ordered_findings(report: CheckReport) -> Iterator[tuple[CheckedSubject, Finding]]:
    """Every finding of every subject, subjects in the order given, findings in `finding_order`."""
    for subject in report.subjects:
        for finding in sorted(subject.decision.findings, key=finding_order):
            yield subject, finding


def status(finding: Finding) -> str:
    if finding.waived_by is not None:
        return f"waived ({finding.waived_by.reason}; approved by {finding.waived_by.approved_by}, " \
               f"until {finding.waived_by.expires})"
    return finding.outcome.value


def headline(report: CheckReport) -> str:
    """'BLOCK: 6.930 kg CO2e, +1.930 kg CO2e (+38 %) over main'."""
    change = delta_phrase(report.delta_co2e_kg, report.delta_fraction, report.baseline_label)
    return f"{report.outcome.value.upper()}: {num(report.co2e_kg, 'kg CO2e')}" + (f", {change}" if change else "")
