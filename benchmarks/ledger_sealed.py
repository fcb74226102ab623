"""Ledgers as `append` writes them: every record sealed by its own checkpoint, half the rows signed.

    python benchmarks/ledger.py --sealed [--sizes 1000000] [--repeats 3] [--postgres URL] [--big-run]

The ledgers of `--scale` are bulk-written with a checkpoint every 100 records, as one long
transaction writes them. A ledger written by `append` (what `@metered`, `carbonguard meter` and
the gate write: one sealed transaction per record) holds a checkpoint after every record, so half
its rows carry an Ed25519 signature. Verification used to check every one of them; it now checks
the one that covers each stretch of the chain (docs/ledger.md, "Verifying"). This prints both,
interleaved in one run, on ledgers of that shape (cached under the temp directory like the
others; `--fresh` rebuilds):

* `audit verify` in one process, on each store: "before" checks every signature
  (`--every-signature`), "now" the covering ones;
* `--big-run`: the gate of one run of 99,000 stages, each sealed (198,000 records, SQLite), on a
  fresh copy each time: "before" checks every signature of its span, "now" the covering ones.

Each measure runs in a child process of its own (`ledger_scale.child_main`), so RSS is its own
and wall time includes the interpreter start, as for the commands.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from pathlib import Path

from ledger_scale import CACHE, TARGETS, _build, _child, _fmt, bench_setup, gate_rounds

SEALED_EVERY = 2  # a checkpoint after every record: `generate`'s seq 2, 4, 6, ... as `append` seals
BIG_RUN_STAGES = 99_000


def run_sealed(sizes: list[int], repeats: int, pg_url: str | None, fresh: bool, generate: Callable,
               big_run: bool) -> list[tuple[str, str, float, float, str]]:
    signer, policy, env = bench_setup()
    rows: list[tuple[str, str, float, float, str]] = []
    med = statistics.median
    for size in sizes:
        for store, url in _build(size, pg_url, fresh, generate, signer, kind="sealed",
                                 every=SEALED_EVERY).items():
            ver: dict[str, tuple[list[float], list[float]]] = {m: ([], []) for m in ("every", "now")}
            for _ in range(repeats):  # interleaved: both meet the same load
                for mode in ver:
                    _, mb, out = _child(["verify", url, mode], env)
                    ver[mode][0].append(float(out))
                    ver[mode][1].append(mb)
            what = f"audit verify, 1 process, {store}, written by append"
            rows.append((f"{what}: records/s", f"{size:,}", med(ver["every"][0]), med(ver["now"][0]),
                         f">= {TARGETS['verify']:,.0f}"))
            rows.append((f"{what}: peak RSS MB", f"{size:,}", med(ver["every"][1]), med(ver["now"][1]),
                         f"<= {TARGETS['verify_mb']:.0f}"))
    if big_run:
        url = str(CACHE / "one-run-sealed.db")
        marker = CACHE / f"ready-one-run-sealed-{signer.key_id[:8]}"
        if not marker.exists() or fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(url + suffix).unlink(missing_ok=True)
            generate(url, 2 * BIG_RUN_STAGES + 2, signer, every=SEALED_EVERY, run_size=10**9)  # stages at odd seqs
            marker.touch()
        big = gate_rounds(url, ("every", "now"), repeats, policy, env)
        what = "gate, 99,000-stage run written by append, SQLite"
        size_text = f"{2 * BIG_RUN_STAGES + 2:,}"
        rows.append((f"{what}: wall s", size_text, med(big["every"][0]), med(big["now"][0]),
                     f"<= {TARGETS['gate_big_s']}"))
        rows.append((f"{what}: CPU s", size_text, med(big["every"][2]), med(big["now"][2]), "-"))
        rows.append((f"{what}: peak RSS MB", size_text, med(big["every"][1]), med(big["now"][1]),
                     f"<= {TARGETS['gate_big_mb']:.0f}"))
    return rows


def print_rows(rows: list[tuple[str, str, float, float, str]], repeats: int) -> None:
    print(f"ledgers written by append (a checkpoint after every record); medians of {repeats} runs, "
          f"interleaved; {os.cpu_count()} CPUs; load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    print("before: every checkpoint signature verified; now: the covering signature of each stretch")
    width = max(46, *(len(r[0]) for r in rows))
    print(f"{'measure':<{width}} {'ledger':>10} {'before':>11} {'now':>11} {'target':>10}")
    for name, size_text, before, now, target in rows:
        print(f"{name:<{width}} {size_text:>10} {_fmt(before):>11} {_fmt(now):>11} {target:>10}")
