"""Plain text for terminals and logs. Every user-supplied string goes through `text_safe`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from carbonguard.decimal_text import plain
from carbonguard.formats.admin_text import RENDERERS as ADMIN_RENDERERS
from carbonguard.formats.check_text import RENDERERS as CHECK_RENDERERS
from carbonguard.formats.common import (
    finding_location,
    fmt_quantity,
    fmt_run_quantity,
    fmt_stage_quantities,
    intensity_provenance,
    reschedule_line,
)
from carbonguard.formats.escape import text_safe as t
from carbonguard.formats.intensity_text import RENDERERS as INTENSITY_RENDERERS
from carbonguard.formats.numbers import figure, plural
from carbonguard.formats.registry import RenderOptions

if TYPE_CHECKING:  # result types are only annotations here; importing them would slow every CLI start
    from carbonguard.reporting.estimate import EstimateReport
    from carbonguard.reporting.match import MatchReport
    from carbonguard.reporting.meter import MeterReport
    from carbonguard.reporting.run import RunReport
    from carbonguard.reporting.runs import RunList
    from carbonguard.reporting.schedule import ScheduleReport


def run_head_lines(result: RunReport) -> list[str]:
    """The verdict, the policy and the run's totals (the first line holds the outcome word)."""
    decision, footprint = result.decision, result.footprint
    lines = [
        f"carbonguard gate: {decision.outcome.value.upper()} (run {t(decision.run_id)})",
        f"policy: {t(decision.policy_name)} v{t(decision.policy_version)} "
        f"[{t(decision.policy_file or '-')}, sha256 {decision.policy_hash[:12]}]",
        f"energy_kwh: {fmt_run_quantity(decision.energy_kwh, 'kWh', decision.energy_complete)}",
        f"co2e_kg (location-based): {fmt_run_quantity(decision.co2e_kg, 'kg', decision.energy_complete)}",
    ]
    lines += _matching_lines(result)
    if footprint is not None:
        lines.append(
            f"zone: {t(footprint.zone)}, PUE {footprint.pue:g}, "
            f"IT energy {fmt_quantity(footprint.it_energy_kwh, 'kWh')}, "
            f"estimated readings: {footprint.estimated_components}, "
            f"unavailable readings: {footprint.unavailable_components}"
        )
    return lines


def run_stage_rows(result: RunReport) -> list[tuple[str, str, str, str]]:
    """(stage, energy, CO2e, records) per stage, escaped; energy in kWh, CO2e in kg throughout."""
    if result.footprint is None:
        return []
    rows = []
    for stage in result.footprint.stages:
        energy, co2e = fmt_stage_quantities(stage)
        rows.append((t(stage.stage), energy, co2e, plural(stage.records, "record")))
    return rows


def run_tail_lines(result: RunReport) -> list[str]:
    """Where the intensity came from, a reschedule proposal, and the findings."""
    decision, footprint = result.decision, result.footprint
    lines = [f"intensity: {t(line)}" for line in intensity_provenance(footprint)] if footprint is not None else []
    if decision.reschedule is not None:
        lines.append(f"reschedule: {t(reschedule_line(decision.reschedule))}")
    if not decision.findings:
        lines.append("findings: none")
    for f in decision.findings:
        status = (f"waived by {t(f.waived_by.approved_by)} until {t(f.waived_by.expires)}" if f.waived_by
                  else f.outcome.value)
        where = t(finding_location(f))
        lines.append(f"- [{status}] {t(f.rule_id)} ({t(f.scope)}): {t(f.message)}" + (f" [{where}]" if where else ""))
        if f.remedy and not f.waived_by:
            lines.append(f"    fix: {t(f.remedy)}")
    return lines


def render_run(result: RunReport, options: RenderOptions) -> str:
    stages = [f"  stage {name}: {energy}, {co2e} ({records})" for name, energy, co2e, records in run_stage_rows(result)]
    return "\n".join([*run_head_lines(result), *stages, *run_tail_lines(result)]) + "\n"


def _pct(value: float | None) -> str:
    return "none (no energy consumed, or none known)" if value is None else f"{value:.1%}"


def _matching_lines(result: RunReport) -> list[str]:
    """The CFE line and the Scope 2 pair, when the decision came from a policy that matches certificates."""
    decision, match = result.decision, result.match
    if match is None and decision.cfe_score is None:
        return []
    cfe = decision.cfe_score if match is None else match.cfe_score
    lines = [f"cfe_score (hourly): {_pct(cfe)}"
             + (f" ({plain(match.matched_kwh)} of {plain(match.consumption_kwh)} kWh matched hour by hour, "
                f"{len(match.claims)} claim(s), {len(match.rejected)} certificate range(s) rejected)" if match else "")]
    market = decision.market_co2e_kg if match is None else match.market_co2e_kg
    lines.append(f"co2e_kg (market-based): {'unknown (no residual mix)' if market is None else f'{plain(market)} kg'}"
                 + (f" [residual mix: {t(match.residual_mix_source)}]" if match and match.residual_mix_source else ""))
    return lines


