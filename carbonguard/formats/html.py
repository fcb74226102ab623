"""HTML: one self-contained page per run or audit period, charts inline as SVG.

The page loads nothing (no CDN, font, image or script; a Content-Security-Policy says so to the
browser too) and needs no JavaScript: collapsed parts use `<details>`. The verdict comes first, then
the figures, then where every figure came from. Every string a user typed goes through
`escape.html_text`; charts come from `charts` (matplotlib, the `report` extra).

A run page is a list of sections (`RUN_SECTIONS`), each a function `(RunReport) -> str` that returns
"" when it has nothing to show: hourly certificate matching is one (`_run_matching`); scheduling
joins the list the same way when `RunReport` gains `schedule`.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from carbonguard.formats import charts, numbers
from carbonguard.formats.escape import html_text as h
from carbonguard.formats.registry import RenderOptions
from carbonguard.judged import judged_sha256
from carbonguard.models import Finding, JudgedRecords, RunFootprint
from carbonguard.reporting.compliance import ComplianceReport, RunCompliance
from carbonguard.reporting.run import RunReport

_VERDICT = {
    "allow": ("Allowed", "✓"), "warn": ("Allowed with warnings", "!"),
    "reschedule": ("Reschedule: not now", "↻"), "block": ("Blocked", "✕"),
}
_CSS = """
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de;
  --panel: #f6f8fa; --cg-energy: #0b6bcb; --cg-co2e: #c4420c; --cg-intensity: #1a7f5a;
  --cg-allow: #1a7f37; --cg-warn: #9a6700; --cg-block: #cf222e; --cg-reschedule: #8250df;
  --cg-other: #57606a; }
@media (prefers-color-scheme: dark) { :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1;
  --line: #30363d; --panel: #161b22; --cg-energy: #58a6ff; --cg-co2e: #ff9460; --cg-intensity: #3fd497;
  --cg-allow: #3fb950; --cg-warn: #d29922; --cg-block: #ff6b6b; --cg-reschedule: #b58cff;
  --cg-other: #9198a1; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; }
main { max-width: 960px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 26px; margin: 4px 0 8px; line-height: 1.25; }
h2 { font-size: 19px; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 6px; }
p { margin: 6px 0; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
  font-size: 13px; overflow-wrap: break-word; }
dd code, p code { overflow-wrap: anywhere; }
code.hash { word-break: break-all; }
.eyebrow { text-transform: uppercase; letter-spacing: .06em; font-size: 12px; color: var(--muted); margin: 0; }
.muted { color: var(--muted); }
.verdict { border: 2px solid var(--tone); border-left-width: 10px; border-radius: 8px; padding: 16px 20px;
  background: var(--panel); }
.tone-allow { --tone: var(--cg-allow); } .tone-warn { --tone: var(--cg-warn); }
.tone-block { --tone: var(--cg-block); } .tone-reschedule { --tone: var(--cg-reschedule); }
.tone-other { --tone: var(--cg-other); }
.badge { display: inline-block; color: var(--tone); font-weight: 700; }
h1 .lead { font-weight: 600; font-size: 20px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(128px, 1fr)); gap: 10px; margin: 14px 0 0; }
.tile { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.tile .value { font-size: 22px; font-weight: 650; line-height: 1.2; }
.tile .value .unit { font-size: 15px; font-weight: 600; white-space: nowrap; }
.tile .value.words { font-size: 16px; white-space: normal; padding-top: 4px; }
td.when { white-space: nowrap; }
td .outcome { font-weight: 600; color: var(--tone); }
.tile .label { font-size: 12.5px; color: var(--muted); }
.findings { list-style: none; padding: 0; margin: 14px 0 0; }
.finding { border: 1px solid var(--line); border-left: 5px solid var(--tone); border-radius: 6px;
  padding: 10px 14px; margin: 8px 0; background: var(--bg); }
.finding .fix { margin-top: 6px; }
.finding .fix strong { color: var(--tone); }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 14px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 13px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 12px 0; }
figcaption { color: var(--muted); font-size: 13.5px; margin-top: 4px; }
svg.chart-svg { display: block; height: auto; color: var(--fg); }
svg.chart-svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans",
  sans-serif !important; }
