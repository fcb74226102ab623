"""Pause and resume: exact against exhaustive search on small cases, and the cost units."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonguard.policy.models import InterruptionCost
from carbonguard.scheduling.pause import pause_resume
from carbonguard.scheduling.series import Series
from carbonguard.scheduling.window import best_window

from .conftest import T0, minutes


def test_free_interruptions_take_the_cheapest_half_hours(gb_series: Series) -> None:
    r = pause_resume(gb_series, timedelta(hours=6), T0)
    cheapest = sorted(gb_series.values.tolist())[:12]
    assert r.status == "ok" and r.effective_g_per_kwh == pytest.approx(sum(cheapest) / 12)
    assert sum((s.end - s.start for s in r.slots), timedelta(0)) == timedelta(hours=6)
    assert r.interruptions == len(r.slots) - 1 >= 1
    assert "free" in (r.reason or "")


def test_a_high_gram_cost_makes_one_contiguous_slot(gb_series: Series) -> None:
    cost = InterruptionCost(value=1_000_000, unit="g_co2e")
    r = pause_resume(gb_series, timedelta(hours=6), T0, interruption_cost=cost, energy_kwh=100)
    best = best_window(gb_series, timedelta(hours=6), T0).best
    assert r.interruptions == 0 and best is not None
    assert (r.slots[0].start, r.slots[0].end) == (best.start, best.end)


def test_gram_cost_needs_the_energy(gb_series: Series) -> None:
    r = pause_resume(gb_series, timedelta(hours=6), T0, interruption_cost=InterruptionCost(value=5, unit="g_co2e"))
    assert r.status == "not-computed" and "--energy-kwh" in (r.reason or "")


def test_minutes_cost_is_restart_time_at_that_hour() -> None:
    # two clean hours split by a dirty one; resuming costs 30 min of restart at the resumed hour's figure
    s = minutes(T0, [(0, 60, 1), (60, 120, 100), (120, 180, 1), (180, 300, 50)])
    r = pause_resume(s, timedelta(hours=2), T0, interruption_cost=InterruptionCost(value=30, unit="minutes"))
    assert r.status == "ok" and r.interruptions == 1
    assert [(x.start, x.end, x.overhead_s) for x in r.slots] == [
        (T0, T0 + timedelta(hours=1), 0.0),
        (T0 + timedelta(hours=2), T0 + timedelta(hours=3, minutes=30), 1800.0),
    ]
    # 60 min of work at 1, then 30 min restart at 1, 30 min of work at 1 and 30 at 50 g/kWh:
    # emissions per kWh of the job's own 120 minutes of work
    assert r.effective_g_per_kwh == pytest.approx((60 + 30 + 30 + 30 * 50) / 120)


def _exhaustive(values: list[float], units: int, lam: float) -> float:
    best = float("inf")
    for cells in itertools.combinations(range(len(values)), units):
        runs = 1 + sum(1 for a, b in itertools.pairwise(cells) if b != a + 1)
        best = min(best, sum(values[c] for c in cells) + lam * (runs - 1))
    return best / units


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=2, max_size=10), st.integers(1, 5), st.integers(0, 40))
def test_gram_cost_dp_equals_exhaustive_search(values: list[int], units: int, grams: int) -> None:
    units = min(units, len(values))
    s = Series.regular("X", T0, 600, values)
    energy = 3.0
    cost = InterruptionCost(value=float(grams), unit="g_co2e")
    r = pause_resume(s, timedelta(minutes=10 * units), T0, interruption_cost=cost, energy_kwh=energy)
    lam = grams * units / energy  # grams in (g/kWh x cells), as the module defines
    assert r.effective_g_per_kwh == pytest.approx(_exhaustive([float(v) for v in values], units, lam))
    contiguous = best_window(s, timedelta(minutes=10 * units), T0).best
    assert contiguous is not None and r.effective_g_per_kwh <= contiguous.mean_g_per_kwh + 1e-9


def _exhaustive_restart(values: list[float], units: int, restart: int) -> float:
    """Every set of running cells; each piece after the first spends `restart` cells restarting."""
    best = float("inf")
    n = len(values)
    for mask in range(1, 1 << n):
        cells = [i for i in range(n) if mask >> i & 1]
        pieces: list[list[int]] = []
        for c in cells:
            if pieces and pieces[-1][-1] == c - 1:
                pieces[-1].append(c)
            else:
                pieces.append([c])
        progress = len(pieces[0]) + sum(max(0, len(p) - restart) for p in pieces[1:])
        last = pieces[-1]
        if progress == units and (len(pieces) == 1 or len(last) > restart):
            best = min(best, sum(values[c] for c in cells))
    return best / units


@settings(max_examples=120, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=2, max_size=9), st.integers(1, 4), st.integers(0, 2))
def test_minutes_cost_dp_equals_exhaustive_search(values: list[int], units: int, restart: int) -> None:
    units = min(units, len(values))
    s = Series.regular("X", T0, 600, values)
    cost = InterruptionCost(value=10.0 * restart, unit="minutes")
    r = pause_resume(s, timedelta(minutes=10 * units), T0, interruption_cost=cost)
    assert r.effective_g_per_kwh == pytest.approx(_exhaustive_restart([float(v) for v in values], units, restart))
