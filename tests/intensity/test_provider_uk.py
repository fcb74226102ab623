"""GB Carbon Intensity API against a real local server serving the GB fixture."""

from __future__ import annotations

from datetime import timedelta

import pytest

from carbonguard.intensity.chain import FallbackChain
from carbonguard.intensity.errors import ProviderError
from carbonguard.intensity.providers.embedded import EmbeddedSource
from carbonguard.intensity.providers.uk_carbon_intensity import UkCarbonIntensitySource
from carbonguard.intensity.timeseries import time_weighted_average
from tests.intensity.fakes import Reply
from tests.intensity.helpers import at, gb_rows


def source(server, make_http, **kw) -> UkCarbonIntensitySource:
    return UkCarbonIntensitySource(http=make_http("uk-carbon-intensity", **kw), base_url=server.url)


def test_national_half_hours_match_the_fixture(uk_server, make_http) -> None:
    rows = gb_rows()
    start, end = rows[0][0], rows[-1][0] + timedelta(minutes=30)
    points = source(uk_server, make_http).series("GB", start, end)
    assert [(p.start, p.intensity_g_per_kwh) for p in points] == rows
    assert all(p.duration_s == 1800 and p.kind == "forecast" for p in points)
    assert uk_server.requests[0].path == "/intensity/2023-05-04T12:30Z/2023-05-06T12:30Z"


def test_time_weighted_average_over_served_points(uk_server, make_http) -> None:
    # fixture: 12:30 11, 13:00 15, 13:30 15, 14:00 18 g/kWh; 12:45-14:15 holds 15 min of 11,
    # 30 + 30 min of 15 and 15 min of 18
    points = source(uk_server, make_http).series("GB", at(4, 12, 45), at(4, 14, 15))
    expected = (15 * 11 + 30 * 15 + 30 * 15 + 15 * 18) / 90
    assert time_weighted_average(points, at(4, 12, 45), at(4, 14, 15)) == pytest.approx(expected)


def test_regional_format(uk_server, make_http) -> None:
    points = source(uk_server, make_http).series("GB-REGION-13", at(4, 12, 30), at(4, 13, 30))
    assert [p.intensity_g_per_kwh for p in points] == [11, 15]
    assert points[0].zone == "GB-REGION-13"
    assert uk_server.requests[0].path == "/regional/intensity/2023-05-04T12:30Z/2023-05-04T13:30Z/regionid/13"


def test_unserved_zone_falls_back_to_embedded(uk_server, make_http) -> None:
    chain = FallbackChain([source(uk_server, make_http), EmbeddedSource()])
    points = chain.series("FR", at(4, 12), at(4, 13))
    assert points[0].provider == "embedded" and points[0].fallback_from == "uk-carbon-intensity"
    assert uk_server.requests == []


def test_server_error_then_success(uk_server, make_http, sleeps) -> None:
    uk_server.plan("/intensity/", Reply(502, "bad gateway"))
    assert len(source(uk_server, make_http).series("GB", at(4, 12, 30), at(4, 13, 30))) == 2
    assert sleeps == [0.75]


def test_wrong_shape_is_refused_with_the_field(uk_server, make_http) -> None:
    uk_server.plan("/intensity/", Reply(200, '{"data": {"from": "x"}}'))
    with pytest.raises(ProviderError) as err:
        source(uk_server, make_http).series("GB", at(4, 12, 30), at(4, 13, 30))
    assert err.value.problems[0].field_path == "data"
    assert "expected a list" in err.value.problems[0].message


def test_long_windows_are_split_into_api_sized_requests(uk_server, make_http) -> None:
    source(uk_server, make_http).series("GB", at(4, 12), at(4, 12) + timedelta(days=20))
    assert len(uk_server.requests) == 2