def _kg(value: float | None, missing: str) -> str:
    return missing if value is None else f"{plain(value)}"


def render_match(result: MatchReport, options: RenderOptions) -> str:
    """CFE score, each hour matched and unmatched, each rejected certificate with its rule, Scope 2 pair."""
    m = result.result
    verdict = "PASS" if result.passed else "FAIL"
    minimum = f"policy minimum {result.min_cfe:.1%}" + (
        f", each hour {result.min_hourly_cfe:.1%}" if result.min_hourly_cfe is not None else "")
    lines = [
        f"carbonguard match: {verdict} ({t(result.consumption_from)}, zone {t(m.zone)})",
        f"policy: {t(result.policy_name)} v{t(result.policy_version)} "
        f"[{t(result.policy_file or '-')}, sha256 {result.policy_hash[:12]}]",
        f"cfe_score (hourly): {_pct(m.cfe_score)} ({minimum}"
        + ("; met)" if result.minimum_met else "; NOT met)"),
        f"consumption_kwh: {plain(m.consumption_kwh)}, matched_kwh: {plain(m.matched_kwh)}, "
        f"unmatched_kwh: {plain(m.unmatched_kwh)}",
        f"co2e_kg (location-based): {_kg(m.location_co2e_kg, 'unknown')}; "
        f"co2e_kg (market-based): {_kg(m.market_co2e_kg, 'unknown (no residual mix)')}",
    ]
    if m.residual_mix_source:
        lines.append(f"residual mix: {t(m.residual_mix_source)}")
    hours = m.hours if len(m.hours) <= 48 else m.hours[:24] + m.hours[-24:]
    lines.append("hours (UTC): consumption_kwh, matched_kwh, unmatched_kwh, cfe")
    for hour in hours:
        certs = ", ".join(f"{t(u.registry)} {u.range} ({t(u.energy_source)}"
                          + (", held before" if u.already_claimed else "") + ")" for u in hour.certificates[:4])
        more = f" +{len(hour.certificates) - 4} more" if len(hour.certificates) > 4 else ""
        cfe = "-" if hour.cfe is None else f"{hour.cfe:.0%}"
        unmatched = plain(hour.consumption_kwh - hour.matched_kwh)
        lines.append(f"  {hour.hour_start:%Y-%m-%dT%H:%MZ}  {plain(hour.consumption_kwh)}  {plain(hour.matched_kwh)}  "
                     f"{unmatched}  {cfe}" + (f"  [{certs}{more}]" if certs else ""))
    if len(m.hours) > len(hours):
        lines.append(f"  ... {len(m.hours) - len(hours)} more hours (use -o json for all)")
    if m.rejected:
        lines.append(f"rejected certificates ({len(m.rejected)}):")
        for r in m.rejected[:20]:
            where = r.source + (f":{r.line}" if r.line else f": {r.path}" if r.path else "") if r.source else ""
            lines.append(f"  - {t(r.registry)} {t(r.range)}: {t(r.rule_id)}: {t(r.reason)}"
                         + (f" [{t(where)}]" if where else ""))
        if len(m.rejected) > 20:
            lines.append(f"  ... {len(m.rejected) - 20} more (use -o json for all)")
    if m.offsets.items:
        lines.append("offsets and annual certificates (reported apart; never hourly matching):")
        for i in m.offsets.items:
            state = "valid" if i.valid else f"not counted: {t(i.rule_id)}: {t(i.reason)}"
            lines.append(f"  - {i.kind} {t(i.registry)} {t(i.serial)} vintage {i.vintage_year}: "
                         f"{i.quantity:g} {i.unit}, {state}")
        if m.offsets.net_co2e_kg is not None:
            lines.append(f"  net co2e_kg after offsets (policy counts them toward net): {plain(m.offsets.net_co2e_kg)}")
    if result.claims_recorded is not None:
        ledger = t(result.ledger_url or "the ledger")
        lines.append(f"claims: {result.claims_recorded} new claim(s) recorded in {ledger}")
    else:
        lines.append(f"claims: {len(m.claims)} computed, not recorded"
                     + (" (--dry-run)" if result.consumption_from.startswith("run ") else " (consumption file)"))
    lines.append("findings: none" if not result.findings else "findings:")
    lines += _finding_lines(result.findings)
    return "\n".join(lines) + "\n"


def _finding_lines(findings: Any) -> list[str]:
    lines = []
    for f in findings:
        status = (f"waived by {t(f.waived_by.approved_by)} until {t(f.waived_by.expires)}" if f.waived_by
                  else f.outcome.value)
        where = t(finding_location(f))
        lines.append(f"- [{status}] {t(f.rule_id)} ({t(f.scope)}): {t(f.message)}" + (f" [{where}]" if where else ""))
        if f.remedy and not f.waived_by:
            lines.append(f"    fix: {t(f.remedy)}")
    return lines


