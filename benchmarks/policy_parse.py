"""Cost of refusing an oversized policy: the node limit applied while composing vs after.

    python benchmarks/policy_parse.py [--repeats 5] [--full-repeats 1]

A ~1 MB policy whose `candidate_zones` list holds ~400k nodes is refused by the node limit. Before
the limit moved into the composer, PyYAML composed the whole document first (seconds, hundreds of
MB) and only then did the builder count nodes. This prints, side by side in one run, the median
time and the peak traced memory of (a) `load_located` today and (b) a full PyYAML compose of the same
text (what the old code paid before refusing), and their ratio. Target: refused in well under 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carbonguard.errors import InputError
from carbonguard.policy.yamlsafe import MAX_BYTES, MAX_NODES, load_located

HEADER = """apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {name: big, version: "1"}
spec:
  location: {zone: DE}
  pue: 1.2
  scheduling:
    candidate_zones: ["""


def big_policy() -> str:
    room = MAX_BYTES - len(HEADER) - 4
    items = "1," * (room // 2)
    return HEADER + items.rstrip(",") + "]\n"


def refuse(text: str) -> None:
    try:
        load_located(text, "big.yaml")
    except InputError:
        return
    raise AssertionError("the big policy was not refused")


def full_compose(text: str) -> None:
    yaml.compose(text, Loader=yaml.SafeLoader)


def timed(fn, text: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_mb(fn, text: str) -> float:
    tracemalloc.start()
    fn(text)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--full-repeats", type=int, default=1, help="repeats of the slow full compose")
    args = parser.parse_args()
    text = big_policy()
    nodes = text.count(",") + 1
    print(f"policy: {len(text.encode()) / 1e6:.2f} MB, ~{nodes} list nodes, node limit {MAX_NODES}")
    refused_s = timed(refuse, text, args.repeats)
    full_s = timed(full_compose, text, args.full_repeats)
    refused_mb, full_mb = peak_mb(refuse, text), peak_mb(full_compose, text)
    print(f"refused while composing: median {refused_s:.3f} s, peak {refused_mb:.1f} MB "
          f"({args.repeats} runs)")
    print(f"full compose (old path): median {full_s:.3f} s, peak {full_mb:.1f} MB ({args.full_repeats} runs)")
    print(f"ratio: {full_s / refused_s:.0f}x faster, {full_mb / max(refused_mb, 0.001):.0f}x less memory; "
          f"target refused < 1 s: {'met' if refused_s < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
