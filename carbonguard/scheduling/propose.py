"""What the gate proposes for `action: reschedule`: a window and zone, or why none beats now.

Pure: the caller (the gate, via the pipeline) passes the policy's `spec.scheduling`, one forecast
per zone (points keyed by zone code, the run's own zone included), the job's duration and `as_of`.
A proposal must start within `max_delay_h` of `as_of`, run in the home zone or one of
`candidate_zones`, and beat running now in the home zone by `min_saving_fraction`. Otherwise the
answer says why, and the budget's fallback action applies (the gate decides that).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from carbonguard.intensity.zones import canonical_zone
from carbonguard.models import IntensityPoint
from carbonguard.policy.models import Scheduling
from carbonguard.scheduling.models import Proposal, Window
from carbonguard.scheduling.series import Series
from carbonguard.scheduling.window import best_window, fmt_duration, fmt_time, saving_between
from carbonguard.scheduling.zones import flat_run_now


def propose(
    scheduling: Scheduling | None,
    forecasts: Mapping[str, Sequence[IntensityPoint]],
    home_zone: str,
    duration: timedelta,
    as_of: datetime,
    *,
    energy_kwh: float | None = None,
    energy_source: str | None = None,
) -> Proposal:
    """The cleanest allowed (zone, start) if it beats running now by `min_saving_fraction`.

    `forecasts` keys are zone codes; candidate zones the policy names as cloud regions must be
    resolved to zone codes by the caller (`carbonguard.intensity.zones.resolve_zone`), and are looked
    up here by their canonical (upper-case) code. Zones without a forecast are skipped and named in
    the reason. Ties: the earliest start wins, then the home zone, then the policy's order.
    """
    if scheduling is None:
        return Proposal(proposed=False, reason="the policy has no spec.scheduling section")
    forecasts = {canonical_zone(z): p for z, p in forecasts.items()}
    home = canonical_zone(home_zone)
    now_points = forecasts.get(home, ())
    home_series = Series.from_points(now_points, home)
    deadline = as_of + timedelta(hours=scheduling.max_delay_h) + duration
    home_search = best_window(
        home_series, duration, as_of, deadline, energy_kwh=energy_kwh, energy_source=energy_source
    )
    run_now = home_search.run_now or flat_run_now(now_points, home, duration, as_of)
    if run_now is None:
        return Proposal(
            proposed=False, reason=f"no intensity figure for running now in {home}: nothing to compare with"
        )
    zones = [home, *(canonical_zone(z) for z in scheduling.candidate_zones if canonical_zone(z) != home)]
    missing = [z for z in zones if z not in forecasts]
    options: list[tuple[float, datetime, int, Window]] = []
    flat_time: list[str] = []
    for rank, zone in enumerate(zones):
        if zone not in forecasts:
            continue
        ws = home_search if zone == home else best_window(
            Series.from_points(forecasts[zone], zone), duration, as_of, deadline
        )
        if ws.best is not None:
            options.append((ws.best.mean_g_per_kwh, ws.best.start, rank, ws.best))
        else:
            if ws.basis == "annual":
                flat_time.append(zone)
            now = ws.run_now or flat_run_now(forecasts[zone], zone, duration, as_of)
            if now is not None:
                options.append((now.mean_g_per_kwh, now.start, rank, now))
    extra = ""
    if missing:
        extra += f"; no forecast for {', '.join(missing)}"
    if flat_time:
        extra += f"; only annual figures for {', '.join(flat_time)} (time shifting not judged there)"
    if not options:
        return Proposal(proposed=False, run_now=run_now, reason="no zone has figures for the allowed window" + extra)
    mean, _, _, window = min(options, key=lambda o: (o[0], o[1], o[2]))
    saving = saving_between(run_now.mean_g_per_kwh, mean, energy_kwh, energy_source)
    assert saving is not None
    needed = scheduling.min_saving_fraction
    fraction = saving.fraction if saving.fraction is not None else 0.0
    same = window.zone == run_now.zone and window.start == run_now.start
    if same or fraction < needed or saving.g_per_kwh <= 0:
        return Proposal(
            proposed=False,
            run_now=run_now,
            window=None if same else window,
            saving=None if same else saving,
            reason=(
                f"no window within max_delay_h {scheduling.max_delay_h:g} h in {', '.join(zones)} beats running "
                f"now ({run_now.mean_g_per_kwh:.1f} g/kWh in {home}) by min_saving_fraction {needed:g}"
                + ("" if same else f": the best, {mean:.1f} g/kWh in {window.zone} at {fmt_time(window.start)}, "
                   f"saves {fraction:.1%}")
                + extra
            ),
        )
    delay = window.start - as_of
    return Proposal(
        proposed=True,
        zone=window.zone,
        window=window,
        run_now=run_now,
        saving=saving,
        reason=(
            f"{window.zone} at {fmt_time(window.start)} ({fmt_duration(delay)} from now) averages {mean:.1f} g/kWh "
            f"against {run_now.mean_g_per_kwh:.1f} g/kWh now in {home}: saves {fraction:.1%} "
            f"(min_saving_fraction {needed:g})" + extra
        ),
    )