details { margin: 8px 0; } summary { cursor: pointer; color: var(--muted); }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 8px 0; }
dl.kv dt { color: var(--muted); } dl.kv dd { margin: 0; overflow-wrap: anywhere; }
.ok { color: var(--cg-allow); font-weight: 600; } .bad { color: var(--cg-block); font-weight: 600; }
footer { margin-top: 40px; font-size: 12.5px; color: var(--muted); }
"""
# No script, no network: a browser enforces what the renderer already promises.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"color-scheme\" content=\"light dark\">\n"
        f"<title>{h(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n{body}\n"
        "<footer>Written by carbonguard. Figures are rounded to three significant figures for reading; "
        "the ledger and the JSON output keep every digit.</footer>\n</main>\n</body>\n</html>\n"
    )


def _tone(outcome: str | None) -> str:
    return f"tone-{outcome}" if outcome in _VERDICT else "tone-other"


def _tile(value: str, label: str) -> str:
    """A key figure: the number large, its unit smaller beside it; words ("not computed") smaller."""
    match = re.match(r"^([≥<>~]?\s?[\d.,]+\+?)\s+(.+)$", value)
    if match:
        shown = f'{h(match.group(1))} <span class="unit">{h(match.group(2))}</span>'
        kind = ""
    else:
        shown, kind = h(value), "" if len(value) <= 8 else " words"
    return f'<div class="tile"><div class="value{kind}">{shown}</div><div class="label">{h(label)}</div></div>'


def _outcome(outcome: str | None) -> str:
    return f'<span class="outcome {_tone(outcome)}">{h(outcome or "—")}</span>'


def _kv(rows: Sequence[tuple[str, str]]) -> str:
    """A definition list; values are already-escaped HTML."""
    return '<dl class="kv">' + "".join(f"<dt>{h(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = (),
           caption: str | None = None) -> str:
    """A table; cells are already-escaped HTML, columns in `numeric` right-aligned."""
    head = "".join(f'<th scope="col"{" class=num" if i in numeric else ""}>{h(t)}</th>'
                   for i, t in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{c}</td>'
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    cap = f"<caption class=muted>{h(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(chart: charts.Chart, caption: str, table: str = "") -> str:
    return (f'<figure class="chart" id="{chart.chart_id}-figure">{chart.svg}'
            f"<figcaption>{h(caption)}</figcaption>{table}</figure>")


def _digest(title: str, count: int, sha256: str, how: str, through_seq: int | None = None) -> str:
    """A set of record hashes as its count and digest (docs/ledger.md, "Judged records"), never the
    list: a run of 100,000 records would otherwise put 6.7 MB of hashes in the page."""
    if not count:
        return ""
    through = f", ledger read through seq {through_seq}" if through_seq is not None else ""
    return (f"<p>{h(title)}: {count}{h(through)}, sha256 <code class=\"hash\">{h(sha256)}</code> "
            f"({h(how)})</p>")


def _judged(title: str, judged: JudgedRecords | None, legacy: Sequence[str], how: str) -> str:
    if judged is not None:
        return _digest(title, judged.count, judged.sha256, how, judged.through_seq)
    return _digest(title, len(legacy), judged_sha256(legacy), how)


def _scaled(values: Sequence[float | None], units: tuple[tuple[str, float], ...]) -> tuple[str, list[float | None]]:
    name, size = numbers.pick_unit(values, units)
    return name, [None if v is None else v / size for v in values]


# ----- run report ------------------------------------------------------------------------------------


def _finding_value(value: float | None, unit: str | None) -> str:
    if value is None:
        return "—"
    if unit == "readings" and value == int(value):
        return f"{int(value)} reading{'s' if value != 1 else ''}"
    if unit in ("kg", "kg CO2e", "co2e_kg"):
        return numbers.co2e(value)
    if unit in ("kWh", "energy_kwh"):
        return numbers.energy(value)
    return f"{numbers.sig3(value)} {unit}" if unit else numbers.sig3(value)


def _rule_title(rule_id: str) -> str:
    from carbonguard.rules import lookup

    try:
        return lookup(rule_id).title
    except Exception:  # a rule from a newer ledger: show the id alone
        return ""


def _finding(f: Finding) -> str:
    status = f.outcome.value
    tone = _tone(status)
    if f.waived_by is not None:
        status = f"waived by {f.waived_by.approved_by} until {f.waived_by.expires}"
        tone = "tone-other"
    title = _rule_title(f.rule_id)
    where = ""
    if f.policy_file:
        where = f" · policy <code>{h(f.policy_file)}{':' + str(f.policy_line) if f.policy_line else ''}</code>"
    measured = ""
    if f.observed is not None and f.limit is not None:
        measured = (f"<p>observed <strong>{h(_finding_value(f.observed, f.unit))}</strong>"
                    f" against limit <strong>{h(_finding_value(f.limit, f.unit))}</strong></p>")
    fix = f'<p class="fix"><strong>Fix:</strong> {h(f.remedy)}</p>' if f.remedy else ""
    return (f'<li class="finding {tone}"><p><span class="badge">{h(status)}</span> '
            f"<strong>{h(title) if title else ''}</strong> <code>{h(f.rule_id)}</code></p>{measured}"
            f'<p class="muted">{h(f.message)} · scope {h(f.scope)}{where}</p>{fix}</li>')


def _lead(d: Any) -> str:
    """The reason in the headline: the worst active finding, observed against limit where it has one."""
    active = sorted(d.active_findings, key=lambda f: -f.outcome.severity)
    if not active:
        return ' <span class="lead">every rule passed</span>'
    f = active[0]
    reason = _rule_title(f.rule_id) or f.rule_id
    if f.observed is not None and f.limit is not None:
        reason += f": {_finding_value(f.observed, f.unit)} against {_finding_value(f.limit, f.unit)}"
    more = f" (+{len(active) - 1} more)" if len(active) > 1 else ""
    return f' <span class="lead">— {h(reason)}{h(more)}</span>'


def _run_verdict(result: RunReport) -> str:
    d, fp = result.decision, result.footprint
    label, mark = _VERDICT[d.outcome.value]
    lower = "" if d.energy_complete else " (lower bound: readings missing)"
    tiles = [_tile(numbers.energy(d.energy_kwh) + ("+" if not d.energy_complete else ""),
                   "energy, facility" + lower),
             _tile(numbers.co2e(d.co2e_kg) + ("+" if not d.energy_complete else ""),
                   "location-based" + lower)]
    if d.cfe_score is not None:
        tiles.append(_tile(f"{numbers.sig3(d.cfe_score * 100)} %", "hourly CFE score"))
    if fp is not None:
        tiles.append(_tile(fp.zone, f"grid zone · PUE {numbers.sig3(fp.pue)}"))
        if fp.start and fp.end:
            tiles.append(_tile(numbers.duration((fp.end - fp.start).total_seconds()),
                               f"{len(fp.stages)} stages, wall time"))
    active = d.active_findings
    findings = ("".join(_finding(f) for f in sorted(d.findings, key=lambda f: (f.waived_by is not None,
                                                                               -f.outcome.severity)))
                if d.findings else '<li class="finding tone-allow"><p>No findings: every rule passed.</p></li>')
    summary = (f"{len(active)} finding{'s' if len(active) != 1 else ''} to act on"
               + (f", {len(d.findings) - len(active)} waived" if len(active) != len(d.findings) else ""))
    return (
        f'<header class="verdict {_tone(d.outcome.value)}">'
        '<p class="eyebrow">carbonguard gate · run report</p>'
        f'<h1><span class="badge">{mark} {h(label)}</span>{_lead(d)}</h1>'
        f"<p>Run <code>{h(d.run_id)}</code> judged against policy <strong>{h(d.policy_name)}</strong> "
        f"version <strong>{h(d.policy_version)}</strong> at {h(_utc(d.evaluated_at))}.</p>"
        f'<div class="tiles">{"".join(tiles)}</div>'
        f'<h2 style="margin-top:20px">Findings <span class="muted">({h(summary)})</span></h2>'
        f'<ul class="findings">{findings}</ul></header>'
    )


def _utc(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _run_stages(result: RunReport) -> str:
    fp = result.footprint
    if fp is None or not fp.stages:
        return ""
    stages = fp.stages
    e_unit, energy = _scaled([s.known_energy_kwh for s in stages], numbers.ENERGY_UNITS)
    e_size = dict(numbers.ENERGY_UNITS)[e_unit]
    energy_upper = [None if s.known_energy_kwh is None else s.energy_upper_kwh / e_size for s in stages]
    c_unit, co2e = _scaled([s.known_co2e_kg for s in stages], numbers.MASS_UNITS)
    c_size = dict(numbers.MASS_UNITS)[c_unit]
    co2e_upper = [None if s.known_co2e_kg is None or s.co2e_upper_kg is None else s.co2e_upper_kg / c_size
                  for s in stages]
    top = max(stages, key=lambda s: s.known_energy_kwh or -1.0)
    share = (top.known_energy_kwh / fp.energy_kwh * 100) if fp.energy_kwh and top.known_energy_kwh else None
    description = "; ".join(
        f"{s.stage}: {numbers.energy(s.known_energy_kwh)}, {numbers.co2e(s.known_co2e_kg)}" for s in stages)
    chart = charts.stage_panels(
        "cg-stages", [s.stage for s in stages], energy, energy_upper, e_unit, co2e, co2e_upper,
        c_unit,
        "Energy and CO2e per stage", description)
    rows = []
    for s in stages:
        band = (f"up to {numbers.energy(s.energy_upper_kwh)}"
                if s.known_energy_kwh is not None and s.energy_upper_kwh > s.known_energy_kwh else "—")
        readings = ", ".join(x for x in (f"{s.estimated_components} estimated" if s.estimated_components else "",
                                         f"{s.unavailable_components} unavailable" if s.unavailable_components
                                         else "") if x) or "measured"
        rows.append([h(s.stage), str(s.records), h(numbers.energy(s.known_energy_kwh)), h(band),
                     h(numbers.co2e(s.known_co2e_kg)), h(readings)])
    caption = (f"Bars: facility energy (IT × PUE {numbers.sig3(fp.pue)}) and location-based CO2e per stage; "
               "the lighter band reaches the upper bound of estimated readings.")
    if share is not None:
        caption = f"{top.stage} used {numbers.sig3(share)} % of the run's energy. " + caption
    table = _table(["stage", "attempts", "energy", "estimate band", "CO2e", "readings"], rows, numeric=(1, 2, 3, 4))
    return "<section id=stages><h2>Where the energy went</h2>" + _figure(chart, caption, table) + "</section>"


def _from(provider: str | None, origin: str | None) -> str:
    """'uk-carbon-intensity (cache)'; the embedded provider's origin is itself, said once."""
    if provider and origin and origin != provider:
        return f"{provider} ({origin})"
    return provider or origin or "—"


