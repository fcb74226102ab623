"""`check` and `diff` in every format: golden files, SARIF against the OASIS schema, JUnit read back,
GitHub annotations capped and escaped, markdown cut under GitHub's limit, hostile names inert.

Golden files live in tests/formats/golden/; regenerate them with `python -m tests.formats.regen_golden`.
"""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path

import jsonschema
import pytest

from carbonguard.formats.check_markdown import CUT_NOTE
from carbonguard.formats.github import MAX_PER_LEVEL, output_file_text, step_outputs
from carbonguard.formats.registry import RenderOptions, formats_for, render
from carbonguard.models import Finding, Outcome, WaiverRef
from carbonguard.reporting.check import CheckReport, JobspecLines
from tests.formats.check_cases import check_report
from tests.formats.regen_golden import GOLDEN, rendered

SCHEMA = Path(__file__).resolve().parent / "sarif" / "sarif-schema-2.1.0.json"
TAG = "examples/jobs/train-small.yaml"


@lru_cache(maxsize=1)
def _golden() -> dict[str, str]:
    return rendered()


@lru_cache(maxsize=1)
def _report() -> CheckReport:
    return check_report()


def _sarif_validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


def test_every_format_of_check_and_diff_has_a_golden_file() -> None:
    assert set(formats_for("check")) == {"text", "json", "markdown", "github", "sarif", "junit"}
    assert set(formats_for("diff")) >= {"text", "json", "markdown"}
    assert set(_golden()) == {p.name for p in GOLDEN.iterdir()}


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.iterdir()))
def test_output_matches_its_golden_file(name: str) -> None:
    expected = (GOLDEN / name).read_text(encoding="utf-8")
    assert _golden()[name] == expected, f"{name} changed; if intended: python -m tests.formats.regen_golden"


def test_rendering_is_deterministic() -> None:
    assert rendered() == _golden()  # built again from scratch: same bytes


def test_json_carries_a_schema_version_and_no_wall_clock_time() -> None:
    doc = json.loads(_golden()["check.json"])
    assert doc["schema_version"] == 1 and doc["kind"] == "check"
    assert "evaluated_at" not in json.dumps(doc)
    assert json.loads(_golden()["diff.json"])["schema_version"] == 1


# --- SARIF -----------------------------------------------------------------------------------------

def test_sarif_is_valid_against_the_oasis_schema() -> None:
    doc = json.loads(_golden()["check.sarif.json"])
    _sarif_validator().validate(doc)


