"""Pause and resume: the cheapest set of slots adding up to the job's duration before the deadline.

A job that checkpoints can run in pieces. Each interruption has a cost from the policy
(`spec.scheduling.interruption_cost`): grams of CO2e (added per interruption; needs the job's energy
to compare with g/kWh), or minutes (each resumed piece first spends that long restarting, drawing
power without progress, so the restart is charged at the intensity of its own time).

Exactness: intensity is piecewise constant, and for a fixed choice of which segments each slot
edge falls in, the cost is linear in the edge positions with one equality (total progress = the
duration). An optimum is therefore a vertex: every edge sits on a segment boundary, not-before,
the deadline, or a boundary plus or minus a multiple of the duration or restart time. All of those
lie on the grid whose step is the gcd of those offsets, so a dynamic programme over grid cells is
exact, not an approximation. It runs one vectorised step per cell over "progress so far"
(O(cells x duration/step)); the answer says "not-computed" rather than run past MAX_STATES.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np

from carbonguard.scheduling.models import InterruptionCost, PauseResume, Slot
from carbonguard.scheduling.series import Series, from_us, to_us
from carbonguard.scheduling.window import check_deadline, fmt_duration, saving_between

MAX_STATES = 20_000_000  # cells x progress steps x states; a 72 h forecast at 5 min and a 24 h job is 0.5M
_INF = math.inf


def _not(zone: str, status: str, reason: str, cost: InterruptionCost | None) -> PauseResume:
    return PauseResume(zone=zone, status=status, reason=reason, interruption_cost=cost)  # type: ignore[arg-type]


def pause_resume(
    series: Series,
    duration: timedelta,
    not_before: datetime,
    deadline: datetime | None = None,
    *,
    interruption_cost: InterruptionCost | None = None,
    energy_kwh: float | None = None,
    energy_source: str | None = None,
    run_now_g_per_kwh: float | None = None,
) -> PauseResume:
    """Cheapest slots totalling `duration` in [not_before, deadline) (or the data's end).

    Without an interruption cost every interruption is free (said in `reason`). A cost in g CO2e
    needs `energy_kwh`; without it the strategy is not computed.
    """
    zone = series.zone
    check_deadline(not_before, deadline, duration)
    cost = interruption_cost
    if len(series) == 0:
        return _not(zone, "not-computed", "no time-varying figures for this zone", cost)
    if cost is not None and cost.unit == "g_co2e" and cost.value > 0 and not energy_kwh:
        return _not(
            zone, "not-computed", "the interruption cost is in g CO2e: give the job's energy (--energy-kwh)", cost
        )
    lo = to_us(not_before)
    end = to_us(deadline) if deadline is not None else int(series.ends_us[-1])
    d_us = duration // timedelta(microseconds=1)
    over_us = int(cost.value * 60_000_000) if cost is not None and cost.unit == "minutes" else 0
    if end - lo < d_us:
        return _not(zone, "no-solution", "the data ends before the job could finish", cost)
    s, e = series.starts_us, series.ends_us
    k0, k1 = int(np.searchsorted(e, lo, "right")), int(np.searchsorted(s, end, "left"))
    boundaries = (*s[k0:k1].tolist(), *e[k0:k1].tolist())
    g = 0
    for offset in (*(x - lo for x in boundaries if lo < x <= end), d_us, over_us, end - lo):
        g = math.gcd(g, offset)
    n_cells, units, restart = (end - lo) // g, d_us // g, over_us // g
    if n_cells * (units + 1) * (restart + 2) > MAX_STATES:
        return _not(
            zone,
            "not-computed",
            f"{n_cells} steps of {fmt_duration(timedelta(microseconds=g))} x {units} progress steps exceed "
            f"the search limit; give an earlier --deadline",
            cost,
        )
    starts = lo + g * np.arange(n_cells, dtype=np.int64)
    idx = np.searchsorted(s, starts, "right") - 1
    ic = np.maximum(idx, 0)
    covered = (idx >= 0) & (starts < e[ic])
    c = np.where(covered, series.values[ic], np.inf)
    lam = 0.0
    if cost is not None and cost.unit == "g_co2e" and energy_kwh:
        lam = cost.value * units / energy_kwh  # grams -> (g/kWh x cells): E/units kWh per cell
    free_note = None if cost is not None else "no interruption cost set: every interruption is taken as free"

    on = np.full(units + 1, _INF)
    off = np.full(units + 1, _INF)
    oh = np.full((restart, units + 1), _INF)
    ns_alive = True
    best_total, best_cell = _INF, -1
    ch_on = np.zeros((n_cells, units + 1), dtype=np.int8)  # 0 continue, 1 start, 2 resume/after restart
    ch_off = np.zeros((n_cells, units + 1), dtype=np.int8)  # 0 stay, 1 from on, 2+k from restart k
    for i in range(n_cells):
        ci = c[i]
        pause_from = [off, on, *oh]
        stacked = np.vstack(pause_from)
        arg = np.argmin(stacked, axis=0)
        new_off = stacked[arg, np.arange(units + 1)]
        ch_off[i] = arg
        if covered[i]:
            cont = np.full(units + 1, _INF)
            cont[1:] = on[:-1] + ci
            resume = np.full(units + 1, _INF)
            if restart == 0:
                resume[1:] = off[:-1] + ci + lam
            else:
                resume[1:] = oh[-1][:-1] + ci
            new_on = np.minimum(cont, resume)
            ch_on[i] = np.where(resume < cont, 2, 0)
            if ns_alive and ci < new_on[1]:
                new_on[1] = ci
                ch_on[i, 1] = 1
            new_oh = np.full((restart, units + 1), _INF)
            if restart:
                new_oh[0] = off + ci + lam
                new_oh[1:] = oh[:-1] + ci
        else:
            new_on = np.full(units + 1, _INF)
            new_oh = np.full((restart, units + 1), _INF)
        if new_on[units] < best_total:
            best_total, best_cell = float(new_on[units]), i
        new_on[units] = _INF
        new_off[units] = _INF
        on, off, oh = new_on, new_off, new_oh
    if best_cell < 0:
        return _not(zone, "no-solution", "the covered time before the deadline is shorter than the job", cost)

    # walk back: which cells ran, and which of them were restart time
    running = np.zeros(n_cells, dtype=bool)
    restarting = np.zeros(n_cells, dtype=bool)
    state, u, i = "on", units, best_cell
    while i >= 0 and state != "ns":
        if state == "on":
            running[i] = True
            how = ch_on[i, u]
            state = "ns" if how == 1 else ("on" if how == 0 else ("off" if restart == 0 else f"oh{restart}"))
            u -= 1
        elif state == "off":
            how = ch_off[i, u]
            state = "off" if how == 0 else ("on" if how == 1 else f"oh{how - 2 + 1}")
        else:
            k = int(state[2:])
            running[i] = restarting[i] = True
            state = "off" if k == 1 else f"oh{k - 1}"
        i -= 1
    slots: list[Slot] = []
    k = 0
    while k < n_cells:
        if not running[k]:
            k += 1
            continue
        j = k
        while j < n_cells and running[j] and (j == k or not restarting[j] or restarting[j - 1]):
            j += 1
        ran = c[k:j]
        slots.append(
            Slot(
                start=from_us(int(starts[k])),
                end=from_us(int(starts[k]) + (j - k) * g),
                mean_g_per_kwh=float(ran.mean()),
                overhead_s=float(restarting[k:j].sum() * g / 1e6),
            )
        )
        k = j
    run_cells = c[running]
    effective = best_total / units
    return PauseResume(
        zone=zone,
        status="ok",
        reason=free_note,
        slots=tuple(slots),
        interruptions=len(slots) - 1,
        interruption_cost=cost,
        mean_g_per_kwh=float(run_cells.mean()),
        effective_g_per_kwh=effective,
        saving=saving_between(run_now_g_per_kwh, effective, energy_kwh, energy_source),
        grid_s=g / 1e6,
    )