def _run_hourly(result: RunReport) -> str:
    fp = result.footprint
    if fp is None or not fp.hourly:
        return ""
    hours = [b.hour_start for b in fp.hourly]
    e_unit, energy = _scaled([b.energy_kwh for b in fp.hourly], numbers.ENERGY_UNITS)
    size = dict(numbers.ENERGY_UNITS)[e_unit]
    uppers = [b.energy_upper_kwh / size for b in fp.hourly]
    intensities = [b.intensity_g_per_kwh for b in fp.hourly]
    description = "; ".join(f"{b.hour_start:%Y-%m-%d %H:%M} UTC: {numbers.energy(b.energy_kwh)} at "
                            f"{numbers.intensity(b.intensity_g_per_kwh)}" for b in fp.hourly)
    chart = charts.hourly_panels("cg-hourly", hours, [v or 0.0 for v in energy], uppers, e_unit, intensities,
                                 "Energy per hour and grid carbon intensity", description)
    rows = [[h(f"{b.hour_start:%Y-%m-%d %H:%M}"), h(numbers.energy(b.energy_kwh)),
             h(numbers.intensity(b.intensity_g_per_kwh)), h(numbers.co2e(b.co2e_kg)),
             h(_from(b.intensity_provider, b.intensity_origin.value if b.intensity_origin else None))]
            for b in fp.hourly]
    table = _table(["hour (UTC)", "energy", "grid intensity", "CO2e", "intensity from"], rows, numeric=(1, 2, 3))
    caption = (f"{len(fp.hourly)} clock hour{'s' if len(fp.hourly) != 1 else ''} (UTC) of zone {fp.zone}: "
               "energy drawn (top) against the grid's carbon intensity in the same hour (bottom).")
    return "<section id=hourly><h2>Energy by hour against grid intensity</h2>" + _figure(chart, caption, table) \
        + "</section>"


