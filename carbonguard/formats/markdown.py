"""Markdown for Prefect artifacts, pull-request comments and compliance reports.

Every user-supplied string goes through `md_text` (text, table cells) or `md_code` (identifiers), so
no HTML, link, image or extra table column can be smuggled in through a stage or policy name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carbonguard.formats.check_markdown import RENDERERS as CHECK_RENDERERS
from carbonguard.formats.common import (
    finding_location,
    fmt_run_quantity,
    fmt_stage_quantities,
    intensity_provenance,
    reschedule_line,
)
from carbonguard.formats.escape import md_code as c
from carbonguard.formats.escape import md_text as m
from carbonguard.formats.registry import RenderOptions
from carbonguard.models import Outcome

_BADGE = {Outcome.ALLOW: "✅ allow", Outcome.WARN: "⚠️ warn", Outcome.RESCHEDULE: "⏳ reschedule",
          Outcome.BLOCK: "⛔ block"}

if TYPE_CHECKING:  # result types are only annotations here; importing them would slow every CLI start
    from carbonguard.reporting.compliance import ComplianceReport
    from carbonguard.reporting.run import RunReport


def _matching_rows(result: RunReport) -> list[str]:
    """Hourly CFE score and market-based CO2e, when the policy matches certificates."""
    decision, match = result.decision, result.match
    if match is None and decision.cfe_score is None:
        return []
    cfe = decision.cfe_score if match is None else match.cfe_score
    shown = "none (no known consumption)" if cfe is None else f"{cfe:.1%}"
    if match is not None:
        shown += (f" ({match.matched_kwh:.6g} of {match.consumption_kwh:.6g} kWh matched hour by hour; "
                  f"{len(match.rejected)} certificate range(s) rejected)")
    market = decision.market_co2e_kg if match is None else match.market_co2e_kg
    return [f"| hourly CFE score | {m(shown)} |",
            f"| co2e_kg (market-based) | {'unknown (no residual mix)' if market is None else f'{market:.6g} kg'} |"]


def render_run(result: RunReport, options: RenderOptions) -> str:
    decision, footprint = result.decision, result.footprint
    out = [
        f"## carbonguard gate: {_BADGE[decision.outcome]}",
        "",
        f"Run {c(decision.run_id)} against policy **{m(decision.policy_name)}** v{m(decision.policy_version)} "
        f"({c(decision.policy_file or '-')}, sha256 `{decision.policy_hash[:12]}`).",
        "",
        "| quantity | value |",
        "| --- | --- |",
        f"| energy_kwh (facility) | {fmt_run_quantity(decision.energy_kwh, 'kWh', decision.energy_complete)} |",
        f"| co2e_kg (location-based) | {fmt_run_quantity(decision.co2e_kg, 'kg', decision.energy_complete)} |",
    ]
    out += _matching_rows(result)
    if footprint is not None:
        out += [
            f"| zone | {m(footprint.zone)} |",
            f"| PUE | {footprint.pue:g} |",
            f"| estimated readings | {footprint.estimated_components} |",
            f"| unavailable readings | {footprint.unavailable_components} |",
        ]
        if footprint.stages:
            out += ["", "| stage | records | energy (facility) | co2e (location-based) |",
                    "| --- | ---: | ---: | ---: |"]
            for s in footprint.stages:
                energy, co2e = fmt_stage_quantities(s)
                out.append(f"| {m(s.stage)} | {s.records} | {energy} | {co2e} |")
        provenance = intensity_provenance(footprint)
        if provenance:
            out += ["", "**Grid intensity used**", ""] + [f"- {m(line)}" for line in provenance]
    if decision.reschedule is not None:
        out += ["", f"**Reschedule:** {m(reschedule_line(decision.reschedule))}"]
    out += ["", "### Findings", ""]
    if not decision.findings:
        out.append("None.")
    else:
        out += ["| rule | outcome | scope | detail | policy | fix |", "| --- | --- | --- | --- | --- | --- |"]
        for f in decision.findings:
            status = (f"waived ({m(f.waived_by.approved_by)}, until {m(f.waived_by.expires)})" if f.waived_by
                      else f.outcome.value)
            where = finding_location(f)
            out.append(
                f"| {c(f.rule_id)} | {status} | {m(f.scope)} | {m(f.message)} | "
                f"{c(where) if where else c('')} | {m(f.remedy or '')} |"
            )
    return "\n".join(out) + "\n"


def _cell(value: Any) -> str:
    return "—" if value is None else m(value)


def _tree_lines(run: Any) -> list[str]:
    """Which runs this section covers: a run's figures include its subflow runs' stages."""
    lines = []
    if run.subflow_run_ids:
        lines.append("Includes subflow runs " + ", ".join(c(r) for r in run.subflow_run_ids) + ".")
    if run.part_of_run_id:
        lines.append(f"A subflow run of {c(run.part_of_run_id)}.")
    return [*lines, ""] if lines else []


def render_compliance(report: ComplianceReport, options: RenderOptions) -> str:
    """A human-readable report: the period summary, then one section per run."""
    led, period = report.ledger, report.period
    lines = [
        "# carbonguard compliance report", "",
        f"Generated {m(report.generated_at)} from {c(led.url)} — ledger "
        f"{'verified' if led.verified else 'FAILED VERIFICATION'} ({m(led.verification)}); "
        f"head seq {led.head_seq}, hash {c(led.head_hash)}.", "",
        "## Period", "",
        "| figure | value |", "| --- | --- |",
    ]
    for key, value in period.model_dump().items():
        lines.append(f"| {key} | {_cell(value)} |")
    for run in report.runs:
        e, cp, s, rn, sci = run.energy, run.compute, run.scope2, run.renewable, run.sci
        lines += [
            "", f"## Run {c(run.run_id)}", "", f"{_cell(run.start)} to {_cell(run.end)}", "",
            *_tree_lines(run),
            "| figure | value | provenance |", "| --- | --- | --- |",
            f"| IT energy (kWh) | {_cell(e.it_energy_kwh)} | basis: {m(e.basis)}; measured "
            f"{m(e.measured_energy_kwh)}, estimated {m(e.estimated_energy_kwh)}, "
            f"{e.unavailable_readings} unavailable readings |",
            f"| facility energy (kWh) | {_cell(e.facility_energy_kwh)} | PUE {_cell(e.pue)}; "
            f"{m(e.facility_energy_status)} |",
            f"| GPUs / GPU device-hours | {cp.gpu_count} / {_cell(cp.gpu_device_hours)} | GPUs metered through "
            f"NVML; {len(cp.devices)} readings' devices in all (GPU, CPU, DRAM, process estimates) |",
            f"| training wall time (h) | {_cell(cp.training_wall_time_h)} | {cp.stages} stages, "
            f"{_cell(cp.stage_time_h)} stage-hours |",
            f"| Scope 2 location-based (kg CO2e) | {_cell(s.location_based_co2e_kg)} | "
            f"{_cell(s.location_based_source)} |",
            f"| Scope 2 market-based (kg CO2e) | {_cell(s.market_based_co2e_kg)} | "
            f"{_cell(s.market_based_source)} |",
            f"| renewable share (%) | {_cell(rn.renewable_share_percent)} | {m(rn.status)}; "
            f"{len(rn.claims)} claims |",
            f"| SCI (g CO2e per {_cell(sci.functional_unit)}) | {_cell(sci.sci_g_per_unit)} | "
            f"{m(sci.status)}; {m(sci.embodied_status)} |",
        ]
        for d in run.decisions:
            lines.append(f"| decision seq {d.seq} | {_cell(d.outcome)} | policy {_cell(d.policy_name)} "
                         f"v{_cell(d.policy_version)} {c(d.policy_hash or '')} |")
    lines += ["", "Standards: " + "; ".join(m(v) for v in report.standards.values()) + ".", ""]
    return "\n".join(lines)


# check and diff (the pull-request comment): carbonguard/formats/check_markdown.py
RENDERERS: dict[str, Any] = {"run": render_run, "compliance": render_compliance, **CHECK_RENDERERS}
