"""GitHub Actions workflow commands for `check`: one annotation per finding, at its file and line.

`::error file=F,line=L,title=T::MESSAGE` for block/reschedule, `::warning` for warn, `::notice` for
waived findings. GitHub shows at most 10 annotations of each level per step, so at most 10 are
written per level and a notice counts the rest. Every value is escaped (`gh_property` for `file=`
and `title=`, `gh_data` for the message, after other control characters are replaced), so a stage,
policy or budget name holding `::`, `%`, CR/LF or HTML cannot start a workflow command of its own.

The step summary and the step outputs are files named by the environment; the CLI writes them
(`carbonguard.cli.actions_env`) from `step_outputs` and the markdown renderer. Nothing here reads
the environment, so rendering stays pure.
"""

from __future__ import annotations

from typing import Any

from carbonguard.formats.check_common import LEVEL, headline, ordered_findings
from carbonguard.formats.escape import gh_data, gh_property, text_block, text_safe
from carbonguard.formats.registry import RenderOptions
from carbonguard.reporting.check import CheckReport

MAX_PER_LEVEL = 10  # GitHub's limit of annotations per level and step


def _message(value: object) -> str:
    return gh_data(text_block(value))


def command(level: str, message: str, *, file: str | None = None, line: int | None = None,
            title: str | None = None) -> str:
    """One workflow command line, every property and the message escaped."""
    props = []
    if file:
        props.append(f"file={gh_property(text_block(file))}")
        if line:
            props.append(f"line={int(line)}")
    if title:
        props.append(f"title={gh_property(text_block(title))}")
    return f"::{level} {','.join(props)}::{_message(message)}" if props else f"::{level}::{_message(message)}"


def render_check(report: CheckReport, options: RenderOptions) -> str:
    by_level: dict[str, list[str]] = {"error": [], "warning": [], "notice": []}
    for subject, finding in ordered_findings(report):
        level = "notice" if finding.waived_by is not None else LEVEL[finding.outcome]
        if level == "note":
            continue
        locations = subject.locations(finding)
        where = locations[0] if locations else None
        text = finding.message
        if finding.waived_by is not None:
            text = f"waived ({finding.waived_by.reason}; approved by {finding.waived_by.approved_by}, until " \
                   f"{finding.waived_by.expires}): {text}"
        elif finding.remedy:
            text += f"\nFix: {finding.remedy}"
        if len(report.subjects) > 1:
            text = f"{subject.name}: {text}"
        by_level[level].append(command(level, text, file=where.file if where else None,
                                       line=where.line if where else None,
                                       title=f"carbonguard {finding.rule_id} ({finding.scope})"))
    # A plain log line, not a command: one line of text, so it cannot start a command of its own.
    lines: list[str] = [f"carbonguard check: {text_safe(headline(report))}"]
    overflow = []
    for level in ("error", "warning", "notice"):
        found = by_level[level]
        room = MAX_PER_LEVEL if level != "notice" else MAX_PER_LEVEL - len(overflow) - 1
        lines += found[:room]
        if len(found) > room:
            overflow.append(command("notice", f"{len(found) - room} more {level} annotation(s) not shown "
                                    "(GitHub shows 10 per level); see the step summary or the SARIF upload",
                                    title="carbonguard"))
    return "\n".join(lines + overflow) + "\n"


def step_outputs(report: CheckReport) -> dict[str, str]:
    """`decision`, `co2e_kg`, `delta_co2e_kg` for $GITHUB_OUTPUT ('' where unknown or no baseline)."""
    def fmt(value: float | None) -> str:
        return "" if value is None else f"{value:.6f}"

    return {"decision": report.outcome.value, "co2e_kg": fmt(report.co2e_kg),
            "delta_co2e_kg": fmt(report.delta_co2e_kg)}


def output_file_text(values: dict[str, str], delimiter: str) -> str:
    """The `name<<DELIMITER` form GitHub documents for values that may hold newlines."""
    out = []
    for name, value in values.items():
        if delimiter in value or delimiter in name:
            raise ValueError("the delimiter occurs in a value; pick another")
        out.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(out)


RENDERERS: dict[str, Any] = {"check": render_check}
