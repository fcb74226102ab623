"""How fast the CLI answers, against the interpreter's own start-up, measured side by side in one run.

    python benchmarks/cli_start.py [--rounds N] [--before PATH]

Runs, interleaved round by round so machine load hits all alike: `python -c pass`,
`carbonguard --version`, `carbonguard intensity DE`, `carbonguard policy validate
policies/ci-budget.yaml` (and `policies/example-train.yaml`), `carbonguard estimate
examples/jobs/train-small.yaml` and `carbonguard check` of that job spec against policies/ci-budget.yaml
with itself as the baseline, each in a fresh process (`python -m carbonguard`, so no console-script
wrapper is timed). Prints the median wall time and the median CPU time (user + system) of each and
its ratio to `python -c pass`.

`--before PATH` names another checkout of carbonguard (e.g. `git worktree add ../before HEAD~3`):
each command then also runs there (as the working directory, which `python -m` imports from first;
same interpreter, same round, that checkout's own policy and job files), and the before and now
medians print side by side with their ratio.

Bytecode caching is on for the children, as it is for an installed package. Targets: a budget check
on a small job spec within 0.5 s wall on a CI runner, never importing Prefect (issue 13);
`intensity DE` and `policy validate` within 150 ms wall (scale issue).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CG = [sys.executable, "-m", "carbonguard"]
CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "carbonguard --version": [*CG, "--version"],
    "carbonguard intensity DE": [*CG, "intensity", "DE"],
    "carbonguard policy validate ci-budget": [*CG, "policy", "validate", "policies/ci-budget.yaml"],
    "carbonguard policy validate example-train": [*CG, "policy", "validate", "policies/example-train.yaml"],
    "carbonguard estimate train-small": [*CG, "estimate", "examples/jobs/train-small.yaml"],
    "carbonguard check train-small": [*CG, "check", "--policy", "policies/ci-budget.yaml", "--jobspec",
                                      "examples/jobs/train-small.yaml", "--baseline",
                                      "examples/jobs/train-small.yaml", "-o", "json=/dev/null"],
}
TARGETS_MS = {
    "carbonguard intensity DE": 150.0,
    "carbonguard policy validate ci-budget": 150.0,
    "carbonguard policy validate example-train": 150.0,
    "carbonguard estimate train-small": 500.0,
    "carbonguard check train-small": 500.0,
}

# An installed package has its .pyc files; measure that, not recompiling every module on each start
# (which PYTHONDONTWRITEBYTECODE in the caller's environment would otherwise force).
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}


def run_once(argv: list[str], tree: str) -> tuple[float, float]:
    """(wall s, CPU s of the child) for one run of `argv` in `tree` (`python -m` imports from there)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(argv, cwd=tree, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--before", metavar="PATH", help="another carbonguard checkout to time beside this one")
    args = parser.parse_args()
    trees = {"now": REPO}
    if args.before:
        trees = {"before": os.path.abspath(args.before), "now": REPO}
    walls: dict[tuple[str, str], list[float]] = {(n, t): [] for n in CASES for t in trees}
    cpus: dict[tuple[str, str], list[float]] = {(n, t): [] for n in CASES for t in trees}
    for argv in CASES.values():  # warm the OS file cache and write the .pyc files once
        for tree in trees.values():
            run_once(argv, tree)
    for _ in range(args.rounds):
        for name, argv in CASES.items():
            for label, tree in trees.items():
                wall, cpu = run_once(argv, tree)
                walls[name, label].append(wall)
                cpus[name, label].append(cpu)
    base = statistics.median(walls["python -c pass", "now"])
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.rounds} rounds, interleaved; "
          f"load average {os.getloadavg()[0]:.2f} at the end")
    for name in CASES:
        for label in trees:
            wall_ms = statistics.median(walls[name, label]) * 1000
            cpu_ms = statistics.median(cpus[name, label]) * 1000
            tag = f"[{label}] " if args.before else ""
            print(f"  {tag}{name:40s} wall {wall_ms:7.1f} ms  cpu {cpu_ms:7.1f} ms  "
                  f"({wall_ms / 1000 / base:4.1f}x python -c pass, +{wall_ms - base * 1000:6.1f} ms)")
        if args.before and name != "python -c pass":
            was, now = (statistics.median(walls[name, t]) for t in ("before", "now"))
            was_cpu, now_cpu = (statistics.median(cpus[name, t]) for t in ("before", "now"))
            print(f"    now/before: wall {now / was:.2f}x, cpu {now_cpu / was_cpu:.2f}x")
    for name, limit_ms in TARGETS_MS.items():
        median_ms = statistics.median(walls[name, "now"]) * 1000
        print(f"target: {name} <= {limit_ms:.0f} ms wall: {'met' if median_ms <= limit_ms else 'NOT met'} "
              f"({median_ms:.0f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
