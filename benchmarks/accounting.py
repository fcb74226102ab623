"""Hourly accounting against an hourly series: time per hour must stay flat (linear in hours x stages).

Prices one stage spanning N hours against N hourly points for N = 168 (a week), 1,000 and 8,760 (a
year), plus the same year split into 24 stages, and prints medians side by side with the time per
record-hour piece, so quadratic behaviour shows as a growing per-piece cost. Target (issue 10): a
year in <= 0.2 s on a quiet two-core machine.

Run: python benchmarks/accounting.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime, timedelta, timezone

from carbonguard.accounting import compute_footprint
from carbonguard.models import ComponentEnergy, IntensityPoint, Origin, StageRecord

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def series(hours: int) -> list[IntensityPoint]:
    return [IntensityPoint(zone="DE", start=T0 + timedelta(hours=h), duration_s=3600,
                           intensity_g_per_kwh=100.0 + h % 50, provider="bench", origin=Origin.LIVE)
            for h in range(hours)]


def stages(hours: int, count: int) -> list[StageRecord]:
    step = timedelta(hours=hours) / count
    return [StageRecord(run_id="r", flow_name="bench", stage=f"s{i}", start=T0 + i * step, end=T0 + (i + 1) * step,
                        host="h", pid=1, components=(ComponentEnergy(component="gpu", device="g", method="counter",
                                                                     energy_kwh=1.0, source="bench"),))
            for i in range(count)]


def median_s(records: list[StageRecord], points: list[IntensityPoint], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        compute_footprint(records, run_id="r", zone="DE", pue=1.1, points=points)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'hours':>6} {'stages':>6} {'median_s':>9} {'us_per_piece':>12}")
    for hours, count in ((168, 1), (1_000, 1), (8_760, 1), (8_760, 24)):
        s = median_s(stages(hours, count), series(hours), args.repeats)
        print(f"{hours:>6} {count:>6} {s:>9.3f} {s / hours * 1e6:>12.1f}")


if __name__ == "__main__":
    main()
