"""The straightforward O(n x w) search, the reference the fast search is tested and benchmarked
against. Not used by carbonguard itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from carbonguard.scheduling.series import Series
from carbonguard.scheduling.window import exact_integral


def brute_force(series: Series, d_us: int, starts_us: Iterable[int]) -> tuple[Fraction | None, list[int]]:
    """Exact minimum mean over the given starts (walking every window) and every start attaining it."""
    best: Fraction | None = None
    tied: list[int] = []
    for s in sorted(set(starts_us)):
        v = exact_integral(series, s, d_us)
        if v is None:
            continue
        m = v / d_us
        if best is None or m < best:
            best, tied = m, [s]
        elif m == best:
            tied.append(s)
    return best, tied


def naive_float_search(starts_us: list[int], ends_us: list[int], values: list[float], d_us: int) -> tuple[float, int]:
    """The plain float loop a first implementation would write (the benchmark's baseline): for each
    segment start, add up value x overlap of every segment under the window. O(n x w).
    """
    n = len(starts_us)
    best, best_s = float("inf"), -1
    for k in range(n):
        s = starts_us[k]
        e = s + d_us
        total = 0.0
        j = k
        while j < n and starts_us[j] < e:
            if j > k and starts_us[j] != ends_us[j - 1]:
                break
            total += values[j] * (min(ends_us[j], e) - starts_us[j])
            j += 1
        else:
            if ends_us[j - 1] >= e and total < best:
                best, best_s = total, s
    return best / d_us, best_s
