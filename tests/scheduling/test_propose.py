"""The gate's reschedule proposal: within max_delay_h, allowed zones, and by min_saving_fraction."""

from __future__ import annotations

from datetime import timedelta

from carbonguard.models import IntensityPoint, Origin
from carbonguard.policy.models import Scheduling
from carbonguard.scheduling.propose import propose

from .conftest import T0, gb_points


def _flat(zone: str, value: float) -> list[IntensityPoint]:
    return [IntensityPoint(zone=zone, start=T0 - timedelta(days=1), duration_s=5 * 86400, intensity_g_per_kwh=value,
                           kind="forecast", provider="test", origin=Origin.LIVE)]


def test_proposes_the_cleaner_hour_within_the_delay() -> None:
    p = propose(Scheduling(max_delay_h=24, min_saving_fraction=0.2), {"GB": gb_points()}, "GB",
                timedelta(hours=6), T0, energy_kwh=50)
    assert p.proposed and p.zone == "GB" and p.window is not None
    assert p.window.start == T0 + timedelta(hours=21)
    assert p.saving is not None and p.saving.fraction is not None and p.saving.fraction > 0.4
    assert p.saving.co2e_kg is not None


def test_nothing_beats_now_by_the_minimum_within_a_short_delay() -> None:
    p = propose(Scheduling(max_delay_h=1, min_saving_fraction=0.2), {"GB": gb_points()}, "GB", timedelta(hours=6), T0)
    assert not p.proposed and "min_saving_fraction 0.2" in p.reason and p.run_now is not None


def test_a_candidate_zone_wins_now() -> None:
    sched = Scheduling(max_delay_h=0, candidate_zones=("fr",), min_saving_fraction=0.1)
    p = propose(sched, {"GB": gb_points(), "FR": _flat("FR", 5)}, "GB", timedelta(hours=6), T0)
    assert p.proposed and p.zone == "FR" and p.window is not None and p.window.start == T0


def test_zones_outside_the_policy_are_never_proposed() -> None:
    p = propose(Scheduling(max_delay_h=0), {"GB": gb_points(), "FR": _flat("FR", 1)}, "GB", timedelta(hours=6), T0)
    assert not p.proposed


def test_no_scheduling_section_and_missing_forecasts_are_explained() -> None:
    assert "no spec.scheduling" in propose(None, {"GB": gb_points()}, "GB", timedelta(hours=6), T0).reason
    p = propose(Scheduling(max_delay_h=24, candidate_zones=("SE",)), {"GB": gb_points()}, "GB", timedelta(hours=6), T0)
    assert "no forecast for SE" in p.reason
    p = propose(Scheduling(max_delay_h=24), {}, "GB", timedelta(hours=6), T0)
    assert not p.proposed and "no intensity figure for running now" in p.reason
