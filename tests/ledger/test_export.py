"""Exports, and the standalone auditor's verifier agreeing with `carbonguard audit verify`."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from carbonguard.cli.main import main
from carbonguard.ledger import Signer, open_ledger
from carbonguard.ledger.keys import write_key_pair
from carbonguard.ledger.record import hash_bytes

from .conftest import stage_record
from .tamper import raw, rewrite_from, rows

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "verify_ledger.py"


def _fill(url: str) -> None:
    with open_ledger(url, checkpoint_every=4) as led:
        for i in range(9):
            record = stage_record(run_id=f"run-{i % 2}", energy_kwh=0.5 + i)
            led.append("stage", record.model_dump(mode="json"))


def _edit(url: str, tmp: Path) -> list[str]:
    env = bytes(rows(url)[3][4])  # seq 4: the second stage (each append is a stage and its checkpoint)
    assert b'"1.5"' in env
    with raw(url) as run:
        run("UPDATE records SET envelope = ? WHERE seq = 4", (env.replace(b'"1.5"', b'"0.5"'),))
    return []


def _delete(url: str, tmp: Path) -> list[str]:
    with raw(url) as run:
        run("DELETE FROM records WHERE seq = 4")
    return []


def _swap(url: str, tmp: Path) -> list[str]:
    with raw(url) as run:
        run("UPDATE records SET seq = -1 WHERE seq = 7")
        run("UPDATE records SET seq = 7 WHERE seq = 8")
        run("UPDATE records SET seq = 8 WHERE seq = -1")
    return []


def _truncate(url: str, tmp: Path) -> list[str]:
    cp = tmp / "cp.json"
    assert main(["audit", "checkpoint", "--ledger", url, "--out", str(cp)]) == 0
    with raw(url) as run:
        run("DELETE FROM records WHERE seq > 6")
    return ["--checkpoint", str(cp)]


def _forge(url: str, tmp: Path) -> list[str]:
    rewrite_from(url, 2, lambda p: p.update(host="elsewhere"), Signer.generate())
    return []


def _wrong_pin(url: str, tmp: Path) -> list[str]:
    _, pub = write_key_pair(Signer.generate(), tmp / "other")
    return ["--pubkey", str(pub)]


def _right_pin(url: str, tmp: Path) -> list[str]:
    return ["--pubkey", str(tmp / "keys" / "signing-key.pub")]


CASES: dict[str, tuple[Callable[[str, Path], list[str]], int]] = {
    "intact": (lambda url, tmp: [], 0), "pinned": (_right_pin, 0), "edited": (_edit, 10),
    "deleted": (_delete, 11), "reordered": (_swap, 12), "forged": (_forge, 13), "truncated": (_truncate, 14),
    "wrong-pin": (_wrong_pin, 15),
}


@pytest.mark.parametrize("case", list(CASES))
def test_standalone_verifier_agrees(case: str, tmp_path: Path, key_file: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONGUARD_SIGNING_KEY", str(key_file))
    url = str(tmp_path / "ledger.db")
    _fill(url)
    tamper, expected = CASES[case]
    extra = tamper(url, tmp_path)
    assert main(["audit", "verify", "--ledger", url, *extra]) == expected
    export = tmp_path / "export.jsonl"
    assert main(["audit", "export", "--ledger", url, "--out", str(export)]) == 0
    done = subprocess.run([sys.executable, str(TOOL), str(export), *extra], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == expected, done.stderr


def test_standalone_verifier_on_postgres_export(pg_url: str, key_file: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONGUARD_SIGNING_KEY", str(key_file))
    _fill(pg_url)
    export = tmp_path / "export.jsonl"
    assert main(["audit", "export", "--ledger", pg_url, "--out", str(export)]) == 0
    pin = str(key_file.with_suffix(".pub"))
    done = subprocess.run([sys.executable, str(TOOL), str(export), "--pubkey", pin],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "intact: 19 records" in done.stdout, done.stderr


def test_standalone_verifier_input_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    for text in ("{not json\n", '{"x":' + "[" * 200_000 + "]" * 200_000 + "}\n"):  # the second: too deep
        bad.write_text(text)
        done = subprocess.run([sys.executable, str(TOOL), str(bad)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "cannot read input" in done.stderr, done.stderr[-300:]


def test_exports_hold_no_floats_and_csv_matches(tmp_path: Path, key_file: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("CARBONGUARD_SIGNING_KEY", str(key_file))
    url = str(tmp_path / "ledger.db")
    _fill(url)
    assert main(["audit", "export", "--ledger", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 19

    def no_floats(value: object) -> None:
        assert not isinstance(value, float)
        for child in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
            no_floats(child)

    for line in lines:
        no_floats(json.loads(line))
    out = tmp_path / "export.csv"
    assert main(["audit", "export", "--ledger", url, "--format", "csv", "--out", str(out)]) == 0
    with out.open(newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [int(r["seq"]) for r in table] == list(range(1, 20))
    assert [r["record_hash"] for r in table] == [json.loads(line)["record_hash"] for line in lines]
    assert json.loads(table[1]["payload_json"])["components"][0]["energy_kwh"] == "0.5"


def test_a_checkpoint_written_out_names_its_head_without_driving_the_terminal(
        tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """`audit checkpoint --latest` exports the last checkpoint as the store holds it, unverified:
    a head hash rewritten to hold an escape sequence and a workflow command is printed with its
    control characters as spaces, on one line."""
    monkeypatch.setenv("CARBONGUARD_SIGNING_KEY", str(key_file))
    url = str(tmp_path / "ledger.db")
    _fill(url)
    seq, _, _, _, env = rows(url)[-1]
    doc = json.loads(bytes(env))
    doc["payload"]["head_hash"] = "\x1b[2J\n::error::owned"
    data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    with raw(url) as run:
        run("UPDATE records SET envelope = ?, record_hash = ? WHERE seq = ?", (data, hash_bytes(data), seq))
    capsys.readouterr()
    assert main(["audit", "checkpoint", "--ledger", url, "--latest", "--out", str(tmp_path / "cp.json")]) == 0
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\n::error::" not in err and err.count("\n") == 1, err
    assert "(head  [2J ::error::owned)" in err  # each control character a space
