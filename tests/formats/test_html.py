"""The HTML format without a browser: hostile names stay text, output is reproducible, a missing
matplotlib is one clear line, and the sections that have nothing to show do not appear."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from carbonguard.formats import render
from tests.formats.report_scenarios import HOSTILE_STAGE, HOSTILE_VERSION, example_run, period
from tests.formats.test_hostile_strings import ATTACKS
from tests.formats.test_hostile_strings import report as hostile_report

pytest.importorskip("matplotlib", reason="the html format needs matplotlib: pip install 'carbonguard[report]'")

ACTIVE_TAGS = {"script", "img", "iframe", "object", "embed", "link", "base", "form", "meta", "foreignobject",
               "image", "a", "animate", "set", "audio", "video", "source", "input", "button"}
ALLOWED_META = {"charset", "http-equiv", "content", "name"}


class _Markup(HTMLParser):
    """Every element and attribute of a page, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def executable_markup(page: str) -> list[str]:
    """What in `page` could run code or load something: active elements, handlers, script URLs."""
    parser = _Markup()
    parser.feed(page)
    found = []
    head_metas = 0
    for tag, attrs in parser.tags:
        if tag == "meta" and set(attrs) <= ALLOWED_META and head_metas < 4:
            head_metas += 1  # the page's own charset, CSP, viewport and colour-scheme
            continue
        if tag in ACTIVE_TAGS:
            found.append(f"<{tag}>")
        for name, value in attrs.items():
            internal = (value or "").startswith("#")  # matplotlib's <use xlink:href="#marker">
            if name.startswith("on") or (name in ("href", "src", "xlink:href", "srcdoc", "formaction")
                                         and not internal):
                found.append(f"<{tag} {name}={value!r}>")
            if value and re.search(r"javascript:|data:text/html|url\((?!#)|@import", value, re.I):
                found.append(f"<{tag} {name}={value!r}>")
    return found


def test_the_page_itself_has_no_executable_markup(tmp_path: Path) -> None:
    assert executable_markup(render("html", example_run(tmp_path))) == []
    assert executable_markup(render("html", period(tmp_path))) == []


def test_hostile_stage_and_policy_version_stay_text(tmp_path: Path) -> None:
    page = render("html", example_run(tmp_path, hostile=True))
    assert executable_markup(page) == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text, in the table and the chart
    assert "&quot;&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    assert HOSTILE_STAGE not in page and HOSTILE_VERSION not in page


@pytest.mark.parametrize("attack", ATTACKS)
def test_every_attack_in_every_field_stays_text(attack: str) -> None:
    page = render("html", hostile_report(attack))
    assert executable_markup(page) == [], attack
    assert "\x1b" not in page and "\u202e" not in page


def test_removing_the_escape_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard the guard: with html_text replaced by str, the check above finds the injected markup."""
    import carbonguard.formats.html as html_format

    monkeypatch.setattr(html_format, "h", str)
    found = executable_markup(render("html", example_run(tmp_path, hostile=True)))
    assert "<script>" in found and any("onerror" in f for f in found)


def test_the_content_security_policy_forbids_scripts_and_loads(tmp_path: Path) -> None:
    page = render("html", example_run(tmp_path))
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp and "default-src 'none'" in csp.group(1) and "script-src" not in csp.group(1)


def test_same_report_same_bytes(tmp_path: Path) -> None:
    report = example_run(tmp_path)
    first, second = render("html", report), render("html", report)
    assert first == second  # fixed svg.hashsalt and svg.id, no date in the SVG metadata
    ids = re.findall(r'\sid="([^"]+)"', first)
    assert len(ids) == len(set(ids)), "element ids repeat across charts"
    assert 'id="cg-stages"' in first and 'id="cg-hourly"' in first


def test_charts_have_text_alternatives(tmp_path: Path) -> None:
    page = render("html", example_run(tmp_path))
    svgs = re.findall(r"<svg[^>]*>", page)
    assert len(svgs) == 2
    for svg in svgs:
        assert 'role="img"' in svg and "aria-labelledby=" in svg
    assert page.count("<figcaption>") == 2 and page.count("<table>") >= 3
    assert "currentColor" in page and "prefers-color-scheme: dark" in page


def test_sections_without_data_do_not_appear(tmp_path: Path) -> None:
    from carbonguard.reporting.run import RunReport

    report = example_run(tmp_path)
    bare = render("html", RunReport(report.decision))  # a decision without footprint or ledger state
    assert "Where the energy went" not in bare and "<svg" not in bare and "ledger head" not in bare
    assert "Blocked" in bare and "budget.run-co2e" in bare


def test_numbers_are_for_people(tmp_path: Path) -> None:
    page = render("html", example_run(tmp_path))
    assert "65.8 g CO2e against 50.0 g CO2e" in page  # the headline: observed against limit
    assert '4.10 <span class="unit">kWh</span>' in page  # the key-figure tile
    assert "0.0658476" not in page.replace("0.0658476 kg CO2e, over the budget", "")  # only the gate's message


def test_without_matplotlib_html_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    """A real interpreter in which matplotlib cannot be imported (as without the `report` extra)."""
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'matplotlib' or name.startswith('matplotlib.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import importlib.util\n"
        "_find = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda n, p=None: None if n == 'matplotlib' else _find(n, p)\n"
        "from carbonguard.cli.main import main\n"
        f"sys.exit(main(['audit', 'report', '--ledger', {str(tmp_path / 'l.db')!r}, "
        f"'-o', 'html={tmp_path / 'r.html'}']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'carbonguard[report]'" in lines[0] and "matplotlib" in lines[0]
    assert not (tmp_path / "r.html").exists()


def test_rendering_without_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from carbonguard.formats import charts

    report = example_run(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(charts.ReportDependencyMissing, match=r"pip install 'carbonguard\[report\]'"):
        render("html", report)


def test_an_empty_period_says_so_without_charts(tmp_path: Path) -> None:
    from carbonguard.ledger import Signer, open_ledger
    from carbonguard.reporting.compliance import build_report

    with open_ledger(str(tmp_path / "empty.db"), signing_key=Signer.generate()) as ledger:
        page = render("html", build_report(ledger))
    assert "No runs in this period" in page and "gate outcomes: no runs" in page and "<svg" not in page
