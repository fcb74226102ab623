"""What `carbon_gate` publishes beside the decision: the HTML report file and Prefect artifacts.

Small separate functions, each safe to call on its own: the stage table artifact (one row per
stage, units in the column names), the HTML report written to a directory, and a link artifact to
it (a `file://` URI, or `report_url` + file name where reports are served).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carbonguard.reporting.run import RunReport

log = logging.getLogger("carbonguard.prefect")

STAGES_ARTIFACT_KEY = "carbonguard-stages"
REPORT_ARTIFACT_KEY = "carbonguard-report"


def check_report_dir(report_dir: str | Path | None) -> None:
    """Refuse, before anything is recorded, a report that cannot be written (no matplotlib, no dir)."""
    if report_dir is None:
        return
    from carbonguard.errors import InputError, Problem
    from carbonguard.formats.registry import FORMATS

    missing = FORMATS["html"].missing()
    if missing:
        raise InputError(Problem(missing, source="carbon_gate", field_path="report_dir"))
    path = Path(report_dir)
    if path.exists() and not path.is_dir():
        raise InputError(Problem(f"{str(path)!r} is not a directory", source="carbon_gate",
                                 field_path="report_dir"))


def report_file_name(run_id: str) -> str:
    """A file name from a run id (a label: printable, but it may hold '/', spaces or markup)."""
    return f"carbonguard-run-{re.sub(r'[^A-Za-z0-9._-]', '_', run_id)[:120]}.html"


def write_html_report(report: RunReport, report_dir: str | Path) -> Path:
    """Render `report` as HTML into `report_dir` (created if needed); the file's path."""
    from carbonguard.formats import render

    directory = Path(report_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / report_file_name(report.decision.run_id)
    path.write_text(render("html", report), encoding="utf-8")
    return path


def stage_rows(report: RunReport) -> list[dict[str, Any]]:
    """One row per stage; an unknown figure is the word 'unknown', never 0."""
    if report.footprint is None:
        return []
    return [{
        "stage": s.stage,
        "attempts": s.records,
        "energy_kwh": s.known_energy_kwh if s.known_energy_kwh is not None else "unknown",
        "energy_upper_kwh": s.energy_upper_kwh if s.known_energy_kwh is not None else "unknown",
        "co2e_kg": s.known_co2e_kg if s.known_co2e_kg is not None else "unknown",
        "estimated_readings": s.estimated_components,
        "unavailable_readings": s.unavailable_components,
    } for s in report.footprint.stages]


def publish_stage_table(report: RunReport) -> None:
    from prefect.artifacts import create_table_artifact

    rows = stage_rows(report)
    if rows:
        create_table_artifact(table=rows, key=STAGES_ARTIFACT_KEY,
                              description=f"carbonguard: energy and CO2e per stage of run {report.decision.run_id}")


def report_link(path: Path, report_url: str | None) -> str:
    return f"{report_url.rstrip('/')}/{path.name}" if report_url else path.resolve().as_uri()


def publish_report_link(link: str, report: RunReport) -> None:
    from prefect.artifacts import create_link_artifact

    create_link_artifact(link=link, link_text=f"carbonguard report: {report.decision.outcome.value}",
                         key=REPORT_ARTIFACT_KEY, description="The run's HTML report: verdict, charts, provenance")


def publish_run_report(report: RunReport, report_dir: str | Path | None = None,
                       report_url: str | None = None) -> Path | None:
    """Stage table artifact; with `report_dir`, the HTML file and a link artifact. The file's path.

    The decision is already in the ledger: a failed artifact upload is logged, never raised. A file
    that cannot be written is raised, since the caller asked for it.
    """
    try:
        publish_stage_table(report)
    except Exception:
        log.warning("carbonguard: could not publish the stage table artifact", exc_info=True)
    if report_dir is None:
        return None
    path = write_html_report(report, report_dir)
    log.info("carbonguard: HTML report written to %s", path)
    try:
        publish_report_link(report_link(path, report_url), report)
    except Exception:
        log.warning("carbonguard: could not publish the report link artifact", exc_info=True)
    return path
