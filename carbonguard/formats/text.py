"""Plain text for terminals and logs."""

from __future__ import annotations

from carbonguard.formats.common import (
    finding_location,
    fmt_run_quantity,
    fmt_stage_quantities,
    intensity_provenance,
)
from carbonguard.models import Decision, RunFootprint


def render(decision: Decision, footprint: RunFootprint | None = None) -> str:
    lines = [
        f"carbonguard gate: {decision.outcome.value.upper()} (run {decision.run_id})",
        f"policy: {decision.policy_name} v{decision.policy_version} "
        f"[{decision.policy_file or '-'}, sha256 {decision.policy_hash[:12]}]",
        f"energy_kwh: {fmt_run_quantity(decision.energy_kwh, 'kWh', decision.energy_complete)}",
        f"co2e_kg (location-based): {fmt_run_quantity(decision.co2e_kg, 'kg', decision.energy_complete)}",
    ]
    if footprint is not None:
        lines.append(
            f"zone: {footprint.zone}, PUE {footprint.pue:g}, IT energy {footprint.it_energy_kwh:.6g} kWh, "
            f"estimated readings: {footprint.estimated_components}, "
            f"unavailable readings: {footprint.unavailable_components}"
        )
        for stage in footprint.stages:
            energy, co2e = fmt_stage_quantities(stage)
            lines.append(f"  stage {stage.stage}: {energy}, {co2e} ({stage.records} record(s))")
        lines.extend(f"intensity: {line}" for line in intensity_provenance(footprint))
    if not decision.findings:
        lines.append("findings: none")
    for f in decision.findings:
        status = f"waived by {f.waived_by.approved_by} until {f.waived_by.expires}" if f.waived_by else f.outcome.value
        where = finding_location(f)
        lines.append(f"- [{status}] {f.rule_id} ({f.scope}): {f.message}" + (f" [{where}]" if where else ""))
        if f.remedy and not f.waived_by:
            lines.append(f"    fix: {f.remedy}")
    return "\n".join(lines) + "\n"
