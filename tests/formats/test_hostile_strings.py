"""Anything a user typed is hostile: run it through every format and check nothing is interpreted.

No line may start a GitHub workflow command (`::`), markdown may carry no raw `<` (no HTML), text
carries no control characters, and every markdown table row keeps its header's column count.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonguard.formats import FORMATS, formats_for, render
from carbonguard.models import (
    Decision,
    Finding,
    IntensityPoint,
    Origin,
    Outcome,
    RunFootprint,
    StageFootprint,
    WaiverRef,
)
from carbonguard.reporting.run import RunReport

NOW = datetime(2026, 3, 2, tzinfo=timezone.utc)
ATTACKS = [
    "x\n::error::pwned", "a\r\n::set-output name=decision::allow", "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">', "a|b|c", "`code` **bold** [link](javascript:alert(1))",
    "\x1b[31mred\x1b]0;title\x07", "\u202eevil\u2066", "%0A::warning::x", "line\u2028sep", "&lt;",
]
hostile = st.one_of(st.sampled_from(ATTACKS), st.text(min_size=1, max_size=40),
                    st.lists(st.sampled_from(ATTACKS), min_size=1, max_size=3).map("".join))
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def report(s: str) -> RunReport:
    footprint = RunFootprint(
        run_id=s, zone=s, pue=1.2, it_energy_kwh=1.0, energy_kwh=1.2, energy_upper_kwh=1.2, co2e_kg=0.5,
        stages=(StageFootprint(stage=s, records=1, it_energy_kwh=1.0, energy_kwh=1.2, energy_upper_kwh=1.2,
                               co2e_kg=0.5),),
        intensity_sources=(IntensityPoint(zone=s, start=NOW, duration_s=3600, intensity_g_per_kwh=400,
                                          provider=s, origin=Origin.LIVE, source=s, flags=(s,)),),
    )
    decision = Decision(
        outcome=Outcome.BLOCK, run_id=s, policy_name=s, policy_version=s, policy_hash="ab" * 32,
        policy_file=s, evaluated_at=NOW, energy_kwh=1.2, co2e_kg=0.5,
        findings=(
            Finding(rule_id="budget.run-co2e", outcome=Outcome.BLOCK, message=s, scope=s, remedy=s,
                    policy_file=s, policy_line=3),
            Finding(rule_id="measurement.estimated", outcome=Outcome.WARN, message=s, remedy=s,
                    waived_by=WaiverRef(rule="measurement.estimated", reason=s, approved_by=s, expires=s)),
        ),
    )
    return RunReport(decision, footprint)


def _table_rows_keep_columns(markdown: str) -> None:
    columns = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        count = len(re.findall(r"(?<!\\)\|", line))
        columns = columns or count
        assert count == columns, f"table row changed its column count: {line!r}"


@settings(max_examples=150, deadline=None)
@given(hostile)
def test_run_report_in_every_format(s: str) -> None:
    result = report(s)
    for name in formats_for("run"):
        if name == "html":  # draws charts (about 0.3 s a page): tests/formats/test_html.py runs each attack
            continue
        out = render(name, result)
        assert not any(line.lstrip().startswith("::") for line in out.splitlines()), name
        if name == "json":
            assert json.loads(out)["decision"]["run_id"] == s  # data, exactly as given
            assert not CONTROL.search(out)
        else:
            assert not CONTROL.search(out), f"{name} passes a control character through"
        if name == "markdown":
            assert "<" not in out
            _table_rows_keep_columns(out)


def test_every_format_is_covered() -> None:
    assert set(formats_for("run")) == {n for n, spec in FORMATS.items() if "run" in spec.kinds}


def test_removing_the_markdown_escape_is_caught(monkeypatch) -> None:
    """Guard the guard: with escaping off, the checks above fail."""
    import carbonguard.formats.markdown as md

    monkeypatch.setattr(md, "m", lambda v: str(v))
    out = render("markdown", report("<script>x</script>|y"))
    assert "<script>" in out



@pytest.mark.parametrize("kind", ["input", "ledger"])
def test_an_error_naming_what_a_user_typed_drives_no_terminal(kind: str, capsys, monkeypatch) -> None:
    """The CLI's error lines (an input error, a ledger error) name paths and URLs as typed: each
    problem is one line starting `carbonguard: `, with control characters shown as spaces."""
    import argparse

    import carbonguard.cli.main as cli_main
    from carbonguard.errors import InputError, Problem
    from carbonguard.ledger import UnsealedHead

    hostile = "x\n::error::y <b>z</b>\x1b[31m"
    raised: Exception = (InputError([Problem("no ledger here", source=hostile), Problem("bad", source=hostile)])
                         if kind == "input" else UnsealedHead(f"ledger {hostile}: not sealed", 16))

    def handler(args: argparse.Namespace) -> int:
        raise raised

    class Parser:
        def parse_args(self, argv: list[str]) -> argparse.Namespace:
            return argparse.Namespace(handler=handler)

    monkeypatch.setattr(cli_main, "build_parser", lambda lazy=True: Parser())
    assert cli_main.main([]) == (2 if kind == "input" else 16)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == (2 if kind == "input" else 1)
    assert all(line.startswith("carbonguard: ") and "::error::y" in line and "\x1b" not in line for line in lines)
