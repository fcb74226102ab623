"""Shared wording for renderers, so every format says the same thing about the same number.

These return plain (unescaped) text; each renderer escapes it for its own format.
"""

from __future__ import annotations

from carbonguard.formats.numbers import sig3
from carbonguard.models import Finding, RescheduleProposal, RunFootprint, StageFootprint


def fmt_quantity(value: float | None, unit: str) -> str:
    """A number for people (3 significant figures) with its unit, or an explicit 'unknown': a missing
    figure is never printed as 0. JSON keeps every digit."""
    return "unknown" if value is None else f"{sig3(value)} {unit}"


def fmt_run_quantity(value: float | None, unit: str, complete: bool) -> str:
    """A run total: 'unknown' without a reading, marked as a lower bound when readings are missing."""
    if value is None:
        return "unknown (no device reading)" if not complete else "unknown"
    return fmt_quantity(value, unit) if complete else f">= {sig3(value)} {unit} (lower bound: readings missing)"


def fmt_stage_quantities(stage: StageFootprint) -> tuple[str, str]:
    """A stage's energy and CO2e, with the same no-reading and lower-bound rules as run totals."""
    return (fmt_run_quantity(stage.known_energy_kwh, "kWh", stage.energy_complete),
            fmt_run_quantity(stage.known_co2e_kg, "kg CO2e", stage.energy_complete))


def reschedule_line(proposal: RescheduleProposal) -> str:
    """The proposal in one sentence: where and when, what it saves, or why there is none."""
    if not proposal.proposed or proposal.start is None:
        return f"no cleaner window: {proposal.reason}"
    saving = ""
    if proposal.saving_fraction is not None:
        saving = f", saving {proposal.saving_fraction:.0%}"
        if proposal.saving_co2e_kg is not None:
            saving += f" ({sig3(proposal.saving_co2e_kg)} kg CO2e)"
    now = (f" against {proposal.run_now_g_per_kwh:.0f} g/kWh now" if proposal.run_now_g_per_kwh is not None else "")
    return (f"run in {proposal.zone} from {proposal.start.strftime('%Y-%m-%dT%H:%MZ')} to "
            f"{proposal.end.strftime('%Y-%m-%dT%H:%MZ') if proposal.end else '?'} "
            f"at {proposal.mean_g_per_kwh:.0f} g/kWh{now}{saving}")


def finding_location(finding: Finding) -> str:
    if finding.policy_file is None:
        return ""
    return f"{finding.policy_file}:{finding.policy_line}" if finding.policy_line else finding.policy_file


def intensity_provenance(footprint: RunFootprint) -> list[str]:
    """One line per distinct intensity figure used: value, zone, signal, provider, origin, source."""
    lines = []
    for p in footprint.intensity_sources:
        when = f"year {p.year}" if p.year else p.start.strftime("%Y-%m-%dT%H:%MZ")
        extra = f", fell back from {p.fallback_from}" if p.fallback_from else ""
        flags = f" [{', '.join(p.flags)}]" if p.flags else ""
        lines.append(
            f"{sig3(p.intensity_g_per_kwh)} gCO2e/kWh for {p.zone} ({when}, {p.signal.value}, {p.kind}) "
            f"from {p.provider} ({p.origin.value}{extra}){': ' + p.source if p.source else ''}{flags}"
        )
    return lines