def test_the_schema_check_really_checks() -> None:
    doc = json.loads(_golden()["check.sarif.json"])
    doc["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        _sarif_validator().validate(doc)


def test_sarif_rules_results_fingerprints_and_suppressions() -> None:
    run = json.loads(_golden()["check.sarif.json"])["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules == sorted(rules) and "budget.<id>" not in rules
    assert {"budget.run-co2e", "budget.run-energy", "budget.train-co2e", "location.zone-mismatch"} <= set(rules)
    assert all(r["help"]["text"] for r in run["tool"]["driver"]["rules"])
    for result in run["results"]:
        assert rules[result["ruleIndex"]] == result["ruleId"]
    fingerprints = [r["partialFingerprints"]["carbonguardFinding/v1"] for r in run["results"]]
    assert len(set(fingerprints)) == len(fingerprints)  # the absolute and the increase finding differ
    waived = [r for r in run["results"] if "suppressions" in r]
    assert [r["ruleId"] for r in waived] == ["measurement.estimated"]
    assert "only be estimated" in waived[0]["suppressions"][0]["justification"]
    stage = next(r for r in run["results"] if r["ruleId"] == "budget.train-co2e")
    assert stage["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "examples/jobs/train-small.yaml"}, "region": {"startLine": 22}}
    assert stage["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "policies/ci-budget.yaml"


def test_sarif_fingerprints_do_not_move_with_the_numbers() -> None:
    """Code scanning tracks one alert across pushes: the fingerprint names the finding, not its figures."""
    from carbonguard.formats.sarif import fingerprint

    subject = _report().subjects[0]
    for finding in subject.decision.findings:
        moved = finding.model_copy(update={"observed": (finding.observed or 0) * 3, "message": "other"})
        assert fingerprint(subject, moved) == fingerprint(subject, finding)


# --- JUnit -----------------------------------------------------------------------------------------

def test_junit_reads_back_one_case_per_budget_and_rule() -> None:
    root = ET.fromstring(_golden()["check.junit.xml"])
    suite = root.find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert int(suite.get("tests")) == len(cases) == int(root.get("tests"))
    assert {"budget.run-co2e", "budget.run-energy", "budget.train-co2e", "measurement.estimated",
            "location.zone-mismatch", "waiver.expired"} <= set(cases)
    failed = {name for name, c in cases.items() if c.find("failure") is not None}
    assert failed == {"budget.run-co2e", "budget.run-energy"} and int(suite.get("failures")) == 2
    assert cases["measurement.estimated"].find("skipped") is not None  # waived
    assert cases["budget.train-co2e"].find("failure") is None  # a warning does not fail under --fail-on block
    assert "over the budget" in (cases["budget.train-co2e"].findtext("system-out") or "")


def test_junit_under_fail_on_warn_fails_warnings_too() -> None:
    report = dataclasses.replace(_report(), fail_on="warn")
    root = ET.fromstring(render("junit", report))
    case = next(c for c in root.iter("testcase") if c.get("name") == "budget.train-co2e")
    assert case.find("failure") is not None


# --- GitHub annotations and Actions files ---------------------------------------------------------

def _with_findings(n: int, outcome: Outcome) -> CheckReport:
    report = _report()
    subject = report.subjects[0]
    extra = tuple(Finding(rule_id=f"budget.b{i:03d}", outcome=outcome, message=f"finding {i}", scope="run",
                          policy_file="policies/ci-budget.yaml", policy_line=3) for i in range(n))
    decision = subject.decision.model_copy(update={"findings": subject.decision.findings + extra})
    return dataclasses.replace(report, subjects=(dataclasses.replace(subject, decision=decision),))


def test_annotations_are_capped_at_ten_per_level_with_a_notice_for_the_rest() -> None:
    out = render("github", _with_findings(25, Outcome.BLOCK)).splitlines()
    errors = [line for line in out if line.startswith("::error ")]
    warnings = [line for line in out if line.startswith("::warning ")]
    notices = [line for line in out if line.startswith("::notice ")]
    assert len(errors) == MAX_PER_LEVEL and len(warnings) == 1
    assert any("18 more error annotation(s) not shown" in line for line in notices)  # 3 + 25 errors in all
    assert len(notices) <= MAX_PER_LEVEL


def test_step_outputs_use_the_multiline_form_with_the_delimiter_given() -> None:
    values = step_outputs(_report())
    assert values["decision"] == "block" and float(values["co2e_kg"]) > 0 and float(values["delta_co2e_kg"]) > 0
    text = output_file_text(values, "ghadelimiter_x")
    assert text.startswith("decision<<ghadelimiter_x\nblock\nghadelimiter_x\n")
    with pytest.raises(ValueError):
        output_file_text({"decision": "a\nghadelimiter_x\nco2e_kg=0"}, "ghadelimiter_x")


# --- markdown ----------------------------------------------------------------------------------------

def test_markdown_starts_with_the_hidden_marker_and_has_details() -> None:
    md = _golden()["check.md"]
    assert md.startswith(f"<!-- carbonguard:{TAG} -->\n")
    assert "## ⛔ block carbonguard budget check" in md and "+99 %) over main" in md
    assert md.count("<details>") == md.count("</details>") == 1


def test_markdown_is_cut_under_githubs_limit_with_a_note() -> None:
    big = _with_findings(3000, Outcome.WARN)
    md = render("markdown", big, RenderOptions(tag=TAG))
    assert len(md) <= 65_536 and md.endswith(CUT_NOTE) and md.startswith("<!-- carbonguard:")
    assert md.count("<details>") == md.count("</details>")
    assert len(render("markdown", big, RenderOptions(tag=TAG, max_chars=10_000_000))) > 65_536


def test_markdown_refuses_a_tag_that_could_close_the_comment() -> None:
    with pytest.raises(ValueError):
        render("markdown", _report(), RenderOptions(tag="x --><script>"))


# --- hostile names -----------------------------------------------------------------------------------

ATTACKS = ["x\n::error::y", "a\r\n::set-output name=decision::allow", "%0A::warning::x", "<script>alert(1)</script>",
           '<img src=x onerror="alert(1)">', "a|b|c", "f,title=x,line=9::z", "\x1b[31mred\u202e", "line\u2028sep"]


def hostile_report(s: str) -> CheckReport:
    """Every user string a check result carries set to `s`: paths, labels, messages, waiver text."""
    report = _report()
    subject = report.subjects[0]
    waiver = WaiverRef(rule="measurement.estimated", reason=s, approved_by=s, expires="2099-12-31")
    findings = tuple(f.model_copy(update={"message": s, "remedy": s, "scope": "stage:" + s, "policy_file": s,
                                          "waived_by": waiver if f.waived_by else None})
                     for f in subject.decision.findings)
    decision = subject.decision.model_copy(update={"findings": findings})
    baseline = subject.baseline.model_copy(update={"label": s, "source": s})
    subject = dataclasses.replace(subject, name=s, decision=decision, baseline=baseline,
                                  jobspec=JobspecLines(s, 1, 2, ((s, 3),)))
    return dataclasses.replace(report, subjects=(subject,), policy_file=s, policy_name=s, policy_version=s)


_COMMAND = re.compile(r"^::(error|warning|notice)(?: ([^:]*))?::(.*)$")


@pytest.mark.parametrize("s", ATTACKS)
def test_annotations_cannot_be_injected(s: str) -> None:
    out = render("github", hostile_report(s))
    lines = out.splitlines()
    assert lines[0].startswith("carbonguard check: ")
    commands = lines[1:]
    assert len(commands) == len(hostile_report(s).subjects[0].decision.findings)  # no line was added
    for line in commands:
        match = _COMMAND.match(line)
        assert match, line
        keys = [part.split("=", 1)[0] for part in (match.group(2) or "").split(",") if part]
        assert len(keys) == len(set(keys)) and set(keys) <= {"file", "line", "title"}, line
        assert "\r" not in line and "\x1b" not in line


@pytest.mark.parametrize("s", ATTACKS)
def test_markdown_carries_no_markup_from_names(s: str) -> None:
    md = render("markdown", hostile_report(s), RenderOptions(tag=TAG))
    tags = set(re.findall(r"<[^>]*>", md))
    assert tags <= {f"<!-- carbonguard:{TAG} -->", "<details>", "</details>", "<summary>", "</summary>", "<br>"}, tags
    assert not any(line.lstrip().startswith("::") for line in md.splitlines())
    for line in md.splitlines():  # every table row keeps its header's column count
        if line.startswith("| ") and not line.startswith("| ---"):
            assert len(re.findall(r"(?<!\\)\|", line)) in (6, 7), line


@pytest.mark.parametrize("s", ATTACKS)
def test_sarif_keeps_names_as_data_and_stays_valid(s: str) -> None:
    doc = json.loads(render("sarif", hostile_report(s)))
    _sarif_validator().validate(doc)
    results = doc["runs"][0]["results"]
    assert all(r["message"]["text"].startswith(s) for r in results)
    assert results[-1]["suppressions"][0]["justification"].startswith(s)


@pytest.mark.parametrize("s", ATTACKS)
def test_text_and_junit_carry_no_control_characters(s: str) -> None:
    control = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2028\u2029]")
    assert not control.search(render("text", hostile_report(s)))
    xml = render("junit", hostile_report(s))
    assert not control.search(xml)
    ET.fromstring(xml)  # still well-formed XML
