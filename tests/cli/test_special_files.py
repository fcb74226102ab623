"""Special files as inputs: a FIFO must not hang, /dev/zero must not be read without end.

Each case runs the real CLI in a subprocess: a hang would trip the subprocess timeout (and the
pytest timeout guards the test itself), a crash would exit 70.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from carbonguard.errors import InputError
from carbonguard.safe_read import read_bytes

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")


def _cli(*args: str, cwd: Path = REPO, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carbonguard", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=30, **kw)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "input.fifo"
    os.mkfifo(path)
    return path


def _one_line_exit_2(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(60)
def test_fifo_as_policy_is_refused_at_once(fifo: Path) -> None:
    _one_line_exit_2(_cli("policy", "validate", str(fifo)), "FIFO")


@pytest.mark.timeout(60)
def test_fifo_as_checkpoint_is_refused_at_once(fifo: Path) -> None:
    _one_line_exit_2(_cli("audit", "verify", "--checkpoint", str(fifo)), "FIFO")


@pytest.mark.timeout(60)
def test_fifo_as_pubkey_is_refused_at_once(fifo: Path) -> None:
    _one_line_exit_2(_cli("audit", "verify", "--pubkey", str(fifo)), "FIFO")


@pytest.mark.timeout(60)
def test_fifo_as_signing_key_is_refused_at_once(fifo: Path, tmp_path: Path) -> None:
    env = {**os.environ, "CARBONGUARD_SIGNING_KEY": str(fifo)}
    _one_line_exit_2(_cli("keys", "rotate", "--ledger", str(tmp_path / "l.db"), env=env), "FIFO")


@pytest.mark.timeout(60)
@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
@pytest.mark.parametrize("args", [("policy", "validate", "/dev/zero"),
                                  ("audit", "verify", "--checkpoint", "/dev/zero"),
                                  ("audit", "verify", "--pubkey", "/dev/zero")])
def test_dev_zero_is_refused_not_read(args: tuple[str, ...]) -> None:
    _one_line_exit_2(_cli(*args), "character device")


def test_policy_from_stdin_with_dash() -> None:
    policy = (REPO / "policies").glob("*.yaml")
    first = next(iter(sorted(policy)), None)
    if first is None:
        pytest.skip("no example policy")
    result = _cli("policy", "validate", "-", input=first.read_text(encoding="utf-8"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("-: ok")


@pytest.mark.timeout(60)
def test_intensity_cache_entry_that_is_a_fifo_is_a_miss(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from carbonguard.intensity.cache import FileCache

    cache = FileCache(tmp_path, ttl_s=3600, clock=lambda: datetime(2023, 5, 6, tzinfo=timezone.utc))
    os.mkfifo(tmp_path / f"{cache.key('x')}.json")
    assert cache.get(cache.key("x")) is None


def test_size_limit_applies_while_reading(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    assert read_bytes(big, max_bytes=101) == b"x" * 101
    with pytest.raises(InputError, match="larger than 100 bytes"):
        read_bytes(big, max_bytes=100)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        read_bytes(tmp_path, max_bytes=100)
