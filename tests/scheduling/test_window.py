"""Best contiguous window: pinned on real GB data against brute force, and the edge cases."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonguard.models import IntensityPoint, Origin
from carbonguard.scheduling.reference import brute_force
from carbonguard.scheduling.series import Series, to_us
from carbonguard.scheduling.window import DeadlineTooTight, best_window

from .conftest import T0, minutes

MIN_US = 60_000_000


def _brute(series: Series, d: timedelta, lo, hi_us: int) -> tuple[Fraction | None, list[int]]:
    """Brute force over every minute start in [lo, hi]: the fast search must match it exactly."""
    d_us = d // timedelta(microseconds=1)
    return brute_force(series, d_us, range(to_us(lo), hi_us + 1, MIN_US))


def test_gb_fixture_six_hours_pinned(gb_series: Series) -> None:
    r = best_window(gb_series, timedelta(hours=6), T0)
    # by hand: 2023-05-05 09:30..15:30 holds the twelve half-hours 8,7,7,7,6,7,7,7,8,8,9,11 (sum 92)
    assert r.best is not None and r.best.start == T0 + timedelta(hours=21)
    assert r.best.mean_g_per_kwh == pytest.approx(92 / 12)
    assert r.run_now is not None and r.run_now.mean_g_per_kwh == pytest.approx(166 / 12)
    assert r.saving is not None and r.saving.g_per_kwh == pytest.approx(166 / 12 - 92 / 12)
    assert r.saving.fraction == pytest.approx((166 - 92) / 166)
    assert r.saving.co2e_kg is None  # no energy given: no kg figure, never 0


@pytest.mark.parametrize("minutes_", [30, 60, 95, 150, 360, 435, 1440])
def test_gb_fixture_matches_brute_force_every_minute(gb_series: Series, minutes_: int) -> None:
    d = timedelta(minutes=minutes_)
    r = best_window(gb_series, d, T0, energy_kwh=10.0, energy_source="given")
    best, tied = _brute(gb_series, d, T0, int(gb_series.ends_us[-1]) - d // timedelta(microseconds=1))
    assert r.best is not None and best is not None
    assert r.best.mean_g_per_kwh == float(best)
    assert to_us(r.best.start) == tied[0]
    assert r.saving is not None and r.saving.co2e_kg == pytest.approx(10.0 * r.saving.g_per_kwh / 1000)


def test_deadline_limits_the_search(gb_series: Series) -> None:
    deadline = T0 + timedelta(hours=12)
    r = best_window(gb_series, timedelta(hours=6), T0, deadline)
    assert r.best is not None and r.best.end <= deadline
    best, tied = _brute(gb_series, timedelta(hours=6), T0, to_us(deadline) - 6 * 3600 * 10**6)
    assert r.best.mean_g_per_kwh == float(best) and to_us(r.best.start) == tied[0]


def test_uneven_steps_and_a_start_off_every_boundary() -> None:
    # 15, 30 and 60 minute steps; the cheap stretch ends at minute 105, so the best 50 min window
    # ends there and starts at minute 55, which is no boundary: only boundary-minus-D finds it.
    s = minutes(T0, [(0, 15, 50), (15, 45, 40), (45, 60, 30), (60, 105, 1), (105, 165, 90), (165, 180, 2)])
    r = best_window(s, timedelta(minutes=50), T0)
    assert r.best is not None and r.best.start == T0 + timedelta(minutes=55)
    assert r.best.mean_g_per_kwh == pytest.approx((5 * 30 + 45 * 1) / 50)
    best, tied = _brute(s, timedelta(minutes=50), T0, to_us(T0) + 130 * MIN_US)
    assert r.best.mean_g_per_kwh == float(best) and to_us(r.best.start) == tied[0]


def test_a_gap_is_never_filled() -> None:
    # the cleanest figures sit either side of a hole; a window across the hole is not a candidate
    s = minutes(T0, [(0, 60, 100), (60, 90, 5), (120, 150, 5), (150, 240, 100)])
    r = best_window(s, timedelta(minutes=60), T0)
    assert r.best is not None
    assert not (r.best.start < T0 + timedelta(minutes=120) and r.best.end > T0 + timedelta(minutes=90))
    assert r.best.mean_g_per_kwh == pytest.approx((30 * 5 + 30 * 100) / 60)
    assert [(u.start, u.end) for u in r.uncovered] == [(T0 + timedelta(minutes=90), T0 + timedelta(minutes=120))]
    assert any("gap" in n for n in r.notes)


def test_ties_are_all_reported_and_the_earliest_chosen() -> None:
    s = minutes(T0, [(0, 60, 50), (60, 120, 10), (120, 180, 50), (180, 240, 10), (240, 300, 50)])
    r = best_window(s, timedelta(minutes=60), T0)
    assert r.best is not None and r.best.start == T0 + timedelta(minutes=60)
    assert [(t.start, t.latest_start) for t in r.ties] == [
        (T0 + timedelta(minutes=60), T0 + timedelta(minutes=60)),
        (T0 + timedelta(minutes=180), T0 + timedelta(minutes=180)),
    ]


def test_a_flat_stretch_is_one_tie_range() -> None:
    s = minutes(T0, [(0, 30, 20), (30, 150, 10), (150, 180, 20)])
    r = best_window(s, timedelta(minutes=60), T0)
    assert r.best is not None and r.best.start == T0 + timedelta(minutes=30)
    assert [(t.start, t.latest_start) for t in r.ties] == [(T0 + timedelta(minutes=30), T0 + timedelta(minutes=90))]


def test_deadline_too_tight_says_by_how_much(gb_series: Series) -> None:
    with pytest.raises(DeadlineTooTight) as info:
        best_window(gb_series, timedelta(hours=6), T0, T0 + timedelta(hours=4, minutes=30))
    assert info.value.shortfall == timedelta(minutes=90)
    assert "too tight by 90 min" in str(info.value)


def test_window_needing_data_past_the_end_is_not_a_candidate() -> None:
    # the cheapest figures are at the very end; a 2 h job cannot use the last hour and a half of them
    s = minutes(T0, [(0, 120, 50), (120, 180, 40), (180, 240, 1)])
    r = best_window(s, timedelta(hours=2), T0, T0 + timedelta(hours=10))
    assert r.best is not None and r.best.end <= T0 + timedelta(minutes=240)
    assert r.best.start == T0 + timedelta(minutes=120)
    assert any("past its end" in n for n in r.notes)
    assert r.uncovered[-1].start == T0 + timedelta(minutes=240)


def test_no_covered_window_gives_no_best_and_says_why() -> None:
    s = minutes(T0, [(0, 60, 10), (90, 150, 10)])
    r = best_window(s, timedelta(hours=2), T0)
    assert r.best is None and r.saving is None
    assert any("fully covered" in n for n in r.notes)


def test_annual_figures_alone_cannot_judge_time() -> None:
    annual = IntensityPoint(zone="DE", start=T0.replace(month=1, day=1, hour=0, minute=0), duration_s=365 * 86400,
                            intensity_g_per_kwh=380, kind="annual", provider="embedded", origin=Origin.EMBEDDED)
    r = best_window(Series.from_points([annual], "DE"), timedelta(hours=6), T0)
    assert r.basis == "annual" and r.best is None
    assert "time shifting cannot be judged" in r.notes[0]


@st.composite
def series_and_job(draw):
    """Random series on a minute grid: uneven steps, gaps, integer or float values."""
    n = draw(st.integers(1, 25))
    spans, t = [], draw(st.integers(0, 30))
    ints = draw(st.booleans())
    for _ in range(n):
        length = draw(st.integers(1, 90))
        value = draw(st.integers(0, 20)) if ints else draw(st.floats(0, 500, allow_nan=False, allow_infinity=False))
        spans.append((t, t + length, float(value)))
        t += length + (draw(st.integers(1, 40)) if draw(st.integers(0, 4)) == 0 else 0)
    d = draw(st.integers(1, 240))
    lo = draw(st.integers(0, 60))
    deadline = draw(st.one_of(st.none(), st.integers(lo + d, max(lo + d, t) + 60)))
    return minutes(T0, spans), d, lo, deadline


@settings(max_examples=300, deadline=None)
@given(series_and_job())
def test_fast_search_equals_brute_force(case) -> None:
    s, d, lo, deadline = case
    dur = timedelta(minutes=d)
    nb = T0 + timedelta(minutes=lo)
    dl = None if deadline is None else T0 + timedelta(minutes=deadline)
    r = best_window(s, dur, nb, dl)
    hi = (to_us(dl) if dl else int(s.ends_us[-1])) - d * MIN_US
    best, tied = _brute(s, dur, nb, hi)
    if best is None:
        assert r.best is None
        return
    assert r.best is not None
    assert r.best.mean_g_per_kwh == float(best)
    assert to_us(r.best.start) == tied[0]
    # every brute-force optimum lies in a reported tie range, and every range end is an optimum
    ranges = [(to_us(t.start), to_us(t.latest_start)) for t in r.ties]
    assert all(any(a <= x <= b for a, b in ranges) for x in tied)
    assert all(a in tied and b in tied for a, b in ranges)
