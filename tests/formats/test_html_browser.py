"""The HTML reports in a real browser: headless Chromium loads each page from a file and we check
what a reader gets: no console error, no network request, every chart drawn with marks, the key
figures as text. Screenshots (light and dark) land in artifacts/screenshots/ for people to look at;
CI keeps them as artifacts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.formats.browser import Browser, find_chromium

pytest.importorskip("matplotlib", reason="the html format needs matplotlib: pip install 'carbonguard[report]'")
CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium; "
                                                          ".ci/run installs it when missing)")
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

MARKS = """Object.fromEntries([...document.querySelectorAll('figure.chart')].map(f => [f.id,
  [...f.querySelectorAll('svg [id*="-cg-mark-"]')].filter(g => { const b = g.getBBox();
    return b.width > 0 || b.height > 0; }).length]))"""
CHART_TEXT = """[...document.querySelectorAll('figure.chart svg')].map(s => ({role: s.getAttribute('role'),
  title: (s.querySelector('title') || {}).textContent || '', texts: s.querySelectorAll('text').length,
  width: s.getBoundingClientRect().width}))"""
SCRIPTS = {"marks": MARKS, "charts": CHART_TEXT, "text": "document.body.innerText",
           "scripts": "document.scripts.length + document.images.length + document.querySelectorAll('iframe, object, "
                      "embed, img, [onerror], [onload]').length"}


@pytest.fixture(scope="module")
def browser():
    with Browser(CHROMIUM) as b:  # type: ignore[arg-type]
        yield b


def _visit(browser: Browser, html: str, tmp_path: Path, name: str):
    page = tmp_path / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    visit = browser.visit(page, SHOTS, name, SCRIPTS)
    assert visit.console_errors == [], visit.console_errors
    assert visit.requests == [page.resolve().as_uri()], f"the page requested more than itself: {visit.requests}"
    assert visit.evaluations["scripts"] == 0
    for chart in visit.evaluations["charts"]:
        assert chart["role"] == "img" and chart["title"] and chart["texts"] > 0 and chart["width"] > 300, chart
    for screenshot in visit.screenshots.values():
        assert screenshot.stat().st_size > 10_000
    return visit


def test_run_report_in_chromium(browser: Browser, tmp_path: Path) -> None:
    from carbonguard.formats import render
    from tests.formats.report_scenarios import example_run

    report = example_run(tmp_path)
    visit = _visit(browser, render("html", report), tmp_path, "run-report")
    marks = visit.evaluations["marks"]
    assert set(marks) == {"cg-stages-figure", "cg-hourly-figure"}
    assert marks["cg-stages-figure"] == 6  # three stages x (energy, CO2e)
    assert marks["cg-hourly-figure"] == len(report.footprint.hourly) + 1  # bars + the intensity line
    text = visit.evaluations["text"]
    assert 0 <= text.index("Blocked") < 60 < text.index("Where the energy went")  # the verdict comes first
    for figure in ("budget.run-co2e", "Fix:", "example-run-1", "prepare", "evaluate", "kWh", "gCO2e/kWh",
                   report.decision.policy_hash, report.ledger.head_hash, "verified"):
        assert figure in text, figure


def test_period_report_in_chromium(browser: Browser, tmp_path: Path) -> None:
    from carbonguard.formats import render
    from tests.formats.report_scenarios import period

    report = period(tmp_path)
    visit = _visit(browser, render("html", report), tmp_path, "period-report")
    marks = visit.evaluations["marks"]
    assert set(marks) == {"cg-period-runs-figure", "cg-top-stages-figure"}
    known = [r for r in report.runs if r.scope2.location_based_co2e_kg is not None]
    assert marks["cg-period-runs-figure"] == len(known)
    assert marks["cg-top-stages-figure"] == 3  # prepare, train, evaluate (each with readings)
    text = visit.evaluations["text"]
    assert "Ledger verified" in text
    for run in report.runs:
        assert run.run_id in text
    assert report.ledger.head_hash in text and "Top stages" in text and "Budgets and outcomes" in text


def test_hostile_names_do_not_run_in_the_browser(browser: Browser, tmp_path: Path) -> None:
    """The markup test's claim, confirmed by a browser: nothing injected became an element."""
    from carbonguard.formats import render
    from tests.formats.report_scenarios import HOSTILE_STAGE, example_run

    page = render("html", example_run(tmp_path, hostile=True))
    visit = _visit(browser, page, tmp_path, "run-report-hostile")
    assert HOSTILE_STAGE in visit.evaluations["text"]  # shown as text, in the table
