"""`build_source`: turn the policy's `spec.intensity` section into one ready `IntensitySource`.

Live providers get the shared HTTP client (timeouts, retries), an on-disk cache when
`cache_ttl_s > 0`, base URLs from `CARBONGUARD_<PROVIDER>_URL`, then the policy, then the public
default, and credentials from the environment variables the settings name. Credentials are read
here and handed to the provider object only; they are never logged, cached or written, and each
value read joins one `Secrets` that redacts every error of every live source (some providers echo
the key they were sent in their error body).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from carbonguard.intensity.providers.embedded import EmbeddedSource
from carbonguard.intensity.redact import RedactingSource, Secrets
from carbonguard.intensity.settings import IntensitySettings, ProviderEndpoint
from carbonguard.intensity.source import IntensitySource

if TYPE_CHECKING:  # httpx and the live providers load only when a live provider is configured
    import httpx

    from carbonguard.intensity.providers import electricitymaps, uk_carbon_intensity, watttime
    from carbonguard.intensity.providers._http import JsonHttp

DEFAULT_ENV = {
    "electricitymaps": {"token": "ELECTRICITYMAPS_TOKEN"},
    "watttime": {"username": "WATTTIME_USERNAME", "password": "WATTTIME_PASSWORD"},
}
URL_ENV = {
    "electricitymaps": "CARBONGUARD_ELECTRICITYMAPS_URL",
    "watttime": "CARBONGUARD_WATTTIME_URL",
    "uk-carbon-intensity": "CARBONGUARD_UK_CARBON_INTENSITY_URL",
}


def default_url(name: str) -> str:
    """The provider's public API base URL."""
    from carbonguard.intensity.providers import electricitymaps, uk_carbon_intensity, watttime

    module = {"electricitymaps": electricitymaps, "watttime": watttime, "uk-carbon-intensity": uk_carbon_intensity}
    return module[name].DEFAULT_BASE_URL


def _endpoint(settings: IntensitySettings, name: str) -> ProviderEndpoint:
    attr = name.replace("-", "_")
    return getattr(settings, attr, None) or ProviderEndpoint()


def base_url(settings: IntensitySettings, name: str) -> str:
    """Environment override first (for proxies and tests), then the policy, then the public URL."""
    return os.environ.get(URL_ENV[name]) or _endpoint(settings, name).base_url or default_url(name)


CredentialLookup = Callable[[str], "str | None"]
"""Maps a credential's variable name (e.g. ELECTRICITYMAPS_TOKEN) to its value, or None."""


def environment_credentials(name: str) -> str | None:
    """The default lookup: the process environment. Empty values count as missing."""
    return os.environ.get(name) or None


def build_live(
    name: str, settings: IntensitySettings, http: JsonHttp, credentials: CredentialLookup = environment_credentials
) -> (
    electricitymaps.ElectricityMapsSource
    | watttime.WattTimeSource
    | uk_carbon_intensity.UkCarbonIntensitySource
):
    from carbonguard.intensity.providers import electricitymaps, uk_carbon_intensity, watttime

    ep = _endpoint(settings, name)
    url = base_url(settings, name)
    if name == "electricitymaps":
        token = credentials(ep.token_env or DEFAULT_ENV[name]["token"])
        return electricitymaps.ElectricityMapsSource(token=token, http=http, base_url=url, zone_map=ep.zones)
    if name == "watttime":
        return watttime.WattTimeSource(
            username=credentials(ep.username_env or DEFAULT_ENV[name]["username"]),
            password=credentials(ep.password_env or DEFAULT_ENV[name]["password"]),
            http=http,
            base_url=url,
            signal=settings.signal,
            zone_map=ep.zones,
        )
    return uk_carbon_intensity.UkCarbonIntensitySource(http=http, base_url=url)


def build_source(
    settings: IntensitySettings | None,
    *,
    cache_dir: Path | str | None = None,
    http_client: httpx.Client | None = None,
    credentials: CredentialLookup | None = None,
    on_retry: Callable[[str, int, int, float], None] | None = None,
) -> IntensitySource:
    """One source for the configured chain; the embedded-only default needs no network at all.

    `credentials` resolves the variable names the settings give (default: the environment); the
    Prefect plugin passes one that also reads Prefect Secret blocks. `on_retry(provider, attempts
    made, attempts allowed, wait_s)` is called before each backoff wait (the CLI draws a bar).
    """
    settings = settings or IntensitySettings()
    secrets = Secrets()
    lookup = credentials or environment_credentials

    def remembered(variable: str) -> str | None:
        value = lookup(variable)
        secrets.add(value)
        return value

    sources: list[IntensitySource] = []
    cache = None
    if settings.cache_ttl_s > 0 and any(p != "embedded" for p in settings.providers):
        # The cache and the fallback chain load only when asked for: the embedded-only default is
        # what `carbonguard intensity DE` runs, and it must start fast.
        from carbonguard.intensity.cache import CachedSource, FileCache, default_cache_dir

        cache = FileCache(cache_dir if cache_dir is not None else default_cache_dir(), settings.cache_ttl_s)
    for name in settings.providers:
        if name == "embedded":
            sources.append(EmbeddedSource(unknown_zone=settings.unknown_zone, signal=settings.signal))
            continue
        from carbonguard.intensity.providers._http import JsonHttp

        http = JsonHttp(
            name, timeout_s=settings.timeout_s, max_retries=settings.max_retries, client=http_client,
            secrets=secrets, on_retry=on_retry,
        )
        live: IntensitySource = build_live(name, settings, http, remembered)
        if cache is not None:
            live = CachedSource(live, cache, identity=f"{base_url(settings, name)}|{settings.signal}")
        sources.append(RedactingSource(live, secrets))
    if len(sources) == 1:
        return sources[0]
    from carbonguard.intensity.chain import FallbackChain

    return FallbackChain(sources, secrets=secrets)
