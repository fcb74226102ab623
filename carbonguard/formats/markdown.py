"""Markdown for Prefect artifacts and pull-request comments."""

from __future__ import annotations

from carbonguard.formats.common import (
    finding_location,
    fmt_run_quantity,
    fmt_stage_quantities,
    intensity_provenance,
)
from carbonguard.models import Decision, Outcome, RunFootprint

_BADGE = {Outcome.ALLOW: "✅ allow", Outcome.WARN: "⚠️ warn", Outcome.RESCHEDULE: "⏳ reschedule",
          Outcome.BLOCK: "⛔ block"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(decision: Decision, footprint: RunFootprint | None = None) -> str:
    out = [
        f"## carbonguard gate: {_BADGE[decision.outcome]}",
        "",
        f"Run `{decision.run_id}` against policy **{decision.policy_name}** v{decision.policy_version} "
        f"(`{decision.policy_file or '-'}`, sha256 `{decision.policy_hash[:12]}`).",
        "",
        "| quantity | value |",
        "| --- | --- |",
        f"| energy_kwh (facility) | {fmt_run_quantity(decision.energy_kwh, 'kWh', decision.energy_complete)} |",
        f"| co2e_kg (location-based) | {fmt_run_quantity(decision.co2e_kg, 'kg', decision.energy_complete)} |",
    ]
    if footprint is not None:
        out += [
            f"| zone | {footprint.zone} |",
            f"| PUE | {footprint.pue:g} |",
            f"| estimated readings | {footprint.estimated_components} |",
            f"| unavailable readings | {footprint.unavailable_components} |",
        ]
        if footprint.stages:
            out += ["", "| stage | records | energy (facility) | co2e (location-based) |",
                    "| --- | ---: | ---: | ---: |"]
            for s in footprint.stages:
                energy, co2e = fmt_stage_quantities(s)
                out.append(f"| {_cell(s.stage)} | {s.records} | {_cell(energy)} | {_cell(co2e)} |")
        provenance = intensity_provenance(footprint)
        if provenance:
            out += ["", "**Grid intensity used**", ""] + [f"- {_cell(line)}" for line in provenance]
    out += ["", "### Findings", ""]
    if not decision.findings:
        out.append("None.")
    else:
        out += ["| rule | outcome | scope | detail | policy | fix |", "| --- | --- | --- | --- | --- | --- |"]
        for f in decision.findings:
            status = f"waived ({_cell(f.waived_by.approved_by)}, until {f.waived_by.expires})" if f.waived_by \
                else f.outcome.value
            out.append(
                f"| `{f.rule_id}` | {status} | {_cell(f.scope)} | {_cell(f.message)} | "
                f"`{_cell(finding_location(f))}` | {_cell(f.remedy or '')} |"
            )
    return "\n".join(out) + "\n"
