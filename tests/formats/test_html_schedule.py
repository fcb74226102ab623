"""The run page's scheduling section: the forecast with "run now" and the proposed window marked."""

from __future__ import annotations

import pytest

from carbonguard.formats import render
from carbonguard.gate import evaluate
from carbonguard.reporting.run import RunReport
from tests.gate.test_reschedule import AS_OF, hourly, policy, run

pytest.importorskip("matplotlib", reason="the HTML report draws charts with matplotlib: pip install '.[report]'")


def schedule_report(values: list[float]) -> RunReport:
    forecasts = {"GB": hourly("GB", values)}
    decision = evaluate(policy(fallback="warn"), run(), as_of=AS_OF, forecasts=forecasts)
    return RunReport(decision, run(), forecasts=forecasts)


def test_a_proposal_shows_the_forecast_with_now_and_the_window_marked() -> None:
    page = render("html", schedule_report([300, 300, 300, 100, 100, 300] + [300] * 24))
    assert "<section id=schedule>" in page and "A cleaner window" in page
    for mark in ("cg-schedule-forecast-cg-mark-0", "cg-schedule-now-cg-mark-0", "cg-schedule-window-cg-mark-0"):
        assert mark in page
    assert "2026-03-02 15:00 UTC" in page and "67" in page  # the start, and the saving in percent


def test_no_window_says_why_and_marks_only_now() -> None:
    page = render("html", schedule_report([300, 280] + [290] * 28))
    assert "<section id=schedule>" in page and "min_saving_fraction" in page
    assert "cg-schedule-window-cg-mark-0" not in page and "cg-schedule-now-cg-mark-0" in page


def test_no_reschedule_rule_no_section() -> None:
    decision = evaluate(policy(), run(co2e=0.1), as_of=AS_OF)
    assert "<section id=schedule>" not in render("html", RunReport(decision, run(co2e=0.1)))