def _energy(kwh: float | None) -> str:
    return "unavailable" if kwh is None else f"{kwh:.3g} kWh ({kwh * 3.6e6:.3g} J)"


def render_meter(result: MeterReport, options: RenderOptions) -> str:
    record = result.record
    lines = [
        f"carbonguard meter: {t(repr(result.command[0]))} as stage {t(repr(record.stage))} ran "
        f"{result.duration_s:.3g} s, exit status {result.exit_code}"
    ]
    for c in record.components:
        band = f" ± {c.uncertainty_kwh:.2g} kWh" if c.uncertainty_kwh else ""
        lines.append(f"  {c.component:<4} {t(c.device):<24} {c.method.value:<11} {_energy(c.energy_kwh)}{band}")
        lines.append(f"       {t(c.source)}")
    upper = result.energy_kwh + result.uncertainty_kwh
    unavailable = len(record.unavailable)
    lines.append(f"  total {_energy(result.energy_kwh)}, upper bound {upper:.3g} kWh"
                 + (f", {unavailable} reading(s) unavailable (not counted)" if unavailable else ""))
    if not any(c.component == "gpu" for c in record.components):
        flags = f" ({t(', '.join(result.measurement_flags))})" if result.measurement_flags else ""
        lines.append("  no GPU metered" + flags)
    if result.ledger is not None:
        lines.append(f"  recorded: run {t(record.run_id)}, ledger seq {result.ledger.seq}, "
                     f"hash {result.ledger.record_hash}")
    else:
        lines.append(f"  not recorded (run {t(record.run_id)})")
    return "\n".join(lines) + "\n"


def _tm(t: datetime | None) -> str:
    return "-" if t is None else t.strftime("%Y-%m-%dT%H:%MZ")


def _g(v: float | None) -> str:
    return "unknown" if v is None else f"{v:.1f}"


def _saving(s: Any) -> str:
    if s is None:
        return "unknown"
    out = f"{s.g_per_kwh:.1f} g/kWh"
    if s.fraction is not None:
        out += f" ({s.fraction:.1%})"
    if s.co2e_kg is not None:
        out += f", {s.co2e_kg:.3g} kg CO2e for {s.energy_kwh:g} kWh"
    return out


def _allowed(v: bool | None) -> str:
    return {None: "no policy given", True: "allowed by the policy", False: "not allowed by the policy"}[v]


def render_schedule(result: ScheduleReport, options: RenderOptions) -> str:
    """Plain text; every zone name, file name and provider message passes through text_safe."""
    plan, file_notes, provider_errors = result.plan, result.forecast_files, result.provider_errors
    lines = [
        f"job: {plan.duration_s / 3600:g} h, not before {_tm(plan.not_before)}, deadline {_tm(plan.deadline)}",
        f"home zone: {t(plan.home_zone)}",
    ]
    if plan.run_now:
        lines.append(f"run now:  {_tm(plan.run_now.start)}  mean_g_per_kwh {_g(plan.run_now.mean_g_per_kwh)}")
    else:
        lines.append("run now:  unknown (no figures cover a start at not-before)")
    if plan.best:
        b = plan.best
        lines.append(
            f"best:     {t(b.zone)} {_tm(b.start)} .. {_tm(b.end)}  mean_g_per_kwh {_g(b.mean_g_per_kwh)}"
        )
        lines.append(f"saving:   {_saving(plan.saving)}")
    if len(plan.ties) > 1 or (plan.ties and plan.ties[0].start != plan.ties[0].latest_start):
        lines.append("tied optima (earliest chosen):")
        lines += [f"  start {_tm(t.start)} .. {_tm(t.latest_start)}" for t in plan.ties[:20]]
        if len(plan.ties) > 20:
            lines.append(f"  ... {len(plan.ties) - 20} more (use -o json)")
    if not plan.time_shift_judged:
        lines.append("time shifting: cannot be judged (no forecast for the home zone, only flat annual figures)")
    lines.append("levers (against the home zone now):")
    for lv in plan.levers:
        where = f"{t(lv.zone)} {_tm(lv.window.start)}" if lv.window else t(lv.zone or "")
        why = f" ({t(lv.reason)})" if lv.reason else ""
        lines.append(f"  {lv.kind:<9} {where:<28} saving {_saving(lv.saving)}; {_allowed(lv.allowed_by_policy)}{why}")
    pr = plan.pause_resume
    if pr is not None:
        lines.append("pause and resume:")
        if pr.status != "ok":
            lines.append(f"  {pr.status}: {t(pr.reason)}")
        else:
            cost = f"{pr.interruption_cost.value:g} {pr.interruption_cost.unit}" if pr.interruption_cost else "none"
            lines.append(f"  {len(pr.slots)} slot(s), {pr.interruptions} interruption(s) (cost each: {cost}); "
                         f"mean_g_per_kwh {_g(pr.mean_g_per_kwh)}, effective_g_per_kwh {_g(pr.effective_g_per_kwh)}; "
                         f"saving {_saving(pr.saving)}")
            lines += [
                f"  {_tm(s.start)} .. {_tm(s.end)}  mean_g_per_kwh {_g(s.mean_g_per_kwh)}" for s in pr.slots[:24]
            ]
            if pr.reason:
                lines.append(f"  note: {t(pr.reason)}")
    lines.append("zones:")
    for z in plan.zones:
        best = f"best {_tm(z.best.start)} {_g(z.best.mean_g_per_kwh)}" if z.best else "best -"
        lines.append(f"  {t(z.zone):<12} {z.basis:<8} now {_g(z.run_now_g_per_kwh):>8}  {best}  "
                     f"saving now {_saving(z.saving_now)}; {_allowed(z.allowed_by_policy)}")
    for s in plan.searches:
        for n in s.notes:
            lines.append(f"note ({t(s.zone)}): {t(n)}")
    lines += [f"note: {t(n)}" for n in plan.notes]
    lines += [f"forecast file: {t(n)}" for n in file_notes]
    lines += [f"provider error: {t(e)}" for e in provider_errors]
    return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.4g}"


