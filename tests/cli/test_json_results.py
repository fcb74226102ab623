"""`audit verify`, `keys list` and `policy validate` print through `-o`/`--json` like every command:
JSON for scripts, the text they always printed for people, and the same exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carbonguard.cli.main import main
from carbonguard.ledger import EXIT_EDITED, Signer, open_ledger
from carbonguard.ledger.keys import write_key_pair
from tests.ledger.conftest import stage_record
from tests.ledger.tamper import raw

POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {name: json-test, version: "3"}
spec:
  location: {zone: FR}
  pue: 1.2
  budgets: [{id: run-co2e, metric: co2e_kg, limit: 100.0}]
"""


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("CARBONGUARD_LEDGER", raising=False)
    key, _ = write_key_pair(Signer.generate(), tmp_path / "keys")
    monkeypatch.setenv("CARBONGUARD_SIGNING_KEY", str(key))
    url = str(tmp_path / "ledger.db")
    with open_ledger(url, signing_key=key) as led:
        for i in range(3):
            led.append("stage", stage_record(run_id=f"run-{i}").model_dump(mode="json"))
    return url


def test_verify_json_intact_and_text_unchanged(ledger: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["audit", "verify", "--ledger", ledger, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "carbonguard.verify-result/v1"
    assert (doc["ok"], doc["exit_code"], doc["failure"]) == (True, 0, None) and doc["ledger"].endswith(ledger)
    assert doc["records"] == doc["head_seq"] > 3 and len(doc["head_hash"]) == 64
    assert main(["audit", "verify", "--ledger", ledger]) == 0
    out = capsys.readouterr().out
    assert out == f"{doc['ledger']}: {doc['message']}; head {doc['head_hash']}\n"


def test_verify_json_on_tamper_keeps_exit_code_and_names_the_record(ledger: str, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    with raw(ledger) as run:
        env = bytes(run("SELECT envelope FROM records WHERE seq = 2")[0][0])
        run("UPDATE records SET envelope = ? WHERE seq = 2", (env.replace(b'"1.25"', b'"0.25"'),))
    out = tmp_path / "verify.json"
    assert main(["audit", "verify", "--ledger", ledger, "-o", "text", "-o", f"json={out}"]) == EXIT_EDITED
    captured = capsys.readouterr()
    doc = json.loads(out.read_text())
    assert (doc["ok"], doc["exit_code"], doc["failure"], doc["seq"]) == (False, EXIT_EDITED, "edited", 2)
    assert captured.out == ""  # the text line of a failure goes to stderr, as before
    assert captured.err == f"{doc['ledger']}: edited: {doc['message']}\n"
    assert main(["audit", "verify", "--ledger", ledger, "--json"]) == EXIT_EDITED
    assert json.loads(capsys.readouterr().out)["failure"] == "edited"  # JSON stays on stdout


def test_keys_list_json_and_text(ledger: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["keys", "list", "--ledger", ledger, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "carbonguard.key-list/v1"
    [key] = doc["keys"]
    assert (key["state"], key["first_key"]) == ("active", True)
    assert main(["keys", "list", "--ledger", ledger]) == 0
    assert capsys.readouterr().out == f"{key['key_id']}  active (first key)  {key['public_key']}\n"


def test_policy_validate_json_lists_every_file_with_located_problems(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(POLICY)
    bad.write_text(POLICY.replace("limit: 100.0", "limit: lots"))
    assert main(["policy", "validate", str(good), str(bad), "--json"]) == 2
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert captured.err == ""
    assert doc["schema"] == "carbonguard.policy-validation/v1" and doc["ok"] is False
    ok, failed = doc["files"]
    assert (ok["ok"], ok["name"], ok["version"], len(ok["sha256"])) == (True, "json-test", "3", 64)
    [problem] = failed["problems"]
    assert (problem["source"], problem["line"]) == (str(bad), 7) and "limit" in problem["field"]
    # Text keeps its streams: the ok line on stdout, the located problem on stderr; -q drops the ok line.
    assert main(["policy", "validate", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{good}: ok (json-test v3, sha256 ") and captured.err.startswith(f"{bad}:7:")
    assert main(["policy", "validate", "-q", str(good)]) == 0
    assert capsys.readouterr().out == ""
    out = tmp_path / "v.txt"
    assert main(["policy", "validate", str(good), str(bad), "-o", f"text={out}"]) == 2
    assert out.read_text().splitlines()[0].startswith(f"{good}: ok") and f"{bad}:7:" in out.read_text()


def test_a_mistyped_format_is_refused_before_any_work(ledger: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["audit", "verify", "--ledger", ledger, "-o", "markdown"]) == 2
    assert "unknown format 'markdown'" in capsys.readouterr().err
