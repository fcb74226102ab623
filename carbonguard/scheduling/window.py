"""Best contiguous window: the start that minimises the time-weighted mean intensity over the job.

Semantics follow the Green Software Foundation Carbon Aware SDK (carbon-aware-sdk,
`src/CarbonAware/src/Extensions/EmissionsDataExtensions.cs`, `RollingAverage` / `AverageOverPeriod`):
each figure holds for its own duration, a window's value is the sum of figure x overlap divided by
the window's length, a window is only a candidate when the data reaches its end, and every window
with the minimum value is an optimum (`GetOptimalEmissions` keeps all ties). Two deliberate
differences: the SDK divides by the full window even where no figure covers part of it (a hole
counts as 0 g/kWh); here a window with a hole is not a candidate. And the SDK slides the window by
a fixed tick; here every start in [not_before, deadline - duration] is considered, which finds the
same optimum on regular data and a better one when the duration is not a multiple of the step.

Why the optimum lies at a segment boundary or a boundary minus the duration
--------------------------------------------------------------------------
Let F(t) be the integral of the intensity from the series start to t. Between boundaries the
intensity is constant, so F is piecewise linear with kinks only at boundaries. The window integral
f(s) = F(s + D) - F(s) is therefore linear in s on every interval on which neither s nor s + D
crosses a boundary: its kinks are at s in B (boundaries) and s in B - D. The feasible starts (the
whole window covered, inside [not_before, deadline - D]) form a union of closed intervals whose
ends are run starts (in B), run ends minus D (in B - D), not_before and deadline - D. A linear
function on a closed interval takes its minimum at an end, so the minimum of f over the feasible
set is attained at one of these candidates, and so is the earliest minimiser (the set of
minimisers is closed; its left end is a kink or the left end of a feasible interval). Ties: two
neighbouring tied candidates in one feasible interval with f(t1 + 1 unit) = f(t1) enclose a flat
stretch, and every start between them is optimal too; they are reported as one range.

Cost: 2n + 2 candidates, each evaluated from prefix sums (two binary searches, vectorised with
numpy): O(n log n) comparisons in C, no loop over the window, never O(n x window). Floats only
screen: the candidates within a proven rounding bound of the float minimum are re-evaluated exactly
(`Fraction` of each float value, integer microseconds), so ties and "earliest" do not depend on
rounding; integer g/kWh data ties exactly, and often.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

import numpy as np

from carbonguard.errors import InputError, Problem
from carbonguard.scheduling.models import Saving, Span, Tie, Window, WindowSearch
from carbonguard.scheduling.series import Series, from_us, to_us

_EPS = float(np.finfo(np.float64).eps)


class DeadlineTooTight(InputError):
    """The job cannot finish by the deadline even if started at not_before."""

    def __init__(self, shortfall: timedelta, message: str) -> None:
        self.shortfall = shortfall
        super().__init__(Problem(message, source="schedule", field_path="deadline"))


def fmt_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%MZ") if t.second == 0 and t.microsecond == 0 else t.isoformat()


def fmt_duration(td: timedelta) -> str:
    s = td.total_seconds()
    if s % 3600 == 0:
        return f"{s / 3600:g} h"
    if s % 60 == 0:
        return f"{s / 60:g} min"
    return f"{s:g} s"


def check_deadline(not_before: datetime, deadline: datetime | None, duration: timedelta) -> None:
    """Raise DeadlineTooTight, saying by how much, when the job cannot fit before the deadline."""
    if deadline is None:
        return
    room = deadline - not_before
    if room < duration:
        short = duration - room
        raise DeadlineTooTight(
            short,
            f"deadline {fmt_time(deadline)} is too tight by {fmt_duration(short)}: the job needs "
            f"{fmt_duration(duration)} and only {fmt_duration(max(room, timedelta(0)))} lie between "
            f"not-before {fmt_time(not_before)} and the deadline",
        )


@dataclass(frozen=True)
class Prepared:
    """Arrays the search needs: prefix integrals (g/kWh x us) and the end of each gap-free run."""

    s: np.ndarray
    e: np.ndarray
    v: np.ndarray
    prefix: np.ndarray
    run_end: np.ndarray
    run_id: np.ndarray

    @classmethod
    def of(cls, series: Series) -> Prepared:
        s, e, v = series.starts_us, series.ends_us, series.values
        prefix = np.concatenate(([0.0], np.cumsum(v * (e - s).astype(np.float64))))
        breaks = np.concatenate(([False], s[1:] != e[:-1]))
        run_id = np.cumsum(breaks)
        last = np.concatenate((s[1:] != e[:-1], [True]))
        run_end = e[last][run_id]
        return cls(s, e, v, prefix, run_end, run_id)

    def integrals(self, starts: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
        """Float window integrals over [start, start + d) and whether each window is covered."""
        n = len(self.s)
        ends = starts + d
        i = np.searchsorted(self.s, starts, side="right") - 1
        ic = np.clip(i, 0, n - 1)
        ok = (i >= 0) & (starts < self.e[ic]) & (self.run_end[ic] >= ends)
        j = np.clip(np.searchsorted(self.e, ends, side="left"), 0, n - 1)
        val = (
            self.prefix[j] + self.v[j] * (ends - self.s[j]) - self.prefix[ic] - self.v[ic] * (starts - self.s[ic])
        )
        return val, ok


def exact_integral(series: Series, start: int, d: int) -> Fraction | None:
    """Exact integral (g/kWh x us) over [start, start + d), or None when not all covered.

    Each float is an exact dyadic fraction (`as_integer_ratio`), so the sum is taken over integers
    with one common power-of-two denominator.
    """
    s, e = series.starts_us, series.ends_us
    end = start + d
    k0 = int(np.searchsorted(s, start, side="right")) - 1
    k1 = int(np.searchsorted(s, end, side="left"))
    if k0 < 0 or k1 <= k0:
        return None
    starts, ends = s[k0:k1].tolist(), e[k0:k1].tolist()
    if starts[0] > start or ends[-1] < end or any(a != b for a, b in zip(ends[:-1], starts[1:], strict=True)):
        return None  # a hole before, inside or after the window
    ratios = [v.as_integer_ratio() for v in series.values[k0:k1].tolist()]
    den = max(q for _, q in ratios)
    total = 0
    for (num, q), a, b in zip(ratios, starts, ends, strict=True):
        total += num * (den // q) * (min(b, end) - max(a, start))
    return Fraction(total, den)


@dataclass(frozen=True)
class Found:
    """Result of the search in microseconds: exact minimum integral, tied starts, candidate count."""

    minimum: Fraction | None
    tied: list[int]
    ranges: list[tuple[int, int]]
    candidates: int


def search(series: Series, lo: int, hi: int, d: int, prep: Prepared | None = None) -> Found:
    """Minimum window integral over covered starts in [lo, hi] (microseconds), exact ties."""
    if len(series) == 0 or hi < lo:
        return Found(None, [], [], 0)
    p = prep or Prepared.of(series)
    s, e, v, prefix, run_end = p.s, p.e, p.v, p.prefix, p.run_end
    n = len(s)
    # windows starting at a segment start k: the start's prefix is exact, only the end is searched
    k0, k1 = int(np.searchsorted(s, lo, "left")), int(np.searchsorted(s, hi, "right"))
    a = s[k0:k1]
    a_end = a + d
    a_ok = run_end[k0:k1] >= a_end
    j = np.minimum(np.searchsorted(e, a_end, side="left"), n - 1)
    a_val = prefix[j] + v[j] * (a_end - s[j]) - prefix[k0:k1]
    # windows ending at a segment end m: the end's prefix is exact, only the start is searched
    m0, m1 = int(np.searchsorted(e, lo + d, "left")), int(np.searchsorted(e, hi + d, "right"))
    b_end = e[m0:m1]
    b = b_end - d
    i = np.searchsorted(s, b, side="right") - 1
    ic = np.maximum(i, 0)
    b_ok = (i >= 0) & (b < e[ic]) & (run_end[ic] >= b_end)
    b_val = prefix[m0 + 1 : m1 + 1] - prefix[ic] - v[ic] * (b - s[ic])
    c = np.array(sorted({lo, hi}), dtype=np.int64)
    c_val, c_ok = p.integrals(c, d)
    parts = [(a[a_ok], a_val[a_ok]), (b[b_ok], b_val[b_ok]), (c[c_ok], c_val[c_ok])]
    count = sum(len(x) for x, _ in parts)
    if count == 0:
        return Found(None, [], [], 0)
    fmin = min(float(v.min()) for _, v in parts if len(v))
    # screening bound: a cumsum of n doubles is off by at most n * eps * sum|x|; 4x covers the
    # two prefixes and the products of a window integral
    tol = 4 * (len(s) + 2) * _EPS * max(float(p.prefix[-1]), 1.0)
    short = sorted({int(x) for cand, val in parts for x in cand[val <= fmin + tol]})
    exact = [(x, v) for x in short if (v := exact_integral(series, x, d)) is not None]
    if not exact:  # cannot happen while the float mask and the exact walk agree on coverage
        return Found(None, [], [], count)
    best = min(v for _, v in exact)
    tied = [x for x, v in exact if v == best]
    # merge neighbouring ties with no other candidate between them inside one gap-free run
    sorted_parts = [cand for cand, _ in parts]  # each part is sorted already
    ranges: list[tuple[int, int]] = []
    for x in tied:
        if ranges:
            first, last = ranges[-1]
            between = sum(
                int(np.searchsorted(arr, x, "left") - np.searchsorted(arr, last, "right")) for arr in sorted_parts
            )
            same_run = p.run_id[np.searchsorted(s, last, "right") - 1] == p.run_id[np.searchsorted(s, x, "right") - 1]
            if between == 0 and same_run:
                ranges[-1] = (first, x)
                continue
        ranges.append((x, x))
    return Found(best, tied, ranges, count)


def uncovered(series: Series, start: datetime, end: datetime) -> list[Span]:
    """Stretches of [start, end) that no segment covers."""
    a, b = to_us(start), to_us(end)
    s, e = series.starts_us, series.ends_us
    k0 = max(int(np.searchsorted(e, a, "right")), 0)
    k1 = int(np.searchsorted(s, b, "left"))
    if k1 <= k0:
        return [Span(start=start, end=end)] if b > a else []
    out: list[tuple[int, int]] = []
    if s[k0] > a:
        out.append((a, int(s[k0])))
    inner = np.nonzero(s[k0 + 1 : k1] > e[k0 : k1 - 1])[0] + k0
    out += [(int(e[k]), int(s[k + 1])) for k in inner]
    if e[k1 - 1] < b:
        out.append((int(e[k1 - 1]), b))
    return [Span(start=from_us(x), end=from_us(y)) for x, y in out]


def saving_between(
    run_now: float | None,
    chosen: float | None,
    energy_kwh: float | None = None,
    energy_source: str | None = None,
) -> Saving | None:
    """Saving of `chosen` against `run_now` (both g/kWh); None when either is unknown."""
    if run_now is None or chosen is None:
        return None
    g = run_now - chosen
    return Saving(
        g_per_kwh=g,
        fraction=g / run_now if run_now > 0 else None,
        co2e_kg=None if energy_kwh is None else energy_kwh * g / 1000.0,
        energy_kwh=energy_kwh,
        energy_source=energy_source if energy_kwh is not None else None,
    )


def sources_of(series: Series) -> tuple[str, ...]:
    """Distinct provider/kind/signal of the figures behind a series, for provenance."""
    return tuple(
        dict.fromkeys(
            f"{p.provider} {p.kind} {p.signal.value}" + (f" ({p.source})" if p.source else "")
            for p in (*series.points, *series.flat_points)
        )
    )


def run_now_window(series: Series, duration: timedelta, not_before: datetime) -> Window | None:
    """The job started at not_before, or None when the data does not cover it."""
    d = duration // timedelta(microseconds=1)
    v = exact_integral(series, to_us(not_before), d) if len(series) else None
    if v is None:
        return None
    return Window(zone=series.zone, start=not_before, end=not_before + duration, mean_g_per_kwh=float(v / d))


def best_window(
    series: Series,
    duration: timedelta,
    not_before: datetime,
    deadline: datetime | None = None,
    *,
    energy_kwh: float | None = None,
    energy_source: str | None = None,
    prepared: Prepared | None = None,
) -> WindowSearch:
    """The start in [not_before, deadline - duration] with the lowest time-weighted mean intensity.

    Only windows the series covers entirely are candidates. Without a deadline every covered start
    from not_before on is considered. Raises DeadlineTooTight when the job cannot fit at all. A
    series with only flat annual figures (left out by `Series.from_points`) gets basis `annual`:
    time shifting cannot be judged. `prepared` reuses `Prepared.of(series)` across searches.
    """
    if duration <= timedelta(0):
        raise InputError(Problem("the job's duration must be positive", source="schedule", field_path="duration"))
    check_deadline(not_before, deadline, duration)
    zone = series.zone
    common = {
        "zone": zone,
        "duration_s": duration.total_seconds(),
        "not_before": not_before,
        "deadline": deadline,
        "sources": sources_of(series),
    }
    if len(series) == 0:
        note = (
            "only flat annual figures: time shifting cannot be judged without a forecast"
            if series.dropped_flat
            else "no intensity figures for this zone"
        )
        return WindowSearch(
            **common, basis="annual" if series.dropped_flat else "none", best=None, run_now=None, notes=(note,)
        )
    d = duration // timedelta(microseconds=1)
    lo = to_us(not_before)
    data_start, data_end = int(series.starts_us[0]), int(series.ends_us[-1])
    hi = to_us(deadline) - d if deadline is not None else data_end - d
    found = search(series, lo, hi, d, prepared)

    notes: list[str] = []
    horizon_end = deadline if deadline is not None else max(from_us(data_end), not_before + duration)
    gaps = uncovered(series, not_before, horizon_end)
    if series.dropped_flat:
        notes.append(f"{series.dropped_flat} flat annual figure(s) left out: an annual average is not a forecast")
    if deadline is not None and to_us(deadline) > data_end:
        notes.append(
            f"the data ends at {fmt_time(from_us(data_end))}: starts after {fmt_time(from_us(data_end - d))} "
            "would need figures past its end and are not candidates"
        )
    if lo < data_start:
        notes.append(f"the data starts at {fmt_time(from_us(data_start))}: earlier starts are not candidates")
    inner = [g for g in gaps if to_us(g.start) >= data_start and to_us(g.end) <= data_end]
    if inner:
        notes.append(f"{len(inner)} gap(s) inside the data: windows overlapping them are not candidates")
    run_now = run_now_window(series, duration, not_before)
    if run_now is None:
        notes.append("the data does not cover a run started at not-before: no run-now figure, no saving")
    best = None
    ties: list[Tie] = []
    if found.minimum is not None:
        mean = float(found.minimum / d)
        s0 = from_us(found.tied[0])
        best = Window(zone=zone, start=s0, end=s0 + duration, mean_g_per_kwh=mean)
        ties = [Tie(start=from_us(a), latest_start=from_us(b), mean_g_per_kwh=mean) for a, b in found.ranges]
    else:
        notes.append(f"no window of {fmt_duration(duration)} in the allowed range is fully covered by the data")
    return WindowSearch(
        **common,
        basis="forecast",
        best=best,
        run_now=run_now,
        ties=tuple(ties),
        saving=saving_between(
            run_now.mean_g_per_kwh if run_now else None,
            best.mean_g_per_kwh if best else None,
            energy_kwh,
            energy_source,
        ),
        candidates=found.candidates,
        uncovered=tuple(gaps),
        notes=tuple(notes),
    )
