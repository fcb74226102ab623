"""The scale issue's targets that are not about the ledger, measured in this run beside each target.

`python benchmarks/ledger.py --scale` prints these after the ledger table (skip them with
`--no-other-targets`); `python benchmarks/scale_targets.py` prints them alone. Each figure comes from
the benchmark that owns it, with fewer repetitions than its own full run:

- hourly accounting of 8,760 hours against an hourly series (benchmarks/accounting.py);
- the warm measurement window, interleaved with CodeCarbon's `start_task`+`stop_task` when CodeCarbon
  is installed (benchmarks/meter_overhead.py);
- `carbonguard intensity DE` and `policy validate` start-up, beside `python -c pass`
  (benchmarks/cli_start.py).

Medians throughout; wall times move with the machine's load, printed with the table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import accounting
import cli_start
import meter_overhead

Row = tuple[str, str, str, bool | None]


def measure(rounds: int = 9) -> list[Row]:
    """(measure, figure, target, met) rows; met is None where nothing could be measured."""
    rows: list[Row] = []
    year_s = accounting.median_s(accounting.stages(8_760, 1), accounting.series(8_760), 5)
    rows.append(("hourly accounting, 8,760 h x 1 stage: median s", f"{year_s:.3f}", "<= 0.2", year_s <= 0.2))
    warm = meter_overhead.bench_warm(blocks=20, per_block=50)
    ours = float(warm["warm_window_us"] or 0.0)
    rows.append(("warm measurement window: median us", f"{ours:.2f}", "<= 10", ours <= 10.0))
    theirs = warm.get("codecarbon_task_us")
    if theirs is None:
        rows.append(("CodeCarbon start_task+stop_task / ours (interleaved)", "not installed", ">= 25x", None))
    else:
        rows.append(("CodeCarbon start_task+stop_task / ours (interleaved)", f"{theirs / ours:.0f}x", ">= 25x",
                     theirs / ours >= 25))
    cases = {name: cli_start.CASES[name] for name in (
        "python -c pass", "carbonguard intensity DE", "carbonguard policy validate example-train")}
    walls: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):  # interleaved round by round
        for name, argv in cases.items():
            walls[name].append(cli_start.run_once(argv, cli_start.REPO)[0])
    for name in cases:
        ms = statistics.median(walls[name]) * 1e3
        target = cli_start.TARGETS_MS.get(name)
        rows.append((f"{name}: median wall ms", f"{ms:.0f}", "-" if target is None else f"<= {target:.0f}",
                     None if target is None else ms <= target))
    return rows


def print_rows(rows: list[Row]) -> None:
    print(f"\nother targets of the scale issue (load average {os.getloadavg()[0]:.1f})")
    print(f"{'measure':<58} {'figure':>14} {'target':>9}  met")
    for name, figure, target, met in rows:
        print(f"{name:<58} {figure:>14} {target:>9}  {'-' if met is None else 'yes' if met else 'NO'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="start-up rounds (each command once per round)")
    print_rows(measure(parser.parse_args().rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
