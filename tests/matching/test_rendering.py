"""Matching in every run format (text, markdown, HTML, JSON) and the `match` result kind; names taken
from certificate files are hostile everywhere."""

from __future__ import annotations

import json

import pytest

from carbonguard.formats import render
from carbonguard.reporting.match import MatchReport
from carbonguard.reporting.run import RunReport

from .helpers import bundle, signed
from .test_gate_wiring import OFFSET, run

HOSTILE = "<script>alert(1)</script>|`x`\x1b[2J"


@pytest.fixture(scope="module")
def judged():
    files = [signed([bundle(0, 7), OFFSET]), signed([bundle(50, 59, registry=HOSTILE)], name="evil.json")]
    loaded, result = run(certificates=files)
    return loaded, result


def report(judged) -> RunReport:
    _, result = judged
    return RunReport(result.decision, result.footprint, match=result.match)


def test_run_text_and_markdown_show_cfe_and_both_scope2_figures(judged) -> None:
    text = render("text", report(judged))
    assert "cfe_score (hourly): 80.0% (0.008 of 0.01 kWh matched hour by hour" in text
    assert "co2e_kg (market-based): " in text and "co2e_kg (location-based): " in text
    assert "\x1b" not in text
    markdown = render("markdown", report(judged))
    assert "| hourly CFE score | 80.0% (0.008 of 0.01 kWh matched hour by hour; 1 certificate range(s) " \
           "rejected) |" in markdown
    assert "| co2e_kg (market-based) |" in markdown
    assert "<script>" not in markdown


def test_a_replayed_decision_alone_still_shows_its_cfe(judged) -> None:
    _, result = judged
    text = render("text", RunReport(result.decision, result.footprint))
    assert "cfe_score (hourly): 80.0%" in text


def test_run_json_carries_the_match(judged) -> None:
    doc = json.loads(render("json", report(judged)))
    assert doc["decision"]["cfe_score"] == pytest.approx(0.8)
    assert doc["match"]["cfe_score"] == pytest.approx(0.8) and doc["match"]["claims"][0]["first"] == 0


def test_html_has_a_matching_section_with_its_chart_and_escapes_registry_names(judged) -> None:
    pytest.importorskip("matplotlib")
    page = render("html", report(judged))
    assert "<section id=matching>" in page and 'id="cg-matching-figure"' in page
    assert "hourly CFE score" in page and "market-based (residual mix)" in page
    assert "cg-matching-matched-cg-mark-0" in page  # the matched bar of the first hour
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\x1b" not in page


def test_match_report_text_and_json(judged) -> None:
    loaded, result = judged
    findings = tuple(f for f in result.decision.findings if f.rule_id.startswith("matching."))
    match_report = MatchReport(result=result.match, findings=findings, policy_name=loaded.name,
                               policy_version=loaded.version, policy_hash=loaded.content_hash,
                               policy_file=loaded.source, min_cfe=0.5, min_hourly_cfe=None,
                               consumption_from="run run-w")
    text = render("text", match_report)
    assert "cfe_score (hourly): 80.0% (policy minimum 50.0%; met)" in text
    assert "matching.unverified" in text and "\x1b" not in text
    assert "offset verra VCS-1 vintage 2025: 0.5 tCO2e, valid" in text
    assert "claims: 1 computed, not recorded (--dry-run)" in text
    assert not match_report.passed  # the unverified file blocks, though the minimum is met
    doc = json.loads(render("json", match_report))
    assert doc["schema"] == "carbonguard.match-result/v1" and doc["minimum_met"] is True
    assert {r["rule_id"] for r in doc["rejected"]} == {"matching.unverified"}
