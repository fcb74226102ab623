"""`-o FORMAT[=PATH]`, repeatable, with `--json` and `--format` as aliases, on every result command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carbonguard.cli.main import main


def test_several_formats_to_several_files_in_one_run(tmp_path: Path, capsys) -> None:
    out_json, out_text = tmp_path / "zone.json", tmp_path / "zone.txt"
    assert main(["intensity", "DE", "--at", "2026-03-02T10:00Z",
                 "-o", f"json={out_json}", "-o", f"text={out_text}", "-o", "json"]) == 0
    assert json.loads(out_json.read_text())["zone"] == "DE"
    assert out_text.read_text().startswith("zone: DE")
    assert json.loads(capsys.readouterr().out) == json.loads(out_json.read_text())


def test_json_is_shorthand_for_o_json(capsys) -> None:
    assert main(["intensity", "FR", "--at", "2026-03-02T10:00Z", "--json"]) == 0
    by_flag = capsys.readouterr().out
    assert main(["intensity", "FR", "--at", "2026-03-02T10:00Z", "-o", "json"]) == 0
    assert capsys.readouterr().out == by_flag


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-o", "yaml"], "unknown format 'yaml'; choose from text, json"),
        (["-o", "json="], "names no file after '='"),
        (["-o", "json", "-o", "text"], "only one output may go to standard output"),
        (["-o", "json=/nonexistent-dir/x.json"], "does not exist"),
    ],
)
def test_bad_output_targets_exit_2_with_one_line(argv, message, capsys) -> None:
    assert main(["intensity", "DE", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert "command line: -o:" in err


def test_compliance_report_keeps_its_out_flag(tmp_path: Path, capsys, monkeypatch) -> None:
    from carbonguard.ledger import open_ledger

    ledger = str(tmp_path / "l.db")
    open_ledger(ledger).close()
    out = tmp_path / "report.md"
    assert main(["audit", "report", "--ledger", ledger, "--out", str(out)]) == 0
    assert out.read_text().startswith("# carbonguard compliance report")
    assert main(["audit", "report", "--ledger", ledger, "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["report"] == "carbonguard compliance report"
