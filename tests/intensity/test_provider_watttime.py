"""WattTime v3 against a real local server: login, token refresh, unit conversion, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from carbonguard.intensity.errors import ProviderError
from carbonguard.intensity.providers.watttime import WattTimeSource
from carbonguard.models import Signal
from tests.intensity.conftest import NOW
from tests.intensity.fakes import Reply, WattTimeFake

START = NOW - timedelta(hours=2)
END = NOW - timedelta(hours=1)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):
        return self.now


def source(
    server: WattTimeFake,
    make_http,
    *,
    clock=None,
    user=WattTimeFake.USER,
    password=WattTimeFake.PASSWORD,
    signal="marginal",
    **kw,
):
    return WattTimeSource(
        username=user,
        password=password,
        http=make_http("watttime", **kw),
        base_url=server.url,
        signal=signal,
        zone_map={"US-CAMX": "CAISO_NORTH"},
        clock=clock or (lambda: NOW),
    )


def test_historical_moer_is_converted_from_lbs_per_mwh(wt_server, make_http) -> None:
    points = source(wt_server, make_http).series("US-CAMX", START, END)
    assert len(points) == 12 and all(p.duration_s == 300 for p in points)
    assert points[0].intensity_g_per_kwh == pytest.approx(1000 * 0.45359237)
    assert points[0].signal == Signal.MARGINAL and points[0].kind == "actual"
    req = wt_server.requests[-1]
    assert req.path == "/v3/historical" and req.query["region"] == "CAISO_NORTH"
    assert req.query["signal_type"] == "co2_moer"
    assert req.headers["authorization"] == "Bearer wt-token-1"
    assert wt_server.requests[0].path == "/login"


def test_average_signal_asks_for_aoer(wt_server, make_http) -> None:
    points = source(wt_server, make_http, signal="average").series("US-CAMX", START, END)
    assert wt_server.requests[-1].query["signal_type"] == "co2_aoer"
    assert points[0].signal == Signal.AVERAGE


def test_forecast_for_future_window(wt_server, make_http) -> None:
    points = source(wt_server, make_http).series(
        "US-CAMX", NOW + timedelta(minutes=30), NOW + timedelta(hours=1)
    )
    assert {p.kind for p in points} == {"forecast"}
    assert points[0].intensity_g_per_kwh == pytest.approx(800 * 0.45359237)
    assert wt_server.requests[-1].query["horizon_hours"] == "2"


def test_token_is_refreshed_before_it_expires(wt_server, make_http) -> None:
    clock = Clock()
    src = source(wt_server, make_http, clock=clock)
    src.series("US-CAMX", START, END)
    clock.now = NOW + timedelta(minutes=10)
    src.historical("US-CAMX", START, END)
    assert src.logins == 1
    clock.now = NOW + timedelta(minutes=26)
    src.historical("US-CAMX", START, END)
    assert src.logins == 2
    assert wt_server.requests[-1].headers["authorization"] == "Bearer wt-token-2"


def test_revoked_token_triggers_one_relogin(wt_server, make_http) -> None:
    src = source(wt_server, make_http)
    src.series("US-CAMX", START, END)
    wt_server.revoked.add("wt-token-1")
    assert len(src.historical("US-CAMX", START, END)) == 12
    assert src.logins == 2


def test_bad_credentials_are_a_clear_error(wt_server, make_http, sleeps) -> None:
    with pytest.raises(ProviderError) as err:
        source(wt_server, make_http, password="nope").series("US-CAMX", START, END)
    assert "HTTP 401" in str(err.value) and "/login" in str(err.value)
    assert "nope" not in str(err.value)
    assert sleeps == []


def test_missing_credentials_fail_before_any_request(wt_server, make_http) -> None:
    with pytest.raises(ProviderError, match="WATTTIME_USERNAME"):
        source(wt_server, make_http, user=None).series("US-CAMX", START, END)
    assert wt_server.requests == []


def test_percentile_index_units_are_never_used_as_grams(wt_server, make_http) -> None:
    wt_server.units = "percentile"
    with pytest.raises(ProviderError) as err:
        source(wt_server, make_http).series("US-CAMX", START, END)
    assert err.value.problems[0].field_path == "meta.units"


def test_missing_token_field_in_login_answer(wt_server, make_http) -> None:
    wt_server.plan("/login", Reply(200, '{"access": "x"}'))
    with pytest.raises(ProviderError) as err:
        source(wt_server, make_http).series("US-CAMX", START, END)
    assert err.value.problems[0].field_path == "token"


def test_429_on_historical_is_retried_after_the_asked_delay(wt_server, make_http, sleeps) -> None:
    wt_server.plan("/v3/historical", Reply(429, "{}", {"Retry-After": "3"}))
    assert len(source(wt_server, make_http).series("US-CAMX", START, END)) == 12
    assert sleeps == [3.0]