def _pct(value: float | None) -> str:
    return "none" if value is None else f"{numbers.sig3(value * 100)} %"


def _run_matching(result: RunReport) -> str:
    """Hourly consumption against matched carbon-free energy, the CFE score, and location- vs
    market-based CO2e side by side (GHG Protocol Scope 2 dual reporting)."""
    match = result.match
    if match is None:
        return ""
    tiles = [_tile(_pct(match.cfe_score), "hourly CFE score"),
             _tile(numbers.energy(match.matched_kwh), f"matched of {numbers.energy(match.consumption_kwh)}"),
             _tile(numbers.co2e(match.location_co2e_kg), "location-based (grid average)"),
             _tile(numbers.co2e(match.market_co2e_kg) if match.market_co2e_kg is not None else "not computed",
                   "market-based (residual mix)")]
    parts = ["<section id=matching><h2>Hourly carbon-free energy matching</h2>",
             f'<div class="tiles">{"".join(tiles)}</div>']
    if match.hours:
        unit, consumed = _scaled([hr.consumption_kwh for hr in match.hours], numbers.ENERGY_UNITS)
        size = dict(numbers.ENERGY_UNITS)[unit]
        description = "; ".join(f"{hr.hour_start:%Y-%m-%d %H:%M} UTC: {numbers.energy(hr.matched_kwh)} of "
                                f"{numbers.energy(hr.consumption_kwh)} matched" for hr in match.hours)
        chart = charts.hourly_matching("cg-matching", [hr.hour_start for hr in match.hours],
                                       [v or 0.0 for v in consumed], [hr.matched_kwh / size for hr in match.hours],
                                       unit, "Energy per hour and the part matched by certificates", description)
        rows = [[h(f"{hr.hour_start:%Y-%m-%d %H:%M}"), h(numbers.energy(hr.consumption_kwh)),
                 h(numbers.energy(hr.matched_kwh)), h(_pct(hr.cfe)),
                 "<br>".join(f"<code>{h(u.registry)} {h(u.range)}</code> {h(u.energy_source)}"
                             for u in hr.certificates[:5]) or "—"] for hr in match.hours]
        table = _table(["hour (UTC)", "consumed", "matched", "CFE", "certificates"], rows, numeric=(1, 2, 3))
        if len(rows) > 24:
            table = f"<details><summary>every hour ({len(rows)})</summary>{table}</details>"
        caption = ("Each clock hour (UTC): energy consumed, and inside it the energy matched by certificates "
                   "produced in that same hour and zone. Surplus never moves between hours.")
        parts.append(_figure(chart, caption, table))
    if match.rejected:
        rows = [[f"<code>{h(r.registry)}</code>", f"<code>{h(r.range)}</code>", f"<code>{h(r.rule_id)}</code>",
                 h(r.reason)] for r in match.rejected[:50]]
        more = f" (first 50 of {len(match.rejected)})" if len(match.rejected) > 50 else ""
        parts += [f"<h3>Rejected certificates{h(more)}</h3>", _table(["registry", "range", "rule", "reason"], rows)]
    if match.offsets.items:
        rows = [[h(i.kind), h(i.registry), h(i.serial), h(f"{numbers.sig3(i.quantity)} {i.unit}"),
                 h("valid" if i.valid else f"{i.rule_id}: {i.reason}")] for i in match.offsets.items]
        parts += ["<h3>Offsets and annual certificates</h3><p class=muted>Reported apart: they never count as "
                  "hourly matching and never lower the market-based figure.</p>",
                  _table(["kind", "registry", "serial", "quantity", "status"], rows)]
    if match.residual_mix_source:
        parts.append(f"<p class=muted>Market-based figure: unmatched energy × residual mix "
                     f"({h(match.residual_mix_source)}).</p>")
    parts.append("</section>")
    return "".join(parts)


