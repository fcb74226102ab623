"""Best-window search: a year of 5-minute points (105,120) and a 24 h job.

    python benchmarks/scheduling.py [--repeats 7] [--naive-repeats 1] [--seed 1]

Target (docs/scheduling.md): <= 50 ms median for `best_window` on the year. Measured side by side
in the same run against the straightforward O(n x w) search (for every start, add up the 288
figures under the window). Prints medians and their ratio, plus the one-off preparation time
(`Prepared.of`: prefix sums and run ends) and the search with a prepared series. Both searches
must find the same window, or the script exits 1.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carbonguard.scheduling.reference import naive_float_search
from carbonguard.scheduling.series import Series, to_us
from carbonguard.scheduling.window import Prepared, best_window

TARGET_MS = 50.0
POINTS = 105_120  # 365 days x 288 five-minute steps
STEP_S = 300


def year_of_values(seed: int) -> list[float]:
    """A daily cycle, weather-like drift and noise, rounded to 0.1 g/kWh (as providers publish)."""
    import math

    rng = random.Random(seed)
    drift, out = 0.0, []
    for k in range(POINTS):
        drift = 0.999 * drift + rng.gauss(0, 2)
        day = 80 * math.sin(2 * math.pi * (k % 288) / 288)
        out.append(round(max(5.0, 250 + day + drift + rng.gauss(0, 10)), 1))
    return out


def median_ms(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--naive-repeats", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    start = datetime(2023, 1, 1, tzinfo=timezone.utc)
    series = Series.regular("X", start, STEP_S, year_of_values(args.seed))
    job = timedelta(hours=24)

    fast_ms, fast = median_ms(lambda: best_window(series, job, start), args.repeats)
    prep_ms, prepared = median_ms(lambda: Prepared.of(series), args.repeats)
    warm_ms, _ = median_ms(lambda: best_window(series, job, start, prepared=prepared), args.repeats)
    lists = (series.starts_us.tolist(), series.ends_us.tolist(), series.values.tolist())
    d_us = job // timedelta(microseconds=1)
    naive_ms, naive = median_ms(lambda: naive_float_search(*lists, d_us), args.naive_repeats)

    best = fast.best  # type: ignore[attr-defined]
    print(f"series: {len(series):,} points of {STEP_S} s; job {job}; candidates {fast.candidates:,}")  # type: ignore[attr-defined]
    print(f"best_window (fast, O(n))        median {fast_ms:9.1f} ms over {args.repeats} runs"
          f"  [target <= {TARGET_MS:.0f} ms: {'met' if fast_ms <= TARGET_MS else 'MISSED'}]")
    print(f"  of which Prepared.of          median {prep_ms:9.1f} ms; search on a prepared series {warm_ms:.1f} ms")
    print(f"straightforward O(n x w) search median {naive_ms:9.1f} ms over {args.naive_repeats} run(s)")
    print(f"ratio O(n x w) / fast: {naive_ms / fast_ms:,.0f}x")
    same = naive[1] == to_us(best.start) and abs(naive[0] - best.mean_g_per_kwh) < 1e-6
    print(f"best window: {best.start:%Y-%m-%dT%H:%MZ} mean_g_per_kwh {best.mean_g_per_kwh:.4f}; "
          f"O(n x w) found {'the same window' if same else 'a DIFFERENT window'}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
