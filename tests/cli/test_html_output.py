"""`-o html=PATH` on the commands that print a run or a period: one self-contained page each."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonguard.cli.main import main
from tests.cli.test_gate_cli import _policy, run_in_ledger  # noqa: F401  (fixture)

pytest.importorskip("matplotlib", reason="the html format needs matplotlib: pip install 'carbonguard[report]'")


def test_gate_writes_the_run_report(run_in_ledger: str, tmp_path: Path, capsys) -> None:  # noqa: F811
    page = tmp_path / "run.html"
    code = main(["gate", "--policy", _policy(tmp_path, 0.5), "--run", run_in_ledger, "-o", f"html={page}",
                 "-o", "text"])
    assert code == 1  # blocked: 12 kWh x 1.5 in FR is over 0.5 kg
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "Blocked" in html and "<svg" in html
    assert "ledger head" in html and "verified" in html  # the gate verified the chain it recorded in
    assert "carbonguard gate" in capsys.readouterr().out  # the text target still printed


def test_audit_report_writes_the_period_report(run_in_ledger: str, tmp_path: Path) -> None:  # noqa: F811
    assert main(["gate", "--policy", _policy(tmp_path, 50), "--run", run_in_ledger, "-o", "json"]) == 0
    page = tmp_path / "period.html"
    assert main(["audit", "report", "--since", "2026-03-01", "-o", f"html={page}"]) == 0
    html = page.read_text(encoding="utf-8")
    assert "compliance report" in html and "Ledger verified" in html and "run-7" in html
    assert 'id="cg-period-runs"' in html and 'id="cg-top-stages"' in html