def _run_schedule(result: RunReport) -> str:
    """Where a reschedule rule asked for a cleaner window: the forecast with "run now" and the
    proposed window marked, the saving, or why no window beat running now."""
    proposal = result.decision.reschedule
    if proposal is None:
        return ""
    parts = ["<section id=schedule><h2>A cleaner window</h2>"]
    if proposal.proposed and proposal.start is not None:
        tiles = [_tile(f"{proposal.start:%Y-%m-%d %H:%M} UTC", f"proposed start in {proposal.zone or ''}"),
                 _tile(numbers.intensity(proposal.mean_g_per_kwh), "mean over the window"),
                 _tile(numbers.intensity(proposal.run_now_g_per_kwh), f"running now in {proposal.run_now_zone or ''}"),
                 _tile(_pct(proposal.saving_fraction), "saving")]
        if proposal.saving_co2e_kg is not None:
            tiles.append(_tile(numbers.co2e(proposal.saving_co2e_kg), "CO2e saved at this run's energy"))
        parts.append(f'<div class="tiles">{"".join(tiles)}</div>')
    parts.append(f"<p>{h(proposal.reason)}</p>")
    zone = proposal.zone or proposal.run_now_zone
    points = sorted((result.forecasts or {}).get(zone or "", []), key=lambda p: p.start)
    if points and proposal.duration_s:
        from datetime import timedelta

        ends = [p.start + timedelta(seconds=p.duration_s) for p in points]
        duration = timedelta(seconds=proposal.duration_s)
        as_of = result.decision.evaluated_at
        now = (as_of, as_of + duration) if zone == proposal.run_now_zone else None
        window = (proposal.start, proposal.end) if proposal.proposed and proposal.start and proposal.end else None
        description = (f"Intensity forecast for {zone}, {len(points)} figures from {points[0].start:%Y-%m-%d %H:%M} "
                       f"to {ends[-1]:%Y-%m-%d %H:%M} UTC" + (f"; proposed window {window[0]:%Y-%m-%d %H:%M} to "
                                                                 f"{window[1]:%Y-%m-%d %H:%M} UTC" if window else ""))
        chart = charts.forecast_window("cg-schedule", [p.start for p in points], ends,
                                       [p.intensity_g_per_kwh for p in points], now, window,
                                       f"Intensity forecast for {zone}", description)
        caption = (f"Forecast grid intensity for {h(zone or '')}: the run started now (red band) against the "
                   "proposed window (green band), each as long as this run took.")
        parts.append(_figure(chart, caption))
    parts.append("</section>")
    return "".join(parts)


def _intensity_rows(fp: RunFootprint) -> list[list[str]]:
    rows = []
    for p in fp.intensity_sources:
        when = f"year {p.year}" if p.year else _utc(p.start)
        origin = _from(p.provider, p.origin.value) + (f", fell back from {p.fallback_from}" if p.fallback_from else "")
        dataset = " ".join(x for x in (p.dataset_version, p.dataset_hash) if x)
        rows.append([h(numbers.intensity(p.intensity_g_per_kwh)), h(p.zone), h(when),
                     h(f"{p.signal.value}, {p.kind}"), h(origin),
                     f'<code class="hash">{h(dataset)}</code>' if dataset else "—", h(p.source or "—")])
    return rows


