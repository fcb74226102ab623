"""What `carbonguard policy validate` costs layer by layer, beside what its libraries cost alone.

    python benchmarks/policy_validate_floor.py [--rounds N]

The scale issue asks for `policy validate` within 150 ms wall. This prints where that time goes, as a
ladder of fresh interpreters timed interleaved round by round (so machine load hits all alike), each
rung adding one layer to the one above it:

1. `python -c pass`;
2. pydantic's model machinery imported (`from pydantic import BaseModel, Field`);
3. one one-field model built and validated: pydantic's first validator build, which looks up plugins
   (`importlib.metadata` and an entry-point scan of every installed distribution);
4. the same with that lookup replaced by an empty one, in this benchmark's child only, to show what
   the lookup alone costs (carbonguard does not do this: it is pydantic's private module);
5. rung 3 plus `yaml` and `argparse`, the command's other libraries: the floor of any
   pydantic-validated YAML command, before a line of carbonguard runs;
6. `argparse` and `carbonguard.policy` imported and `load_policy` of the file: the policy schema's
   model classes and the located YAML reader;
7. the command itself through `carbonguard.cli.main.main`, in the interpreter (no `-m`);
8. `python -m carbonguard policy validate FILE`, as benchmarks/cli_start.py times it;
9. rung 7 with pydantic's plugin lookup stubbed as in rung 4: what the command would take without it.

Median wall and median CPU (user + system of the child) of each, and each rung's increment over the
one before (rungs 4 and 9 are compared with rungs 3 and 7). Bytecode caching is on, as for an installed package.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cli_start

POLICY = "policies/example-train.yaml"
_NO_PLUGIN_LOOKUP = ("import sys, types\n"
                     "stub = types.ModuleType('pydantic.plugin._loader')\n"
                     "stub.get_plugins = lambda: ()\n"
                     "sys.modules['pydantic.plugin._loader'] = stub\n")
_ONE_MODEL = ("from pydantic import BaseModel, Field\n"
              "class One(BaseModel):\n"
              "    x: int = Field(gt=0)\n"
              "One.model_validate({'x': 1})\n")
_PY = sys.executable
RUNGS: dict[str, list[str]] = {
    "python -c pass": [_PY, "-c", "pass"],
    "pydantic BaseModel, Field imported": [_PY, "-c", "from pydantic import BaseModel, Field"],
    "+ one model built and validated": [_PY, "-c", _ONE_MODEL],
    "  (same, pydantic's plugin lookup stubbed)": [_PY, "-c", _NO_PLUGIN_LOOKUP + _ONE_MODEL],
    "+ yaml, argparse imported": [_PY, "-c", _ONE_MODEL + "import argparse, yaml\n"],
    "+ carbonguard.policy: load_policy(FILE)": [
        _PY, "-c", f"import argparse\nfrom carbonguard.policy import load_policy\nload_policy({POLICY!r})\n"],
    "+ cli main(['policy', 'validate', FILE])": [
        _PY, "-c", f"import sys\nfrom carbonguard.cli.main import main\n"
        f"sys.exit(main(['policy', 'validate', {POLICY!r}]))\n"],
    "python -m carbonguard policy validate FILE": [*cli_start.CG, "policy", "validate", POLICY],
    "  (rung 7, pydantic's plugin lookup stubbed)": [
        _PY, "-c", _NO_PLUGIN_LOOKUP + "from carbonguard.cli.main import main\n"
        f"sys.exit(main(['policy', 'validate', {POLICY!r}]))\n"],
}
_COMPARE_WITH = {"  (same, pydantic's plugin lookup stubbed)": "+ one model built and validated",
                 "  (rung 7, pydantic's plugin lookup stubbed)": "+ cli main(['policy', 'validate', FILE])",
                 "+ yaml, argparse imported": "+ one model built and validated"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    walls: dict[str, list[float]] = {name: [] for name in RUNGS}
    cpus: dict[str, list[float]] = {name: [] for name in RUNGS}
    for argv in RUNGS.values():  # warm the OS file cache and write the .pyc files once
        cli_start.run_once(argv, cli_start.REPO)
    for _ in range(args.rounds):
        for name, argv in RUNGS.items():
            wall, cpu = cli_start.run_once(argv, cli_start.REPO)
            walls[name].append(wall)
            cpus[name].append(cpu)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.rounds} rounds, interleaved; "
          f"load average {os.getloadavg()[0]:.2f} at the end; policy {POLICY}")
    previous: str | None = None
    for name in RUNGS:
        wall_ms = statistics.median(walls[name]) * 1e3
        cpu_ms = statistics.median(cpus[name]) * 1e3
        line = f"  {name:46s} wall {wall_ms:7.1f} ms  cpu {cpu_ms:7.1f} ms"
        base = _COMPARE_WITH.get(name, previous)
        if base is not None:
            line += (f"  ({wall_ms - statistics.median(walls[base]) * 1e3:+6.1f} ms wall, "
                     f"{cpu_ms - statistics.median(cpus[base]) * 1e3:+6.1f} ms cpu)")
        print(line)
        if not name.startswith("  "):
            previous = name
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
