"""A provider that echoes the credential it was sent must not get it printed, in any output.

The servers below are real HTTP servers on 127.0.0.1 that reflect the key from the request into
their error bodies, as some APIs do ("invalid token abc123"). The secrets are long random strings
so a match cannot be a coincidence.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from carbonguard.intensity import build_source
from carbonguard.intensity.errors import ProviderError
from carbonguard.intensity.redact import REDACTED, Secrets
from carbonguard.intensity.settings import IntensitySettings
from tests.intensity.conftest import NOW
from tests.intensity.fakes import ElectricityMapsFake, Seen, WattTimeFake

REPO = Path(__file__).resolve().parents[2]
TOKEN = "em-Zq8VtX3kLp0sRw7y"
USER, PASSWORD = "wt-user-Hn4cQe", "wt-pass-Jm2bFd9s"


class EchoingElectricityMaps(ElectricityMapsFake):
    """Answers every request with HTTP 400 quoting the `auth-token` header it received."""

    mode = "error"

    def answer(self, seen: Seen) -> tuple[int, Any, dict[str, str]]:
        token = seen.headers.get("auth-token", "")
        if self.mode == "field":  # a 200 whose field holds the token: our field error quotes the value
            return self.json({"zone": "DE", "data": [{"carbonIntensity": token, "datetime": "2023-05-06T06:00Z"}]})
        if self.mode == "redirect":
            return 302, "", {"Location": f"https://elsewhere.example/?token={token}"}
        return self.json({"error": f"token {token} is not valid for zone {seen.query.get('zone')}"}, 400)


class EchoingWattTime(WattTimeFake):
    """`/login` fails with a body quoting the Authorization header and the decoded user:password."""

    def answer(self, seen: Seen) -> tuple[int, Any, dict[str, str]]:
        auth = seen.headers.get("authorization", "")
        decoded = base64.b64decode(auth.split(" ", 1)[1]).decode() if " " in auth else ""
        return self.json({"error": f"login refused for header {auth!r} ({decoded})"}, 400)


@pytest.fixture
def echo_em() -> Iterator[EchoingElectricityMaps]:
    server = EchoingElectricityMaps(NOW)
    yield server
    server.close()


@pytest.fixture
def echo_wt() -> Iterator[EchoingWattTime]:
    server = EchoingWattTime(NOW)
    yield server
    server.close()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARBONGUARD_", "ELECTRICITYMAPS", "WATTTIME"))}
    return {**env, "PYTHONPATH": str(REPO), **extra}


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carbonguard", "intensity", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


WINDOW = ("--start", "2023-05-06T06:00Z", "--end", "2023-05-06T08:00Z", "--no-cache")


def test_echoed_token_never_reaches_json_provider_errors(echo_em: EchoingElectricityMaps, tmp_path: Path) -> None:
    env = _env(CARBONGUARD_ELECTRICITYMAPS_URL=f"{echo_em.url}/v3", ELECTRICITYMAPS_TOKEN=TOKEN)
    result = _cli("DE", *WINDOW, "--provider", "electricitymaps", "--provider", "embedded", "--json",
                  env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert echo_em.requests and echo_em.requests[0].headers["auth-token"] == TOKEN  # it was sent and echoed
    errors = json.loads(result.stdout)["provider_errors"]
    assert errors and "HTTP 400" in errors[0] and REDACTED in errors[0]
    assert TOKEN not in result.stdout + result.stderr


def test_echoed_token_never_reaches_stderr(echo_em: EchoingElectricityMaps, tmp_path: Path) -> None:
    env = _env(CARBONGUARD_ELECTRICITYMAPS_URL=f"{echo_em.url}/v3", ELECTRICITYMAPS_TOKEN=TOKEN)
    result = _cli("DE", *WINDOW, "--provider", "electricitymaps", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "HTTP 400" in result.stderr and REDACTED in result.stderr
    assert TOKEN not in result.stdout + result.stderr


def test_echoed_basic_auth_never_reaches_stderr(echo_wt: EchoingWattTime, tmp_path: Path) -> None:
    env = _env(CARBONGUARD_WATTTIME_URL=echo_wt.url, WATTTIME_USERNAME=USER, WATTTIME_PASSWORD=PASSWORD)
    result = _cli("US-CAMX", *WINDOW, "--provider", "watttime", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "login refused" in result.stderr
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    for secret in (USER, PASSWORD, basic):
        assert secret not in result.stderr + result.stdout


@pytest.mark.parametrize("mode", ["field", "redirect"])
def test_token_quoted_in_a_field_or_redirect_is_redacted(echo_em: EchoingElectricityMaps, mode: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Errors built outside the HTTP client (a bad field's value) go through the same redaction."""
    echo_em.mode = mode
    monkeypatch.setenv("CARBONGUARD_ELECTRICITYMAPS_URL", f"{echo_em.url}/v3")
    settings = IntensitySettings(providers=("electricitymaps",), cache_ttl_s=0, max_retries=0)
    source = build_source(settings, credentials=lambda name: TOKEN if name == "ELECTRICITYMAPS_TOKEN" else None)
    with pytest.raises(ProviderError) as err:
        source.series("DE", NOW - timedelta(hours=6), NOW - timedelta(hours=5))
    text = str(err.value) + repr(err.value.problems) + err.value.url
    assert TOKEN not in text and REDACTED in text


def test_fallback_chain_keeps_only_redacted_errors(echo_em: EchoingElectricityMaps,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONGUARD_ELECTRICITYMAPS_URL", f"{echo_em.url}/v3")
    settings = IntensitySettings(providers=("electricitymaps", "embedded"), cache_ttl_s=0, max_retries=0)
    chain = build_source(settings, credentials=lambda name: TOKEN)
    points = chain.series("DE", NOW - timedelta(hours=6), NOW - timedelta(hours=5))
    assert points and points[0].fallback_from == "electricitymaps"
    assert chain.errors and all(TOKEN not in str(e) for e in chain.errors)


def test_secrets_cover_the_encodings_an_echo_may_use() -> None:
    secrets = Secrets(["a+b/c=d&e"])
    for form in ("a+b/c=d&e", "a%2Bb%2Fc%3Dd%26e"):
        assert secrets.redact(f"x {form} y") == f"x {REDACTED} y"
    assert Secrets(["abc"]).redact("abc") == "abc"  # too short to be a credential: left alone

