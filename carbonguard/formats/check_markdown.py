"""Markdown for the pull-request comment (and the Actions step summary) of `check` and `diff`.

Headline with the verdict and the delta, one table row per job spec or run, the findings, then
collapsible per-stage details. With `RenderOptions.tag` the hidden marker `<!-- carbonguard:TAG -->`
comes first so the comment is found and updated in place. Output is cut at whole lines to stay
under `max_chars` (default GitHub's 65,536-character comment limit), with a note saying so.
Every user string goes through `md_text`/`md_code`.
"""

from __future__ import annotations

import re
from typing import Any

from carbonguard.formats.check_common import delta_phrase, num, ordered_findings, pct, signed, status
from carbonguard.formats.common import intensity_provenance
from carbonguard.formats.escape import md_code as c
from carbonguard.formats.escape import md_text as m
from carbonguard.formats.registry import RenderOptions
from carbonguard.models import Outcome
from carbonguard.reporting.check import CheckReport, DiffReport, DiffRow

GITHUB_COMMENT_LIMIT = 65_536
CUT_NOTE = ("\n_Cut to stay under GitHub's 65,536-character comment limit; the full result is in the "
            "workflow run (`-o json`, SARIF)._\n")
_TAG = re.compile(r"^[A-Za-z0-9._/-]{1,100}$")
BADGE = {Outcome.ALLOW: "✅ allow", Outcome.WARN: "⚠️ warn", Outcome.RESCHEDULE: "⏳ reschedule",
         Outcome.BLOCK: "⛔ block"}


def marker(tag: str) -> str:
    """The hidden marker; the tag is refused unless it is a plain slug (it sits inside an HTML comment)."""
    if not _TAG.match(tag):
        raise ValueError(f"comment tag {tag!r} must be 1-100 of A-Z a-z 0-9 . _ / -")
    return f"<!-- carbonguard:{tag} -->"


def fit(lines: list[str], limit: int) -> str:
    """Whole lines up to `limit` characters, closing an open <details>, plus the note when cut."""
    text = "\n".join(lines) + "\n"
    if len(text) <= limit:
        return text
    budget = limit - len(CUT_NOTE) - len("</details>\n") - 1
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    opened = sum(line.startswith("<details>") for line in kept) - sum(line == "</details>" for line in kept)
    if opened > 0:
        kept.append("</details>")
    return "\n".join(kept) + "\n" + CUT_NOTE


def _head(options: RenderOptions) -> list[str]:
    return [marker(options.tag), ""] if options.tag else []


def render_check(report: CheckReport, options: RenderOptions) -> str:
    change = delta_phrase(report.delta_co2e_kg, report.delta_fraction, report.baseline_label)
    out = [
        *_head(options),
        f"## {BADGE[report.outcome]} carbonguard budget check",
        "",
        f"**{num(report.co2e_kg, 'kg CO2e')}**" + (f", {m(change)}" if change else "")
        + f" · policy **{m(report.policy_name)}** v{m(report.policy_version)} ({c(report.policy_file)})"
        + f" · fails on {report.fail_on}",
        "",
        "| job | decision | energy_kwh | co2e_kg | baseline co2e_kg | change |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for s in report.subjects:
        f, base = s.figures, s.baseline
        out.append(f"| {c(s.name)} | {BADGE[s.decision.outcome]} | {num(f.energy_kwh)} | {num(f.co2e_kg)} | "
                   f"{num(base.total.co2e_kg) if base else '—'} | "
                   f"{(signed(s.delta_co2e_kg) + ' (' + pct(s.delta_fraction) + ')') if base else '—'} |")
    findings = list(ordered_findings(report))
    out += ["", "### Findings", ""]
    if not findings:
        out.append("None.")
    else:
        out += ["| rule | outcome | scope | detail | where |", "| --- | --- | --- | --- | --- |"]
        for s, finding in findings:
            where = "<br>".join(c(f"{loc.file}:{loc.line}" if loc.line else loc.file) for loc in s.locations(finding))
            out.append(f"| {c(finding.rule_id)} | {m(status(finding))} | {m(finding.scope)} | "
                       f"{m(finding.message)} | {where or '—'} |")
    for s in report.subjects:
        out += ["", f"<details><summary>Stages and grid figures of {m(s.name)}</summary>", "",
                "| stage | energy_kwh | co2e_kg | co2e_upper_kg | baseline co2e_kg | change |",
                "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for stage in s.footprint.stages:
            base = s.baseline.stage(stage.stage) if s.baseline else None
            delta = (stage.known_co2e_kg - base.co2e_kg
                     if base is not None and base.co2e_kg is not None and stage.known_co2e_kg is not None else None)
            out.append(f"| {m(stage.stage)} | {num(stage.known_energy_kwh)} | {num(stage.known_co2e_kg)} | "
                       f"{num(stage.co2e_upper_kg if stage.energy_known else None)} | "
                       f"{num(base.co2e_kg) if base else ('new' if s.baseline else '—')} | "
                       f"{signed(delta) if base else '—'} |")
        out += [""] + [f"- {m(line)}" for line in intensity_provenance(s.footprint)]
        out += [f"- zone {m(s.footprint.zone)}, PUE {s.footprint.pue:g}, "
                f"{s.footprint.estimated_components} estimated and {s.footprint.unavailable_components} "
                "unavailable readings", "", "</details>"]
    return fit(out, options.max_chars or GITHUB_COMMENT_LIMIT)


def _diff_row(row: DiffRow) -> str:
    b, h = row.base, row.head
    return (f"| {m(row.stage)} | {row.status} | {num(b.energy_kwh if b else None)} | "
            f"{num(h.energy_kwh if h else None)} | {signed(row.delta_energy_kwh)} ({pct(row.energy_fraction)}) | "
            f"{num(b.co2e_kg if b else None)} | {num(h.co2e_kg if h else None)} | "
            f"{signed(row.delta_co2e_kg)} ({pct(row.co2e_fraction)}) |")


def render_diff(report: DiffReport, options: RenderOptions) -> str:
    total = report.total
    out = [
        *_head(options),
        f"## carbonguard diff: {m(report.base.label)} → {m(report.head.label)}",
        "",
        f"**{signed(total.delta_co2e_kg, 'kg CO2e')} ({pct(total.co2e_fraction)})**, "
        f"{signed(total.delta_energy_kwh, 'kWh')} ({pct(total.energy_fraction)})",
        "",
        "| stage | status | base energy_kwh | head energy_kwh | change | base co2e_kg | head co2e_kg | change |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[_diff_row(row) for row in report.rows],
        _diff_row(total).replace("| total |", "| **total** |", 1),
    ]
    return fit(out, options.max_chars or GITHUB_COMMENT_LIMIT)


RENDERERS: dict[str, Any] = {"check": render_check, "diff": render_diff}
