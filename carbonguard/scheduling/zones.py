"""The same search over candidate zones, and the levers side by side: shift time, shift zone, both.

Shifting zone is often the larger lever (grids differ several-fold; one grid's day varies less), so
the plan shows both with the saving each gives against the home zone now, and whether the policy's
`spec.scheduling` allows it (`max_delay_h` for time, `candidate_zones` for zones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from carbonguard.intensity.timeseries import weighted_average
from carbonguard.models import IntensityPoint
from carbonguard.policy.models import Scheduling
from carbonguard.scheduling.models import (
    InterruptionCost,
    Lever,
    SchedulePlan,
    Window,
    WindowSearch,
    ZoneOption,
)
from carbonguard.scheduling.pause import pause_resume
from carbonguard.scheduling.series import Series
from carbonguard.scheduling.window import best_window, check_deadline, fmt_duration, saving_between, sources_of


def flat_run_now(
    points: Sequence[IntensityPoint], zone: str, duration: timedelta, not_before: datetime
) -> Window | None:
    """Run-now over any figures, annual included (an annual mean is a fair run-now figure for a zone)."""
    if not points:
        return None
    avg = weighted_average(points, not_before, not_before + duration)
    if avg.gaps or avg.intensity_g_per_kwh is None:
        return None
    return Window(zone=zone, start=not_before, end=not_before + duration, mean_g_per_kwh=avg.intensity_g_per_kwh)


def _delay_ok(scheduling: Scheduling | None, w: Window, not_before: datetime) -> tuple[bool | None, str | None]:
    if scheduling is None:
        return None, None
    delay = w.start - not_before
    if delay <= timedelta(0):
        return True, None
    limit = timedelta(hours=scheduling.max_delay_h)
    if delay > limit:
        return False, (
            f"starts {fmt_duration(delay)} after not-before; spec.scheduling.max_delay_h is {scheduling.max_delay_h:g}"
        )
    return True, None


def _zone_ok(allowed: set[str] | None, zone: str, home: str) -> tuple[bool | None, str | None]:
    if allowed is None:
        return None, None
    if zone == home or zone in allowed:
        return True, None
    return False, f"{zone} is not in spec.scheduling.candidate_zones"


def plan(
    forecasts: Mapping[str, Sequence[IntensityPoint]],
    home_zone: str,
    duration: timedelta,
    not_before: datetime,
    deadline: datetime | None = None,
    *,
    energy_kwh: float | None = None,
    energy_source: str | None = None,
    interruption_cost: InterruptionCost | None = None,
    scheduling: Scheduling | None = None,
    policy_checked: bool = False,
    allowed_zones: set[str] | None = None,
    requested: Mapping[str, str] | None = None,
) -> SchedulePlan:
    """Search every zone in `forecasts` (home first) and put the levers side by side.

    `allowed_zones` are the policy's candidate zones already resolved to zone codes (None: no policy).
    With `policy_checked` and no `scheduling` section, nothing but running now is allowed.
    """
    check_deadline(not_before, deadline, duration)
    searches: list[WindowSearch] = []
    options: list[ZoneOption] = []
    notes: list[str] = []
    home_now: Window | None = None
    home_search: WindowSearch | None = None
    home_series: Series | None = None
    if policy_checked and scheduling is None:
        notes.append("the policy has no spec.scheduling section: it allows neither time nor zone shifts")
        allowed_zones = allowed_zones or set()
    for zone, points in forecasts.items():
        series = Series.from_points(points, zone)
        ws = best_window(series, duration, not_before, deadline, energy_kwh=energy_kwh, energy_source=energy_source)
        now = ws.run_now or flat_run_now(points, zone, duration, not_before)
        searches.append(ws)
        if zone == home_zone:
            home_now, home_search, home_series = now, ws, series
        options.append(
            ZoneOption(
                zone=zone,
                requested=(requested or {}).get(zone, zone),
                basis=ws.basis,
                run_now_g_per_kwh=now.mean_g_per_kwh if now else None,
                best=ws.best,
                saving_now=None,
                saving_best=None,
                allowed_by_policy=None,
                sources=sources_of(series),
            )
        )
    ref = home_now.mean_g_per_kwh if home_now else None
    options = [
        o.model_copy(
            update={
                "saving_now": saving_between(ref, o.run_now_g_per_kwh, energy_kwh, energy_source),
                "saving_best": saving_between(
                    ref, o.best.mean_g_per_kwh if o.best else None, energy_kwh, energy_source
                ),
                "allowed_by_policy": _zone_ok(allowed_zones, o.zone, home_zone)[0]
                if (policy_checked or allowed_zones is not None)
                else None,
            }
        )
        for o in options
    ]
    checked = policy_checked or allowed_zones is not None
    levers: list[Lever] = []
    if home_search is not None and home_search.best is not None:
        ok, why = _delay_ok(scheduling, home_search.best, not_before) if checked else (None, None)
        if checked and scheduling is None:
            ok, why = False, "no spec.scheduling section"
        levers.append(Lever(kind="time", zone=home_zone, window=home_search.best, saving=home_search.saving,
                            allowed_by_policy=ok, reason=why))
    elif home_search is not None:
        levers.append(Lever(kind="time", zone=home_zone, window=None, saving=None, allowed_by_policy=None,
                            reason="; ".join(home_search.notes) or "no covered window"))
    others = [o for o in options if o.zone != home_zone and o.run_now_g_per_kwh is not None]
    if others:
        z = min(others, key=lambda o: o.run_now_g_per_kwh)  # type: ignore[arg-type,return-value]
        ok, why = _zone_ok(allowed_zones, z.zone, home_zone) if checked else (None, None)
        levers.append(Lever(kind="zone", zone=z.zone,
                            window=Window(zone=z.zone, start=not_before, end=not_before + duration,
                                          mean_g_per_kwh=z.run_now_g_per_kwh),  # type: ignore[arg-type]
                            saving=z.saving_now, allowed_by_policy=ok, reason=why))
    moved = [o for o in options if o.zone != home_zone and o.best is not None]
    if moved:
        z = min(moved, key=lambda o: o.best.mean_g_per_kwh)  # type: ignore[union-attr]
        ok1, why1 = _zone_ok(allowed_zones, z.zone, home_zone) if checked else (None, None)
        ok2, why2 = _delay_ok(scheduling, z.best, not_before) if checked else (None, None)  # type: ignore[arg-type]
        ok = None if not checked else bool(ok1) and bool(ok2) and scheduling is not None
        levers.append(Lever(kind="time+zone", zone=z.zone, window=z.best, saving=z.saving_best,
                            allowed_by_policy=ok, reason="; ".join(x for x in (why1, why2) if x) or None))

    # the overall best: each zone's best window where a forecast judges time, else its run-now
    pool: list[tuple[float, int, Window, WindowSearch]] = []
    for rank, (o, ws) in enumerate(zip(options, searches, strict=True)):
        if ws.best is not None:
            pool.append((ws.best.mean_g_per_kwh, rank, ws.best, ws))
        elif o.run_now_g_per_kwh is not None:
            pool.append((o.run_now_g_per_kwh, rank, Window(zone=o.zone, start=not_before, end=not_before + duration,
                                                           mean_g_per_kwh=o.run_now_g_per_kwh), ws))
    best = ties = None
    if pool:
        _, _, best, best_search = min(pool, key=lambda t: (t[0], t[2].start, t[1]))
        ties = best_search.ties if best_search.best == best else ()
    judged = home_search is not None and home_search.basis == "forecast"
    if not judged:
        notes.append("the home zone has no forecast (only flat annual figures): time shifting cannot be judged; "
                     "zones are compared on their run-now figures")
    if any(o.basis == "annual" for o in options) and any(o.basis == "forecast" for o in options):
        notes.append("some zones have a forecast and others only annual figures: their comparison mixes the two")
    pr = None
    if home_series is not None and judged:
        pr = pause_resume(home_series, duration, not_before, deadline, interruption_cost=interruption_cost,
                          energy_kwh=energy_kwh, energy_source=energy_source, run_now_g_per_kwh=ref)
    return SchedulePlan(
        home_zone=home_zone,
        duration_s=duration.total_seconds(),
        not_before=not_before,
        deadline=deadline,
        energy_kwh=energy_kwh,
        energy_source=energy_source if energy_kwh is not None else None,
        best=best,
        run_now=home_now,
        saving=saving_between(ref, best.mean_g_per_kwh if best else None, energy_kwh, energy_source),
        ties=tuple(ties or ()),
        time_shift_judged=judged,
        pause_resume=pr,
        zones=tuple(options),
        levers=tuple(levers),
        searches=tuple(searches),
        policy_checked=checked,
        notes=tuple(notes),
    )
