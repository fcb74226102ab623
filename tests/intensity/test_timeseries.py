"""Time-weighted averages over uneven steps and gaps, checked by hand on the GB fixture."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest

from carbonguard.errors import InputError
from carbonguard.intensity.timeseries import (
    find_gaps,
    resample,
    segments,
    time_weighted_average,
    weighted_average,
)
from tests.intensity.helpers import at, gb_points, gb_rows, point


def test_fixture_is_the_documented_96_half_hours() -> None:
    rows = gb_rows()
    assert len(rows) == 96
    assert rows[0] == (at(4, 12, 30), 11.0)
    assert all(b[0] - a[0] == timedelta(minutes=30) for a, b in itertools.pairwise(rows))


def test_average_of_whole_half_hours_is_their_mean() -> None:
    # 12:30-14:00: 11, 15, 15
    assert time_weighted_average(gb_points(), at(4, 12, 30), at(4, 14)) == pytest.approx((11 + 15 + 15) / 3)


def test_partial_steps_are_weighted_by_minutes() -> None:
    # 12:50-13:40: 10 min of 11, 30 min of 15, 10 min of 15
    got = time_weighted_average(gb_points(), at(4, 12, 50), at(4, 13, 40))
    assert got == pytest.approx((10 * 11 + 30 * 15 + 10 * 15) / 50)


def test_resampling_to_15_minutes_keeps_values_and_averages() -> None:
    points = gb_points()[:8]  # 12:30 .. 16:30
    quarter = resample(points, at(4, 12, 30), at(4, 16, 30), 900)
    assert len(quarter) == 16 and all(p.duration_s == 900 for p in quarter)
    assert [p.intensity_g_per_kwh for p in quarter[:4]] == [11, 11, 15, 15]
    window = (at(4, 12, 45), at(4, 15, 15))
    assert time_weighted_average(quarter, *window) == pytest.approx(time_weighted_average(points, *window))


def test_uneven_steps_30_then_15_minutes() -> None:
    # half-hours until 13:30, then quarter-hours of the same data shifted by hand-chosen values
    half = [point(at(4, 12, 30), 30, 11), point(at(4, 13), 30, 15)]
    quarter = [point(at(4, 13, 30), 15, 20), point(at(4, 13, 45), 15, 40)]
    got = weighted_average(half + quarter, at(4, 13, 15), at(4, 14))
    assert got.intensity_g_per_kwh == pytest.approx((15 * 15 + 15 * 20 + 15 * 40) / 45)
    assert [p.intensity_g_per_kwh for p in got.points] == [15, 20, 40]
    assert got.complete and got.covered_s == 45 * 60


def test_a_finer_point_overrides_only_its_own_span() -> None:
    hour = point(at(4, 12), 60, 100)
    quarter = point(at(4, 12, 15), 15, 200)
    segs = segments([hour, quarter])
    assert [(s.start.minute, s.end.minute, s.point.intensity_g_per_kwh) for s in segs] == [
        (0, 15, 100),
        (15, 30, 200),
        (30, 0, 100),
    ]
    assert time_weighted_average([hour, quarter], at(4, 12), at(4, 13)) == pytest.approx(
        (45 * 100 + 15 * 200) / 60
    )


def test_gaps_are_listed_and_never_averaged_as_zero() -> None:
    points = [p for p in gb_points()[:6] if p.start != at(4, 13, 30)]  # drop 13:30-14:00
    got = weighted_average(points, at(4, 13), at(4, 14, 30))
    assert [(g.start, g.end) for g in got.gaps] == [(at(4, 13, 30), at(4, 14))]
    assert got.intensity_g_per_kwh == pytest.approx((15 + 18) / 2)  # only what is covered
    assert not got.complete
    with pytest.raises(InputError, match="does not cover"):
        time_weighted_average(points, at(4, 13), at(4, 14, 30))


def test_window_outside_the_data_is_one_gap() -> None:
    assert [(g.start, g.end) for g in find_gaps(gb_points(), at(1, 0), at(1, 1))] == [(at(1, 0), at(1, 1))]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        weighted_average(gb_points(), datetime(2023, 5, 4, 13), at(4, 14))


def test_empty_interval_is_refused() -> None:
    with pytest.raises(InputError, match="empty interval"):
        weighted_average(gb_points(), at(4, 14), at(4, 14))


def test_non_utc_offsets_are_normalised() -> None:
    from datetime import timezone

    plus2 = timezone(timedelta(hours=2))
    start = datetime(2023, 5, 4, 14, 30, tzinfo=plus2)  # 12:30Z
    assert time_weighted_average(gb_points(), start, start + timedelta(minutes=30)) == 11
