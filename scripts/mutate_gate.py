"""Mutation run over the gate: `python scripts/mutate_gate.py [--limit N]` (several minutes).

Each mutant changes one operator on one line of `carbonguard/gate.py` (`==`/`!=`, `<`/`<=`,
`and`/`or`, a dropped `not`, `+ 1`/`- 1`, `max`/`min`) in a copy of the repository, and runs the
gate's tests against it (tests/gate, tests/test_rules.py, tests/pipeline). A mutant is killed when
any test fails. Survivors are printed for a person to judge: each is either a test to add or a
mutation that cannot change a decision (say which in the closing note).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = Path("carbonguard/gate.py")
TESTS = ["tests/gate", "tests/test_rules.py", "tests/pipeline", "tests/matching/test_gate_wiring.py"]
OPERATORS = [(" != ", " == "), (" == ", " != "), (" < ", " <= "), (" > ", " >= "), (" >= ", " > "),
             (" <= ", " < "), (" and ", " or "), (" or ", " and "), ("not ", ""), (" + 1", " - 1"),
             ("max(", "min("), ("is None", "is not None"), ("is not None", "is None")]


def mutants(lines: list[str]):
    for i, line in enumerate(lines):
        text = line.strip()
        if not text or text.startswith(("#", "import", "from", "def ", "@", '"""', "class ")):
            continue
        for old, new in OPERATORS:
            if old in line:
                yield i, old, line.replace(old, new, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="stop after N mutants (0: all)")
    args = parser.parse_args()
    lines = (REPO / TARGET).read_text().splitlines(keepends=True)
    with tempfile.TemporaryDirectory(prefix="cg-mutate-") as tmp:
        work = Path(tmp)
        for part in ("carbonguard", "tests", "policies", "pyproject.toml", "docs"):
            src = REPO / part
            (shutil.copytree if src.is_dir() else shutil.copy)(src, work / part)
        killed, survived = 0, []
        for n, (i, old, mutated) in enumerate(mutants(lines), 1):
            if args.limit and n > args.limit:
                break
            (work / TARGET).write_text("".join([*lines[:i], mutated, *lines[i + 1:]]))
            result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *TESTS],
                                    cwd=work, capture_output=True, text=True)
            if result.returncode == 0:
                survived.append(f"{TARGET}:{i + 1}: {old.strip()!r} -> {mutated.strip()}")
            else:
                killed += 1
        (work / TARGET).write_text("".join(lines))
    print(f"{killed} killed, {len(survived)} survived")
    for line in survived:
        print("SURVIVED", line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
