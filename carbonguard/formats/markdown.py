"""Markdown for Prefect artifacts, pull-request comments and compliance reports.

Every user-supplied string goes through `md_text` (text, table cells) or `md_code` (identifiers), so
no HTML, link, image or extra table column can be smuggled in through a stage or policy name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carbonguard.decimal_text import plain
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
from carbonguard.formats.numbers import figure, period_energy_unit, plural, to_float
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
        shown += (f" ({plain(match.matched_kwh)} of {plain(match.consumption_kwh)} kWh matched hour by hour; "
                  f"{len(match.rejected)} certificate range(s) rejected)")
    market = decision.market_co2e_kg if match is None else match.market_co2e_kg
    return [f"| hourly CFE score | {m(shown)} |",
            f"| co2e_kg (market-based) | {'unknown (no residual mix)' if market is None else f'{plain(market)} kg'} |"]


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


def _fig(value: Any, unit: str = "") -> str:
    """A ledger decimal string for people: 3 significant figures and its unit; '—' when absent."""
    return m(figure(value, unit, missing="—"))


def _sci(sci: Any) -> str:
    if sci.sci_g_per_unit is None:
        return _fig(None)
    return f"{_fig(sci.sci_g_per_unit, 'g CO2e')} per {_cell(sci.functional_unit)}"


def _tree_lines(run: Any) -> list[str]:
    """Which runs this section covers: a run's figures include its subflow runs' stages."""
    lines = []
    if run.subflow_run_ids:
        lines.append("Includes subflow runs " + ", ".join(c(r) for r in run.subflow_run_ids) + ".")
    if run.part_of_run_id:
        lines.append(f"A subflow run of {c(run.part_of_run_id)}.")
    return [*lines, ""] if lines else []


def _period_rows(period: Any) -> list[str]:
    """The period's figures with their units; energy in MWh only when the period reaches 1 MWh."""
    figures_mwh = (period.total_energy_mwh, period.measured_it_energy_mwh, period.estimated_it_energy_mwh,
                   period.renewable_energy_mwh)
    name, size = period_energy_unit(v * 1e3 for v in map(to_float, figures_mwh) if v is not None)

    def energy(mwh: str | None) -> str:
        value = to_float(mwh)
        return _fig(None) if value is None else _fig(value * 1e3 / size, name)

    rows = [("runs", str(period.runs)),
            ("total energy", f"{energy(period.total_energy_mwh)} ({m(period.total_energy_scope)})"),
            ("measured IT energy", energy(period.measured_it_energy_mwh)),
            ("estimated IT energy", energy(period.estimated_it_energy_mwh)),
            ("Scope 2 location-based", f"{_fig(period.location_based_co2e_kg, 'kg CO2e')} "
                                       f"({m(period.location_based_status)})"),
            ("Scope 2 market-based", f"{_fig(period.market_based_co2e_kg, 'kg CO2e')} "
                                     f"({m(period.market_based_status)})"),
            ("renewable energy", energy(period.renewable_energy_mwh)),
            ("renewable share", f"{_fig(period.renewable_share_percent, '%')} ({m(period.renewable_status)})"),
            ("metered GPU device-hours", _fig(period.metered_gpu_device_hours, "h"))]
    return [f"| {label} | {value} |" for label, value in rows]


def render_compliance(report: ComplianceReport, options: RenderOptions) -> str:
    """A human-readable report: the period summary, then one section per run.

    Figures read at 3 significant figures with their unit (a run's energy in kWh); the JSON
    format keeps the ledger's full decimal strings.
    """
    led, period = report.ledger, report.period
    lines = [
        "# carbonguard compliance report", "",
        f"Generated {m(report.generated_at)} from {c(led.url)} — ledger "
        f"{'verified' if led.verified else 'FAILED VERIFICATION'} ({m(led.verification)}); "
        f"head seq {led.head_seq}, hash {c(led.head_hash)}.", "",
        "## Period", "",
        "| figure | value |", "| --- | --- |",
        *_period_rows(period),
    ]
    for run in report.runs:
        e, cp, s, rn, sci = run.energy, run.compute, run.scope2, run.renewable, run.sci
        lines += [
            "", f"## Run {c(run.run_id)}", "", f"{_cell(run.start)} to {_cell(run.end)}", "",
            *_tree_lines(run),
            "| figure | value | provenance |", "| --- | --- | --- |",
            f"| IT energy | {_fig(e.it_energy_kwh, 'kWh')} | basis: {m(e.basis)}; measured "
            f"{_fig(e.measured_energy_kwh, 'kWh')}, estimated {_fig(e.estimated_energy_kwh, 'kWh')}, "
            f"{plural(e.unavailable_readings, 'unavailable reading')} |",
            f"| facility energy | {_fig(e.facility_energy_kwh, 'kWh')} | PUE {_fig(e.pue)}; "
            f"{m(e.facility_energy_status)} |",
            f"| GPUs / GPU device-hours | {cp.gpu_count} / {_fig(cp.gpu_device_hours, 'h')} | GPUs metered through "
            f"NVML; {plural(len(cp.devices), 'device')} read in all (GPU, CPU, DRAM, process estimates) |",
            f"| training wall time | {_fig(cp.training_wall_time_h, 'h')} | {plural(cp.stages, 'stage')}, "
            f"{_fig(cp.stage_time_h)} stage-hours |",
            f"| Scope 2 location-based | {_fig(s.location_based_co2e_kg, 'kg CO2e')} | "
            f"{_cell(s.location_based_source)} |",
            f"| Scope 2 market-based | {_fig(s.market_based_co2e_kg, 'kg CO2e')} | "
            f"{_cell(s.market_based_source)} |",
            f"| renewable share | {_fig(rn.renewable_share_percent, '%')} | {m(rn.status)}; "
            f"{plural(len(rn.claims), 'claim')} |",
            f"| SCI | {_sci(sci)} | "
            f"{m(sci.status)}; {m(sci.embodied_status)} |",
        ]
        for d in run.decisions:
            lines.append(f"| decision seq {d.seq} | {_cell(d.outcome)} | policy {_cell(d.policy_name)} "
                         f"v{_cell(d.policy_version)} {c(d.policy_hash or '')} |")
    lines += ["", "Standards: " + "; ".join(m(v) for v in report.standards.values()) + ".", ""]
    return "\n".join(lines)


# check and diff (the pull-request comment): carbonguard/formats/check_markdown.py
RENDERERS: dict[str, Any] = {"run": render_run, "compliance": render_compliance, **CHECK_RENDERERS}