def _intensity_summary(fp: RunFootprint) -> str:
    """One line per provider: how many figures, their range, origin, years and dataset hashes."""
    groups: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for p in fp.intensity_sources:
        groups[(p.provider, p.origin.value, p.zone)].append(p)
    lines = []
    for (provider, origin, zone), points in groups.items():
        values = [p.intensity_g_per_kwh for p in points]
        span = (numbers.intensity(values[0]) if min(values) == max(values)
                else f"{numbers.sig3(min(values))}–{numbers.intensity(max(values))}")
        years = sorted({p.year for p in points if p.year})
        hashes = sorted({p.dataset_hash for p in points if p.dataset_hash})
        text = (f"{len(points)} figure{'s' if len(points) != 1 else ''} for zone {zone} "
                f"from {_from(provider, origin)}: {span}" + (f", year {', '.join(map(str, years))}" if years else ""))
        lines.append(h(text) + "".join(f", dataset sha256 <code class=hash>{h(x)}</code>" for x in hashes))
    return "<br>".join(lines)


def _run_provenance(result: RunReport) -> str:
    d, fp = result.decision, result.footprint
    rows: list[tuple[str, str]] = [
        ("policy", f"{h(d.policy_name)} version {h(d.policy_version)}"
                   + (f" from <code>{h(d.policy_file)}</code>" if d.policy_file else "")),
        ("policy hash (sha256)", f'<code class="hash">{h(d.policy_hash)}</code>'),
        ("evaluated at", h(_utc(d.evaluated_at))),
    ]
    if fp is not None:
        rows.append(("readings", h(f"{fp.estimated_components} estimated, {fp.unavailable_components} "
                                   "unavailable; every other reading measured by a counter or sampling")))
    if result.ledger is not None:
        led = result.ledger
        state = ('<span class="ok">verified</span>' if led.verified else '<span class="bad">FAILED</span>')
        rows += [("ledger", f"<code>{h(led.url)}</code>"),
                 ("ledger verification", f"{state} — {h(led.verification)}"),
                 ("ledger head", f"seq {h(led.head_seq)}, hash <code>{h(led.head_hash or '—')}</code>")]
    parts = ["<section id=provenance><h2>Provenance</h2>", _kv(rows)]
    if fp is not None and fp.intensity_sources:
        table = _table(["intensity", "zone", "for", "signal", "provider", "dataset (version, sha256)", "source"],
                       _intensity_rows(fp), numeric=(0,))
        parts += ["<h3>Grid intensity used</h3>", f"<p>{_intensity_summary(fp)}</p>"]
        parts.append(table if len(fp.intensity_sources) <= 3 else
                     f"<details><summary>every intensity figure used ({len(fp.intensity_sources)})</summary>"
                     f"{table}</details>")
    how = f"list them with: carbonguard audit judged {result.decision_record_hash or 'DECISION_HASH'}"
    parts += [_judged("stage records judged by the decision", d.judged_records, d.evaluated_record_hashes, how)]
    if fp is not None and (fp.judged_records, fp.record_hashes) != (d.judged_records, d.evaluated_record_hashes):
        parts.append(_judged("stage records in the footprint", fp.judged_records, fp.record_hashes, how))
    parts.append("</section>")
    return "".join(parts)


# A scheduling section joins here when RunReport carries `schedule`.
RUN_SECTIONS: tuple[Callable[[RunReport], str], ...] = (_run_verdict, _run_stages, _run_hourly, _run_matching,
                                                        _run_schedule, _run_provenance)


def render_run(result: RunReport, options: RenderOptions) -> str:
    charts.require_matplotlib()
    d = result.decision
    body = "\n".join(part for part in (section(result) for section in RUN_SECTIONS) if part)
    return _page(f"carbonguard: {_VERDICT[d.outcome.value][0]} — run {d.run_id}", body)


# ----- compliance (audit period) report --------------------------------------------------------------


def _f(value: str | float | None) -> float | None:
    return None if value is None else float(Decimal(str(value)))


def _last_outcome(run: RunCompliance) -> str:
    return (run.decisions[-1].outcome or "none") if run.decisions else "none"


def _when(text: str | None) -> str:
    if not text:
        return "—"
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")


