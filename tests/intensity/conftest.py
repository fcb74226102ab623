"""Fixtures: fake provider servers on 127.0.0.1, a recording sleep, and a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import pytest

from carbonguard.intensity.providers._http import JsonHttp
from tests.intensity.fakes import ElectricityMapsFake, UkCarbonIntensityFake, WattTimeFake

NOW = datetime(2023, 5, 6, 12, 0, tzinfo=timezone.utc)


class Sleeps(list):
    """Stands in for time.sleep: records each requested delay instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def em_server() -> Iterator[ElectricityMapsFake]:
    server = ElectricityMapsFake(NOW)
    yield server
    server.close()


@pytest.fixture
def wt_server() -> Iterator[WattTimeFake]:
    server = WattTimeFake(NOW)
    yield server
    server.close()


@pytest.fixture
def uk_server() -> Iterator[UkCarbonIntensityFake]:
    server = UkCarbonIntensityFake()
    yield server
    server.close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


@pytest.fixture
def make_http(sleeps: Sleeps, client: httpx.Client):
    def make(provider: str, *, timeout_s: float = 2.0, max_retries: int = 3) -> JsonHttp:
        return JsonHttp(
            provider,
            timeout_s=timeout_s,
            max_retries=max_retries,
            client=client,
            sleep=sleeps,
            rng=lambda: 0.5,
            clock=lambda: NOW,
        )

    return make
