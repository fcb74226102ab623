"""`carbon_gate(report_dir=...)`: the HTML report beside the ledger, a stage table and a link artifact,
on a real Prefect API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prefect import flow, task
from workloads import burn_cpu as _burn  # tests/prefect is on sys.path under pytest
from workloads import generous_policy

from carbonguard.errors import InputError
from carbonguard.ledger import open_ledger
from carbonguard.prefect import carbon_gate, metered

pytest.importorskip("matplotlib", reason="the html format needs matplotlib: pip install 'carbonguard[report]'")

POLICY = generous_policy("report-test")


@task
@metered(stage="train")
def train_stage() -> int:
    return _burn(0.1)


@flow
def reported(policy: str, report_dir: str, report_url: str | None = None) -> str:
    from prefect.runtime import flow_run

    train_stage()
    carbon_gate(policy, report_dir=report_dir, report_url=report_url)
    return flow_run.id


def test_report_written_beside_the_ledger_with_artifacts(tmp_path: Path, _isolated_ledger: Path) -> None:
    from prefect.artifacts import Artifact

    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    run_id = reported(str(policy), str(_isolated_ledger.parent))
    page = _isolated_ledger.parent / f"carbonguard-run-{run_id}.html"
    html = page.read_text(encoding="utf-8")
    assert "Allowed" in html and "train" in html and 'id="cg-stages"' in html and "verified" in html
    table = Artifact.get("carbonguard-stages")
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert rows[0]["stage"] == "train" and rows[0]["energy_kwh"] > 0 and "co2e_kg" in rows[0]
    link = Artifact.get("carbonguard-report")
    assert page.resolve().as_uri() in str(link.data)
    with open_ledger() as ledger:
        assert ledger.verify().ok


def test_report_url_names_the_served_file(tmp_path: Path) -> None:
    from prefect.artifacts import Artifact

    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    run_id = reported(str(policy), str(tmp_path / "reports"), "https://reports.example.org/carbon/")
    assert (tmp_path / "reports" / f"carbonguard-run-{run_id}.html").exists()
    link = Artifact.get("carbonguard-report")
    assert f"https://reports.example.org/carbon/carbonguard-run-{run_id}.html" in str(link.data)


def test_a_report_dir_that_is_a_file_is_refused_before_recording(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    not_a_dir = tmp_path / "file.txt"
    not_a_dir.write_text("x")
    with pytest.raises(InputError, match="report_dir"):
        reported(str(policy), str(not_a_dir))
    with open_ledger() as ledger:
        assert ledger.records(record_type="decision") == []


def test_report_file_name_stays_in_the_directory() -> None:
    from carbonguard.prefect.report import report_file_name

    name = report_file_name("../../etc/<run> 1")
    assert "/" not in name and "<" not in name and " " not in name and name.endswith(".html")
