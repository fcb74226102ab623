"""Plain text for `check` and `diff` (terminals, CI logs). Every user string goes through `text_safe`."""

from __future__ import annotations

from typing import Any

from carbonguard.formats.check_common import delta_phrase, headline, num, ordered_findings, pct, signed, status
from carbonguard.formats.escape import text_safe as t
from carbonguard.formats.registry import RenderOptions
from carbonguard.reporting.check import CheckReport, DiffReport, DiffRow


def render_check(report: CheckReport, options: RenderOptions) -> str:
    lines = [
        f"carbonguard check: {t(headline(report))}",
        f"policy: {t(report.policy_name)} v{t(report.policy_version)} [{t(report.policy_file)}, "
        f"sha256 {report.policy_hash[:12]}]; fail on {report.fail_on}",
    ]
    for s in report.subjects:
        f = s.figures
        change = delta_phrase(s.delta_co2e_kg, s.delta_fraction, s.baseline.label if s.baseline else None)
        lines.append(f"{s.kind} {t(s.name)}: {s.decision.outcome.value}; energy_kwh {num(f.energy_kwh)} "
                     f"(upper {num(f.energy_upper_kwh)}); co2e_kg {num(f.co2e_kg)} (upper {num(f.co2e_upper_kg)})"
                     + (f"; {t(change)}" if change else ""))
        for stage in s.footprint.stages:
            base = s.baseline.stage(stage.stage) if s.baseline else None
            was = f"; baseline co2e_kg {num(base.co2e_kg)}" if base is not None else ""
            lines.append(f"  stage {t(stage.stage)}: energy_kwh {num(stage.known_energy_kwh)}, "
                         f"co2e_kg {num(stage.known_co2e_kg)}{was}")
    findings = list(ordered_findings(report))
    if not findings:
        lines.append("findings: none")
    for s, finding in findings:
        where = ", ".join(f"{loc.file}:{loc.line}" if loc.line else loc.file for loc in s.locations(finding))
        lines.append(f"- [{t(status(finding))}] {t(finding.rule_id)} ({t(finding.scope)}): {t(finding.message)}"
                     + (f" [{t(where)}]" if where else ""))
        if finding.remedy and finding.waived_by is None:
            lines.append(f"    fix: {t(finding.remedy)}")
    return "\n".join(lines) + "\n"


def _row(row: DiffRow) -> str:
    b, h = row.base, row.head
    return (f"{t(row.stage)} ({row.status}): energy_kwh {num(b.energy_kwh if b else None)} -> "
            f"{num(h.energy_kwh if h else None)} ({signed(row.delta_energy_kwh)}, {pct(row.energy_fraction)}); "
            f"co2e_kg {num(b.co2e_kg if b else None)} -> {num(h.co2e_kg if h else None)} "
            f"({signed(row.delta_co2e_kg)}, {pct(row.co2e_fraction)})")


def render_diff(report: DiffReport, options: RenderOptions) -> str:
    lines = [f"carbonguard diff: {t(report.base.label)} -> {t(report.head.label)}",
             f"total: {_row(report.total).split(': ', 1)[1]}",
             "stages (moved most first):"]
    lines += [f"  {_row(row)}" for row in report.rows]
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Any] = {"check": render_check, "diff": render_diff}
