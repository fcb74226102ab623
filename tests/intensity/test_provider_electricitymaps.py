"""Electricity Maps v3 against a real local server: formats, retries, fallbacks, clear errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from carbonguard.intensity.chain import FallbackChain
from carbonguard.intensity.errors import ProviderError
from carbonguard.intensity.providers.electricitymaps import ElectricityMapsSource
from carbonguard.intensity.providers.embedded import EmbeddedSource
from carbonguard.models import Origin
from tests.intensity.conftest import NOW
from tests.intensity.fakes import ElectricityMapsFake, Reply

START = NOW - timedelta(hours=6)
END = NOW - timedelta(hours=3)


def source(server: ElectricityMapsFake, make_http, *, token: str | None = ElectricityMapsFake.TOKEN, **kw):
    return ElectricityMapsSource(
        token=token, http=make_http("electricitymaps", **kw), base_url=f"{server.url}/v3", clock=lambda: NOW
    )


def test_past_range_points_are_hourly_with_provenance(em_server, make_http) -> None:
    points = source(em_server, make_http).series("DE", START, END)
    assert [p.start for p in points] == [START + timedelta(hours=i) for i in range(3)]
    assert [p.intensity_g_per_kwh for p in points] == [100 + p.start.hour for p in points]
    assert all(
        p.duration_s == 3600 and p.origin == Origin.LIVE and p.provider == "electricitymaps" for p in points
    )
    assert {p.kind for p in points} == {"actual", "estimated"}
    assert "lifecycle" in points[0].source
    req = em_server.requests[-1]
    assert req.path == "/v3/carbon-intensity/past-range"
    assert req.headers["auth-token"] == ElectricityMapsFake.TOKEN
    assert req.query["zone"] == "DE"


def test_forecast_for_a_future_window(em_server, make_http) -> None:
    points = source(em_server, make_http).series("DE", NOW + timedelta(hours=2), NOW + timedelta(hours=4))
    assert [p.kind for p in points] == ["forecast", "forecast"]
    assert em_server.count("/v3/carbon-intensity/forecast") == 1


def test_latest_and_history(em_server, make_http) -> None:
    src = source(em_server, make_http)
    latest = src.latest("FR")
    assert latest.start == NOW and latest.intensity_g_per_kwh == 100 + NOW.hour
    history = src.history("FR")
    assert len(history) == 24 and history[-1].start == NOW - timedelta(hours=1)


def test_401_is_a_clear_error_without_retry(em_server, make_http, sleeps) -> None:
    with pytest.raises(ProviderError) as err:
        source(em_server, make_http, token="wrong").series("DE", START, END)
    text = str(err.value)
    assert "HTTP 401" in text and "credentials" in text and em_server.url in text
    assert "wrong" not in text  # the token is never echoed
    assert em_server.count("/v3/") == 1 and sleeps == []


def test_401_falls_back_to_embedded_and_records_it(em_server, make_http) -> None:
    chain = FallbackChain([source(em_server, make_http, token=None), EmbeddedSource()])
    points = chain.series("DE", START, END)
    assert points[0].provider == "embedded"
    assert points[0].fallback_from == "electricitymaps"
    assert "HTTP 401" in str(chain.errors[0])


def test_429_honours_retry_after_seconds(em_server, make_http, sleeps) -> None:
    em_server.plan(
        "/v3/carbon-intensity/past-range", Reply(429, '{"error":"slow down"}', {"Retry-After": "7"})
    )
    points = source(em_server, make_http).series("DE", START, END)
    assert len(points) == 3
    assert sleeps == [7.0]
    assert em_server.count("/v3/carbon-intensity/past-range") == 2


def test_503_honours_retry_after_http_date(em_server, make_http, sleeps) -> None:
    when = (NOW + timedelta(seconds=12)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    em_server.plan("/v3/carbon-intensity/past-range", Reply(503, "", {"Retry-After": when}))
    source(em_server, make_http).series("DE", START, END)
    assert sleeps == [12.0]


def test_retry_after_beyond_the_cap_gives_up_at_once(em_server, make_http, sleeps) -> None:
    em_server.plan("/v3/carbon-intensity/past-range", Reply(429, "", {"Retry-After": "3600"}))
    with pytest.raises(ProviderError, match="retry after 3600 s"):
        source(em_server, make_http).series("DE", START, END)
    assert sleeps == []


def test_500_retries_with_exponential_backoff_and_jitter_then_gives_up(em_server, make_http, sleeps) -> None:
    em_server.plan("/v3/carbon-intensity/past-range", *[Reply(500, "internal error")] * 4)
    with pytest.raises(ProviderError) as err:
        source(em_server, make_http, max_retries=3).series("DE", START, END)
    assert "HTTP 500" in str(err.value) and "gave up after 4 attempts" in str(err.value)
    assert sleeps == [0.75, 1.5, 3.0]  # base 0.5 * 2**n plus jitter 0.5 of that (rng fixed at 0.5)
    assert em_server.count("/v3/carbon-intensity/past-range") == 4


def test_500_then_success_recovers(em_server, make_http, sleeps) -> None:
    em_server.plan("/v3/carbon-intensity/past-range", Reply(500, "oops"))
    assert len(source(em_server, make_http).series("DE", START, END)) == 3
    assert sleeps == [0.75]


def test_malformed_json_is_a_clear_error_naming_url_and_body(em_server, make_http) -> None:
    em_server.plan("/v3/carbon-intensity/past-range", Reply(200, '{"zone": "DE", "data": [{'))
    with pytest.raises(ProviderError) as err:
        source(em_server, make_http).series("DE", START, END)
    problem = err.value.problems[0]
    assert problem.field_path == "<body>" and "malformed JSON" in problem.message
    assert "/v3/carbon-intensity/past-range" in problem.source


def test_empty_body_is_a_clear_error(em_server, make_http) -> None:
    em_server.plan("/v3/carbon-intensity/past-range", Reply(200, ""))
    with pytest.raises(ProviderError, match="empty response body"):
        source(em_server, make_http).series("DE", START, END)


def test_missing_field_names_the_field(em_server, make_http) -> None:
    em_server.plan(
        "/v3/carbon-intensity/past-range",
        Reply(200, '{"zone": "DE", "data": [{"datetime": "2023-05-06T06:00:00Z"}]}'),
    )
    with pytest.raises(ProviderError) as err:
        source(em_server, make_http).series("DE", START, END)
    assert err.value.problems[0].field_path == "data[0].carbonIntensity"


@pytest.mark.parametrize("bad", ['"lots"', "-5", "true"])
def test_wrong_value_types_are_refused(em_server, make_http, bad: str) -> None:
    body = f'{{"zone": "DE", "data": [{{"carbonIntensity": {bad}, "datetime": "2023-05-06T06:00:00Z"}}]}}'
    em_server.plan("/v3/carbon-intensity/past-range", Reply(200, body))
    with pytest.raises(ProviderError) as err:
        source(em_server, make_http).series("DE", START, END)
    assert err.value.problems[0].field_path == "data[0].carbonIntensity"


def test_null_value_is_a_gap_filled_from_the_next_source(em_server, make_http) -> None:
    em_server.null_hours.add(START + timedelta(hours=1))
    points = FallbackChain([source(em_server, make_http), EmbeddedSource()]).series("DE", START, END)
    assert all(p.intensity_g_per_kwh > 0 for p in points)
    filled = [p for p in points if p.provider == "embedded"]
    assert len(filled) == 1
    assert filled[0].start == START + timedelta(hours=1) and filled[0].duration_s == 3600
    assert filled[0].fallback_from == "electricitymaps" and "intensity-gap-filled" in filled[0].flags


def test_response_slower_than_timeout_is_retried_then_reported(em_server, make_http, sleeps) -> None:
    em_server.plan(
        "/v3/carbon-intensity/past-range", Reply(200, None, delay_s=1.0), Reply(200, None, delay_s=1.0)
    )
    with pytest.raises(ProviderError) as err:
        source(em_server, make_http, timeout_s=0.2, max_retries=1).series("DE", START, END)
    assert "0.2 s timeout" in str(err.value) and "gave up after 2 attempts" in str(err.value)
    assert sleeps == [0.75]


def test_slow_then_fast_recovers(em_server, make_http) -> None:
    em_server.plan("/v3/carbon-intensity/past-range", Reply(200, None, delay_s=1.0))
    assert len(source(em_server, make_http, timeout_s=0.2).series("DE", START, END)) == 3


def test_connection_refused_is_retried_and_reported(make_http, sleeps) -> None:
    src = ElectricityMapsSource(
        token="t",
        http=make_http("electricitymaps", max_retries=1),
        base_url="http://127.0.0.1:9/v3",
        clock=lambda: NOW,
    )
    with pytest.raises(ProviderError, match="connection failed"):
        src.series("DE", START, END)
    assert len(sleeps) == 1
