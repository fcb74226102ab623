"""How fast the CLI answers, against the interpreter's own start-up, measured side by side in one run.

    python benchmarks/cli_start.py [--rounds N]

Runs, interleaved round by round so machine load hits all alike: `python -c pass`,
`carbonguard --version`, `carbonguard estimate examples/jobs/train-small.yaml` and `carbonguard check`
of that job spec against policies/ci-budget.yaml with itself as the baseline, each in a fresh
process (`python -m carbonguard`, so no console-script wrapper is timed). Prints the median wall
time of each and its ratio to `python -c pass`. Bytecode caching is on for the children, as it is
for an installed package. Target (issue 13): a budget check on a small job
spec within 0.5 s wall on a CI runner, and never importing Prefect.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "carbonguard --version": [sys.executable, "-m", "carbonguard", "--version"],
    "carbonguard estimate train-small": [sys.executable, "-m", "carbonguard", "estimate",
                                         "examples/jobs/train-small.yaml"],
    "carbonguard check train-small": [sys.executable, "-m", "carbonguard", "check", "--policy",
                                      "policies/ci-budget.yaml", "--jobspec", "examples/jobs/train-small.yaml",
                                      "--baseline", "examples/jobs/train-small.yaml", "-o", "json=/dev/null"],
}


# An installed package has its .pyc files; measure that, not recompiling every module on each start
# (which PYTHONDONTWRITEBYTECODE in the caller's environment would otherwise force).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall_s(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, cwd=REPO, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for argv in CASES.values():  # warm the OS file cache and .pyc files once
        wall_s(argv)
    for _ in range(args.rounds):
        for name, argv in CASES.items():
            samples[name].append(wall_s(argv))
    base = statistics.median(samples["python -c pass"])
    print(f"python {sys.version.split()[0]}, {args.rounds} rounds, interleaved; median wall time")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"  {name:34s} {median * 1000:7.1f} ms  ({median / base:5.1f}x python -c pass, "
              f"+{(median - base) * 1000:6.1f} ms)")
    for name in ("estimate", "check"):
        median = statistics.median(samples[f"carbonguard {name} train-small"])
        print(f"target: {name} <= 500 ms: {'met' if median <= 0.5 else 'NOT met'} ({median * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