def render_estimate(result: EstimateReport, options: RenderOptions) -> str:
    """Per stage: time, place, IT energy with its band, facility energy and CO2e; then totals and sources."""
    lines = [f"carbonguard estimate: {t(result.job)} ({plural(len(result.stages), 'stage')}; "
             "every figure is an estimate)"]
    for s in result.stages:
        r, sf = s.record, result.stage_footprint(s.record.stage)
        band = sum(c.uncertainty_kwh for c in r.components)
        lines.append(
            f"  {t(r.stage)}: {r.duration_s / 3600:.3g} h at {t(s.location)} (PUE {s.pue:g}); "
            f"IT energy {r.energy_kwh:.4g} ± {band:.2g} kWh; energy {_num(sf.energy_kwh if sf else None)} kWh; "
            f"co2e {_num(sf.co2e_kg if sf else None)} kg (upper {_num(sf.co2e_upper_kg if sf else None)} kg)"
        )
    lines.append(f"total: energy_kwh {result.energy_kwh:.4g} (upper {result.energy_upper_kwh:.4g}); "
                 f"co2e_kg {_num(result.co2e_kg)} (upper {_num(result.co2e_upper_kg)})")
    provenance = dict.fromkeys(line for f in result.footprints for line in intensity_provenance(f))
    lines.extend(f"intensity: {t(line)}" for line in provenance)
    rows = sorted({c.source.split("; ", 1)[1] for s in result.stages for c in s.record.components
                   if c.component == "gpu" and "; " in c.source})
    lines.extend(f"power: {t(row)}" for row in rows)
    return "\n".join(lines) + "\n"


RUNS_HEADER = ("start (UTC)", "run id", "flow", "stages", "energy_kwh", "co2e_kg", "last decision")


def runs_rows(result: RunList) -> list[tuple[str, ...]]:
    """One escaped row per run, in `RUNS_HEADER` order; '-' until a run is gated (never 0)."""
    return [(r.start.strftime("%Y-%m-%d %H:%M") if r.start else "-", t(r.run_id), t(r.flow_name or "-"),
             str(r.stages), figure(r.energy_kwh) if r.footprinted else "-",
             figure(r.co2e_kg) if r.footprinted else "-", t(r.outcome or "not gated")) for r in result.runs]


def runs_footer(result: RunList) -> str:
    more = result.total_runs - len(result.runs)
    return (f"{plural(result.total_runs, 'run')} in {t(result.ledger_url)}"
            + (f"; {more} older not shown (--limit)" if more > 0 else "")
            + "; energy is facility kWh, CO2e location-based kg, '-' until a run is gated")


def render_runs(result: RunList, options: RenderOptions) -> str:
    rows = runs_rows(result)
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(RUNS_HEADER)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(RUNS_HEADER, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.append(runs_footer(result))
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Any] = {
    **CHECK_RENDERERS,  # check and diff: carbonguard/formats/check_text.py
    **ADMIN_RENDERERS,  # verify, judged, keys, policy-validation: carbonguard/formats/admin_text.py
    "estimate": render_estimate,
    "run": render_run,
    "meter": render_meter,
    **INTENSITY_RENDERERS,  # intensity and zones: carbonguard/formats/intensity_text.py
    "schedule": render_schedule,
    "runs": render_runs,
    "match": render_match,
}
