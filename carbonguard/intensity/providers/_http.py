"""A small JSON-over-HTTP client shared by the live providers: timeouts, retries, clear errors.

Retries use exponential backoff with jitter and honour `Retry-After` on 429 and 503 (seconds or an
HTTP date), up to a cap; `sleep`, the random source and the clock are injectable so tests run fast
and deterministic. Errors name the provider and the URL, never a credential: every value sent in a
header or as basic auth joins `secrets`, and every error raised here is redacted with them.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from carbonguard.intensity.errors import ProviderError
from carbonguard.intensity.redact import Secrets

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_STATUS = frozenset({429, 503})


def _parse_retry_after(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - now).total_seconds(), 0.0)


class JsonHttp:
    """GET JSON with bounded retries; every failure ends in one `ProviderError`."""

    def __init__(
        self,
        provider: str,
        *,
        timeout_s: float = 10.0,
        max_retries: int = 3,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 60.0,
        secrets: Secrets | None = None,
        on_retry: Callable[[str, int, int, float], None] | None = None,
    ) -> None:
        self.provider = provider
        # (provider, attempts made, attempts allowed, seconds until the next): a surface shows the wait
        self.on_retry = on_retry
        self.secrets = secrets if secrets is not None else Secrets()
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        # Redirects are never followed: httpx drops only `Authorization` on a cross-host redirect,
        # so a provider's custom key header (Electricity Maps' `auth-token`) would leak to the new host.
        self.client = client or httpx.Client(follow_redirects=False)
        self.sleep = sleep
        self.rng = rng
        self.clock = clock
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.attempts = 0  # total requests sent, for diagnostics and tests

    def backoff_s(self, attempt: int) -> float:
        """Exponential backoff with full jitter on top: base * 2**attempt + U(0, base * 2**attempt)."""
        base = self.backoff_base_s * (2**attempt)
        return min(base + self.rng() * base, self.backoff_max_s)

    def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
    ) -> Any:
        for value in (headers or {}).values():
            self.secrets.add_header(value)
        if isinstance(auth, tuple):
            self.secrets.add_basic(*auth)
        try:
            return self._get_json(url, params=params, headers=headers, auth=auth)
        except ProviderError as error:
            raise self.secrets.redact_error(error) from None

    def _get_json(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        auth: httpx.Auth | tuple[str, str] | None,
    ) -> Any:
        shown = str(httpx.URL(url, params=params)) if params else url
        last: ProviderError | None = None
        for attempt in range(self.max_retries + 1):
            self.attempts += 1
            try:
                resp = self.client.get(
                    url, params=params, headers=headers, auth=auth, timeout=self.timeout_s, follow_redirects=False
                )
            except httpx.TimeoutException:
                last = ProviderError(
                    self.provider, shown, f"no answer within the {self.timeout_s:g} s timeout", retryable=True
                )
                delay = self.backoff_s(attempt)
            except httpx.TransportError as exc:
                last = ProviderError(
                    self.provider, shown, f"connection failed ({type(exc).__name__})", retryable=True
                )
                delay = self.backoff_s(attempt)
            else:
                if resp.status_code == 200:
                    return self._decode(resp, shown)
                last = self._status_error(resp, shown)
                if not last.retryable:
                    raise last
                delay = self.backoff_s(attempt)
                if resp.status_code in RETRY_AFTER_STATUS:
                    asked = _parse_retry_after(resp.headers.get("retry-after"), self.clock())
                    if asked is not None:
                        if asked > self.backoff_max_s:
                            raise ProviderError(
                                self.provider,
                                shown,
                                f"HTTP {resp.status_code}: asked to retry after {asked:g} s, "
                                f"more than the {self.backoff_max_s:g} s limit",
                                status=resp.status_code,
                            )
                        delay = asked
            if attempt < self.max_retries:
                if self.on_retry is not None:
                    self.on_retry(self.provider, attempt + 1, self.max_retries + 1, delay)
                self.sleep(delay)
        assert last is not None
        raise ProviderError(
            self.provider,
            last.url,
            f"{last.problems[0].message.split(': ', 1)[-1]} (gave up after {self.max_retries + 1} attempts)",
            status=last.status,
        )

    def _status_error(self, resp: httpx.Response, shown: str) -> ProviderError:
        code = resp.status_code
        if code in (401, 403):
            return ProviderError(
                self.provider,
                shown,
                f"HTTP {code}: credentials refused; check the API key environment variable named in "
                "spec.intensity",
                status=code,
            )
        if resp.is_redirect:
            return ProviderError(
                self.provider,
                shown,
                f"HTTP {code}: redirected to {resp.headers.get('location', '?')}; redirects are not followed so "
                "credentials never leave the configured host: set the provider's base_url to the final address",
                status=code,
            )
        excerpt = " ".join(resp.text.split())[:160]
        message = f"HTTP {code}" + (f": {excerpt}" if excerpt else "")
        return ProviderError(self.provider, shown, message, status=code, retryable=code in RETRYABLE_STATUS)

    def _decode(self, resp: httpx.Response, shown: str) -> Any:
        text = resp.text
        if not text.strip():
            raise ProviderError(self.provider, shown, "empty response body (expected JSON)", field="<body>")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProviderError(
                self.provider,
                shown,
                f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                field="<body>",
            ) from None


class Fields:
    """Typed access to a decoded JSON body that turns every surprise into a located ProviderError."""

    def __init__(self, provider: str, url: str) -> None:
        self.provider = provider
        self.url = url

    def fail(self, path: str, message: str) -> ProviderError:
        return ProviderError(self.provider, self.url, message, field=path)

    def obj(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected an object, got {type(value).__name__}")
        return value

    def lst(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list, got {type(value).__name__}")
        return value

    def get(self, obj: dict[str, Any], key: str, path: str) -> Any:
        if key not in obj:
            raise self.fail(f"{path}.{key}" if path else key, "missing field")
        return obj[key]

    def number(self, value: Any, path: str, *, allow_none: bool = False) -> float | None:
        if value is None and allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(path, f"expected a number, got {value!r}")
        if value != value or value in (float("inf"), float("-inf")) or value < 0:
            raise self.fail(path, f"expected a finite non-negative number, got {value!r}")
        return float(value)

    def time(self, value: Any, path: str) -> datetime:
        if not isinstance(value, str):
            raise self.fail(path, f"expected an ISO 8601 timestamp, got {value!r}")
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(path, f"expected an ISO 8601 timestamp, got {value!r}") from None
        if when.tzinfo is None:
            raise self.fail(path, f"timestamp {value!r} has no UTC offset")
        return when.astimezone(timezone.utc)