def _period_header(report: ComplianceReport) -> str:
    led, period, sel = report.ledger, report.period, report.selection
    counts = Counter(_last_outcome(r) for r in report.runs)
    worst = next((o for o in ("block", "reschedule", "warn", "allow") if counts.get(o)), None)
    tone = "tone-block" if not led.verified else _tone(worst)
    ledger_line = ('<span class="ok">Ledger verified</span>' if led.verified
                   else '<span class="bad">Ledger FAILED verification</span>')
    window = " ".join(x for x in (f"since {sel.since}" if sel.since else "", f"until {sel.until}" if sel.until else "",
                                  f"run {sel.run_id}" if sel.run_id else "") if x) or "all runs in the ledger"
    outcome_text = ", ".join(f"{counts[o]} {o}" for o in ("block", "reschedule", "warn", "allow", "none")
                             if counts.get(o)) or "no runs"
    energy_mwh = _f(period.total_energy_mwh)
    tiles = [
        _tile(str(period.runs), "runs in the period"),
        _tile(f"{numbers.sig3(_f(period.metered_gpu_device_hours))} h" if period.metered_gpu_device_hours else "none",
              "GPU device-hours"),
        _tile(numbers.energy(None if energy_mwh is None else energy_mwh * 1000), "energy, " +
              ("facility" if period.total_energy_scope.startswith("facility") else period.total_energy_scope)),
        _tile(numbers.co2e(_f(period.location_based_co2e_kg)), "Scope 2 location-based"),
        _tile(numbers.co2e(_f(period.market_based_co2e_kg)) if period.market_based_co2e_kg else "not computed",
              "Scope 2 market-based"),
        _tile(f"{numbers.sig3(_f(period.renewable_share_percent))} %" if period.renewable_share_percent
              else period.renewable_status, "renewable share"),
    ]
    return (
        f'<header class="verdict {tone}"><p class="eyebrow">carbonguard · compliance report</p>'
        f"<h1>{ledger_line} · gate outcomes: {h(outcome_text)}</h1>"
        f"<p>{h(window)} · ledger <code>{h(led.url)}</code> · generated {h(_when(report.generated_at))} UTC</p>"
        f'<div class="tiles">{"".join(tiles)}</div></header>'
    )


def _period_runs(report: ComplianceReport) -> str:
    if not report.runs:
        return "<section id=runs><h2>Runs</h2><p>No runs in this period.</p></section>"
    dated = [r for r in report.runs if r.start]
    parts = ["<section id=runs><h2>Runs over time</h2>"]
    rows = []
    for r in report.runs:
        energy = _f(r.energy.facility_energy_kwh) if r.energy.facility_energy_kwh else _f(r.energy.it_energy_kwh)
        bound = "≥ " if r.energy.unavailable_readings and energy is not None else ""
        location = _f(r.scope2.location_based_co2e_kg)
        rows.append([f"<code>{h(r.run_id)}</code>", h(_when(r.start)), h(bound + numbers.energy(energy)),
                     h((bound if location is not None else "") + numbers.co2e(location)),
                     h(numbers.co2e(_f(r.scope2.market_based_co2e_kg)) if r.scope2.market_based_co2e_kg
                       else "not computed"),
                     h(r.energy.basis + (f", {r.energy.unavailable_readings} reading(s) missing" if bound else "")),
                     _outcome(_last_outcome(r))])
    table = _table(["run", "start (UTC)", "energy (facility)", "CO2e location-based", "CO2e market-based",
                    "basis", "gate outcome"], rows, numeric=(1, 2, 3, 4))
    if dated:
        unit, values = _scaled([_f(r.scope2.location_based_co2e_kg) for r in dated], numbers.MASS_UNITS)
        starts = [datetime.fromisoformat(r.start.replace("Z", "+00:00")) for r in dated]  # type: ignore[union-attr]
        description = "; ".join(f"{r.run_id} at {r.start}: {numbers.co2e(_f(r.scope2.location_based_co2e_kg))}, "
                                f"outcome {_last_outcome(r)}" for r in dated)
        chart = charts.period_runs("cg-period-runs", starts, values, [_last_outcome(r) for r in dated],
                                   f"{unit} CO2e", "Location-based CO2e of each run over time", description)
        parts.append(_figure(chart, "Each run at the time its first stage started, coloured by the gate's last "
                                    "outcome; × marks a run whose emissions are unknown.", table))
    else:
        parts.append(table)
    parts.append("</section>")
    return "".join(parts)


def _period_budgets(report: ComplianceReport) -> str:
    rows = []
    for r in report.runs:
        for d in r.decisions:
            for f in d.findings:
                outcome = "waived" if f.waived else (f.outcome or "—")
                rows.append([f"<code>{h(r.run_id)}</code>", f"<code>{h(f.rule_id)}</code>", h(f.scope or "run"),
                             h(_finding_value(f.observed, f.unit)), h(_finding_value(f.limit, f.unit)),
                             _outcome(outcome),
                             h(f"{d.policy_name or '—'} v{d.policy_version or '—'}")])
    if not rows:
        return ("<section id=budgets><h2>Budgets and outcomes</h2><p>No findings recorded: every decision in the "
                "period passed every rule.</p></section>")
    return ("<section id=budgets><h2>Budgets and outcomes</h2>"
            + _table(["run", "rule", "scope", "observed", "limit", "outcome", "policy"], rows, numeric=(3, 4))
            + "</section>")


