"""An auditor with read access only can verify, export, report, list keys and gate without recording.

Tests run as root here, which no file mode stops, so the real check runs the CLI as an
unprivileged user (uid 65534, via `setpriv`) against a directory it may read but not write; it is
skipped, with the reason, where that is impossible. Beside it, in-process checks show the read
path opens SQLite read-only and writes no key, and that a recording gate refuses an unenrolled
writer before writing any key file.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from carbonguard.cli.main import main
from carbonguard.ledger import open_ledger
from carbonguard.ledger.sqlite_store import SQLiteStore

from .conftest import stage_record

ROOT = Path(__file__).resolve().parents[2]
POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {name: ro, version: "1"}
spec:
  location: {zone: DE}
  pue: 1.2
  budgets:
    - {id: run-co2e, metric: co2e_kg, limit: 1000, action: block}
  measurement: {estimated: allow, unavailable: block}
"""


def _snapshot(directory: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(directory.iterdir())}


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A ledger (with its key and a policy) in a directory outside root's private temp dir."""
    directory = Path(tempfile.mkdtemp(prefix="cg-ro-", dir="/tmp"))
    with open_ledger(directory / "ledger.db") as led:  # generates signing-key.pem beside it
        led.append("stage", stage_record(run_id="run-1").model_dump(mode="json"))
    (directory / "policy.yaml").write_text(POLICY)
    for p in directory.iterdir():
        p.chmod(0o644)
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory)


READ_COMMANDS = [
    ["audit", "verify", "--ledger", "{d}/ledger.db", "--pubkey", "{d}/signing-key.pub"],
    ["audit", "export", "--ledger", "{d}/ledger.db"],
    ["audit", "report", "--ledger", "{d}/ledger.db", "--run", "run-1"],
    ["keys", "list", "--ledger", "{d}/ledger.db"],
    ["gate", "--ledger", "{d}/ledger.db", "--policy", "{d}/policy.yaml", "--run", "run-1", "--no-record"],
]


def _as_nobody_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to switch to an unprivileged user"
    if shutil.which("setpriv") is None:
        return "setpriv is not installed"
    return None


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_read_commands_work_for_a_user_who_may_not_write(command: list[str], shared_dir: Path) -> None:
    reason = _as_nobody_reason()
    if reason:
        pytest.skip(reason)
    site = sysconfig.get_paths()["purelib"]
    before = _snapshot(shared_dir)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.pathsep.join([str(ROOT), site]), "HOME": "/nonexistent",
           "PREFECT_HOME": "/nonexistent"}
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                            "import carbonguard.ledger"], env=env, capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"the unprivileged user cannot import carbonguard here: {probe.stderr.strip()[-200:]}")
    args = [a.format(d=shared_dir) for a in command]
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
                           "carbonguard", *args], env=env, cwd=shared_dir, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert _snapshot(shared_dir) == before  # no -wal, -shm or key file, and nothing changed


def test_the_read_path_opens_sqlite_read_only_and_writes_no_key(shared_dir: Path, monkeypatch) -> None:
    monkeypatch.chdir(shared_dir)
    (shared_dir / "signing-key.pem").rename(shared_dir / "elsewhere.pem")  # the auditor has no key
    before = _snapshot(shared_dir)
    for command in READ_COMMANDS:
        assert main([a.format(d=shared_dir) for a in command]) == 0, command
    after = _snapshot(shared_dir)
    assert after["ledger.db"] == before["ledger.db"]
    assert not (shared_dir / "signing-key.pem").exists()
    # SQLite's own -wal/-shm lock files are all a writable directory may gain
    assert set(after) - set(before) <= {"ledger.db-wal", "ledger.db-shm"}
    store = SQLiteStore(shared_dir / "ledger.db", create=False)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store._db.execute("INSERT INTO claims VALUES ('r', 1, 1, 'x', 1)")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # as written, never switched
    store.close()


def test_a_recording_gate_refuses_an_unenrolled_writer_before_writing_a_key(shared_dir: Path,
                                                                             capsys: pytest.CaptureFixture) -> None:
    (shared_dir / "signing-key.pem").rename(shared_dir / "elsewhere.pem")
    before = _snapshot(shared_dir)
    code = main(["gate", "--ledger", str(shared_dir / "ledger.db"), "--policy", str(shared_dir / "policy.yaml"),
                 "--run", "run-1"])
    assert code == 2
    assert "would not be enrolled" in capsys.readouterr().err
    assert not (shared_dir / "signing-key.pem").exists()
    assert _snapshot(shared_dir)["ledger.db"][1] == before["ledger.db"][1]  # no record written either


@pytest.mark.postgres
def test_a_select_only_postgres_role_can_verify_export_and_list_keys(pg_url: str, key_file: Path,
                                                                     tmp_path: Path) -> None:
    """The auditor role of docs/ledger.md (USAGE on the schema, SELECT on the tables, nothing else)."""
    import uuid

    import psycopg

    from .conftest import PG_DSN

    with open_ledger(pg_url, signing_key=key_file) as led:
        led.append("stage", stage_record(run_id="run-1").model_dump(mode="json"))
    schema = pg_url.split("schema=")[1]
    role = "cg_auditor_" + uuid.uuid4().hex[:8]
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        conn.execute(f"GRANT SELECT ON {schema}.records, {schema}.claims TO {role}")
    try:
        url = pg_url.replace("postgres@", f"{role}@")
        pub = str(key_file.with_suffix(".pub"))
        assert main(["audit", "verify", "--ledger", url, "--pubkey", pub]) == 0
        assert main(["audit", "verify", "--ledger", url, "--workers", "2"]) == 0
        assert main(["audit", "export", "--ledger", url, "--out", str(tmp_path / "e.jsonl")]) == 0
        assert main(["keys", "list", "--ledger", url]) == 0
        with open_ledger(url, create=False) as led, pytest.raises(psycopg.Error, match="permission denied"):
            led.store._db.execute(f"INSERT INTO {schema}.claims VALUES ('r', '[1,2]', 'x', 1)")
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
