"""The `spec.intensity` section of a policy: which providers to ask, in what order, and how.

Kept beside the providers (not in `policy/`) because the providers are its only readers; the policy
model embeds it so one YAML file configures a run end to end.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator

ProviderName = Literal["embedded", "electricitymaps", "watttime", "uk-carbon-intensity"]


class _Section(BaseModel):
    # Validators build on first use, not at import: importing the policy models or the intensity
    # package must not pay for a schema the command never validates against.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)


class ProviderEndpoint(_Section):
    """Where a live provider lives and which environment variables hold its credentials."""

    base_url: str | None = Field(default=None, description="Override the provider's public base URL.")
    token_env: str | None = Field(default=None, description="Environment variable holding the API token.")
    username_env: str | None = None
    password_env: str | None = None
    zones: dict[str, str] = Field(
        default_factory=dict,
        description="carbonguard zone -> the provider's own zone or region code (e.g. US-CAMX: CAISO_NORTH).",
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        """Credentials are sent to this address: only an http(s) URL with a host is meaningful."""
        if value is None:
            return value
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError:
            host, parts = None, None
        if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
            raise ValueError(f"must be an http:// or https:// URL with a host, got {value!r}")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials; name their environment variables in token_env, "
                             "username_env, password_env")
        return value


class IntensitySettings(_Section):
    """Provider fallback chain and the rules for figures that cannot be had."""

    providers: tuple[ProviderName, ...] = Field(
        default=("embedded",), min_length=1, description="Tried in order; the first that answers wins."
    )
    signal: Literal["average", "marginal"] = "average"
    unknown_zone: Literal["block", "warn"] = Field(
        default="block",
        description="A zone with no figure: block the run, or warn and use the world average.",
    )
    stale_data: Literal["allow", "warn", "block"] = Field(
        default="allow",
        description="An annual figure whose data year is more than two years before the run's year "
        "(flagged 'stale-data:YEAR' on the footprint either way).",
    )
    timeout_s: StrictFloat = Field(default=10.0, gt=0, le=120)
    max_retries: StrictInt = Field(default=3, ge=0, le=10)
    cache_ttl_s: StrictInt = Field(default=3600, ge=0)
    electricitymaps: ProviderEndpoint | None = None
    watttime: ProviderEndpoint | None = None
    uk_carbon_intensity: ProviderEndpoint | None = None