def _period_stages(report: ComplianceReport, limit: int = 10) -> str:
    totals: dict[str, float] = defaultdict(float)
    unknown: set[str] = set()
    runs: dict[str, int] = defaultdict(int)
    for r in report.runs:
        for s in r.stages:
            runs[s.stage] += 1
            if s.it_energy_kwh is None:
                unknown.add(s.stage)
            else:
                totals[s.stage] += float(Decimal(s.it_energy_kwh))
    if not runs:
        return ""
    ranked = sorted(runs, key=lambda name: (-totals.get(name, -1.0), name))[:limit]
    values = [totals.get(n) for n in ranked]
    unit, scaled = _scaled(values, numbers.ENERGY_UNITS)
    description = "; ".join(f"{n}: {numbers.energy(v)}" for n, v in zip(ranked, values, strict=True))
    chart = charts.ranked_bars("cg-top-stages", ranked, scaled, unit, "IT energy", "Top stages by IT energy",
                               description)
    rows = [[h(n), str(runs[n]), h(numbers.energy(v) + (" (some readings missing)" if n in unknown and v else ""))]
            for n, v in zip(ranked, values, strict=True)]
    table = _table(["stage", "runs", "IT energy"], rows, numeric=(1, 2))
    caption = f"The {len(ranked)} stage names that used the most IT energy (before PUE) across the period."
    return "<section id=top-stages><h2>Top stages</h2>" + _figure(chart, caption, table) + "</section>"


def _period_provenance(report: ComplianceReport) -> str:
    led = report.ledger
    state = '<span class="ok">verified</span>' if led.verified else '<span class="bad">FAILED</span>'
    rows = [("ledger", f"<code>{h(led.url)}</code>"),
            ("verification", f"{state} — {h(led.verification)} (exit code {led.verification_exit_code})"),
            ("ledger head", f"seq {h(led.head_seq)}, hash <code>{h(led.head_hash or '—')}</code>"),
            ("period rule", h(report.selection.rule))]
    parts = ["<section id=provenance><h2>Provenance</h2>", _kv(rows)]
    decisions = [[f"<code>{h(r.run_id)}</code>", str(d.seq), _outcome(d.outcome),
                  h(f"{d.policy_name or '—'} v{d.policy_version or '—'}"),
                  f'<code class="hash">{h(d.policy_hash or "—")}</code>']
                 for r in report.runs for d in r.decisions]
    if decisions:
        parts += ["<h3>Decisions and policy hashes</h3>",
                  _table(["run", "record seq", "outcome", "policy", "policy hash (sha256)"], decisions)]
    methods = [[f"<code>{h(r.run_id)}</code>", h(r.energy.basis), h(numbers.energy(_f(r.energy.measured_energy_kwh))),
                h(numbers.energy(_f(r.energy.estimated_energy_kwh))), str(r.energy.unavailable_readings)]
               for r in report.runs]
    if methods:
        parts += ["<h3>How energy was obtained</h3>",
                  _table(["run", "basis", "measured (counter, sampled)", "estimated", "unavailable readings"],
                         methods, numeric=(2, 3, 4))]
    for r in report.runs:
        parts.append(_digest(f"records of run {r.run_id} behind these figures", len(r.provenance.record_hashes),
                             judged_sha256(r.provenance.record_hashes), "listed in the JSON report"))
        j = r.provenance.judged_records
        if j is not None:
            state = "matches the ledger" if j.matches_ledger else "DOES NOT MATCH the ledger"
            parts.append(_digest(f"stage records its footprint judged ({state})", j.count, j.sha256,
                                 f"list them with: {j.list_with}", j.through_seq))
    parts.append("<h3>Standards these figures follow</h3><ul>"
                 + "".join(f"<li>{h(v)}</li>" for v in report.standards.values()) + "</ul></section>")
    return "".join(parts)


PERIOD_SECTIONS: tuple[Callable[[ComplianceReport], str], ...] = (
    _period_header, _period_runs, _period_budgets, _period_stages, _period_provenance)


def render_compliance(report: ComplianceReport, options: RenderOptions) -> str:
    charts.require_matplotlib()
    body = "\n".join(part for part in (section(report) for section in PERIOD_SECTIONS) if part)
    return _page("carbonguard compliance report", body)


RENDERERS: dict[str, Any] = {"run": render_run, "compliance": render_compliance}
