"""On-disk cache (origin `cache`, TTL) and build_source wiring (URLs, env credentials, chain order)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from carbonguard.errors import InputError
from carbonguard.intensity import build_source
from carbonguard.intensity.cache import CachedSource, FileCache
from carbonguard.intensity.chain import FallbackChain
from carbonguard.intensity.providers.embedded import EmbeddedSource
from carbonguard.intensity.providers.uk_carbon_intensity import UkCarbonIntensitySource
from carbonguard.intensity.settings import IntensitySettings, ProviderEndpoint
from carbonguard.models import Origin
from tests.intensity.helpers import at


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2023, 5, 6, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def test_second_call_is_served_from_cache_until_the_ttl(uk_server, make_http, tmp_path) -> None:
    clock = Clock()
    cache = FileCache(tmp_path, ttl_s=600, clock=clock)
    src = CachedSource(
        UkCarbonIntensitySource(http=make_http("uk"), base_url=uk_server.url), cache, identity=uk_server.url
    )
    first = src.series("GB", at(4, 12, 30), at(4, 13, 30))
    assert {p.origin for p in first} == {Origin.LIVE}
    second = src.series("GB", at(4, 12, 40), at(4, 13, 20))  # same hours: same cache entry
    assert {p.origin for p in second} == {Origin.CACHE}
    assert [p.intensity_g_per_kwh for p in second] == [p.intensity_g_per_kwh for p in first]
    assert len(uk_server.requests) == 1
    clock.now += timedelta(seconds=601)
    third = src.series("GB", at(4, 12, 30), at(4, 13, 30))
    assert {p.origin for p in third} == {Origin.LIVE} and len(uk_server.requests) == 2


def test_corrupt_cache_entry_is_a_miss(uk_server, make_http, tmp_path) -> None:
    cache = FileCache(tmp_path, ttl_s=600)
    src = CachedSource(
        UkCarbonIntensitySource(http=make_http("uk"), base_url=uk_server.url), cache, identity="x"
    )
    src.series("GB", at(4, 12, 30), at(4, 13, 30))
    for f in tmp_path.glob("*.json"):
        f.write_text("{not json")
    assert {p.origin for p in src.series("GB", at(4, 12, 30), at(4, 13, 30))} == {Origin.LIVE}


def test_default_is_embedded_only_and_offline() -> None:
    src = build_source(None)
    assert isinstance(src, EmbeddedSource)


def test_chain_from_settings_with_env_url_and_token(em_server, client, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CARBONGUARD_ELECTRICITYMAPS_URL", f"{em_server.url}/v3")
    monkeypatch.setenv("MY_EM_TOKEN", em_server.TOKEN)
    settings = IntensitySettings(
        providers=("electricitymaps", "embedded"),
        electricitymaps=ProviderEndpoint(token_env="MY_EM_TOKEN"),
        cache_ttl_s=600,
    )
    src = build_source(settings, cache_dir=tmp_path, http_client=client)
    assert isinstance(src, FallbackChain) and src.name == "electricitymaps>embedded"
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    points = src.series("DE", start, start + timedelta(hours=2))
    assert [p.provider for p in points] == ["electricitymaps", "electricitymaps"]
    assert em_server.requests[0].headers["auth-token"] == em_server.TOKEN
    cached_text = "".join(f.read_text() for f in tmp_path.glob("*.json"))
    assert cached_text and em_server.TOKEN not in cached_text  # credentials are never stored
    again = src.series("DE", start, start + timedelta(hours=2))
    assert {p.origin for p in again} == {Origin.CACHE}


def test_policy_base_url_is_used_when_no_env_override(uk_server, client, monkeypatch) -> None:
    monkeypatch.delenv("CARBONGUARD_UK_CARBON_INTENSITY_URL", raising=False)
    settings = IntensitySettings(
        providers=("uk-carbon-intensity",),
        uk_carbon_intensity=ProviderEndpoint(base_url=uk_server.url),
        cache_ttl_s=0,
    )
    points = build_source(settings, http_client=client).series("GB", at(4, 12, 30), at(4, 13))
    assert points[0].intensity_g_per_kwh == 11


def test_missing_token_falls_back_with_the_reason_recorded(em_server, client, monkeypatch) -> None:
    monkeypatch.setenv("CARBONGUARD_ELECTRICITYMAPS_URL", f"{em_server.url}/v3")
    monkeypatch.delenv("ELECTRICITYMAPS_TOKEN", raising=False)
    settings = IntensitySettings(providers=("electricitymaps", "embedded"), cache_ttl_s=0, max_retries=0)
    src = build_source(settings, http_client=client)
    start = datetime(2023, 5, 4, 12, tzinfo=timezone.utc)
    points = src.series("DE", start, start + timedelta(hours=1))
    assert points[0].provider == "embedded" and points[0].fallback_from == "electricitymaps"
    assert "HTTP 401" in str(src.errors[0])


def test_all_sources_failing_raises_every_reason(em_server, client, monkeypatch) -> None:
    monkeypatch.setenv("CARBONGUARD_ELECTRICITYMAPS_URL", f"{em_server.url}/v3")
    monkeypatch.delenv("ELECTRICITYMAPS_TOKEN", raising=False)
    settings = IntensitySettings(providers=("electricitymaps",), cache_ttl_s=0, max_retries=0)
    with pytest.raises(InputError, match="HTTP 401"):
        build_source(settings, http_client=client).series("DE", at(4, 12), at(4, 13))
