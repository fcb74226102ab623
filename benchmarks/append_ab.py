"""Durable appends, two ways side by side, and where a SQLite append's time goes.

    python benchmarks/append_ab.py NAME=CODE_DIR=URL NAME=CODE_DIR=URL ... [--appends 300] [--repeats 12]
    python benchmarks/append_ab.py --parts URL [--appends 300] [--repeats 8]

The first form compares ways of appending: each NAME appends `--appends` signed stage records
(each its own durable, sealed transaction, as `Ledger.append` writes it) to URL with the carbonguard
package found in CODE_DIR (e.g. the previous commit's, from `git archive`), in a child process of
its own. Runs are interleaved (A B A B ...), so all meet the same load; medians and the median of
the per-round ratios to the first NAME are printed. Comparing index layouts means a copy of the
ledger in each layout (an old layout is migrated by the first writable open of newer code).

`--parts` splits an append's cost. SQLite: the benchmark's way (the WAL starts empty, as after
every open of a ledger that no other connection holds, and SQLite checkpoints it every 1,000
pages); a WAL already grown to the run's length (no file growth); that with no checkpoint during
the run (all durable, synchronous=FULL); and synchronous=OFF (the CPU alone, not durable).
PostgreSQL: durable, and with `synchronous_commit = off` for the session (the CPU and the round
trip without the WAL flush; not durable, for the bound only).

Printed per run: appends/s (wall), CPU us per append (this process: `time.process_time`), for a
PostgreSQL server on this host its backend's CPU us per append (`/proc/PID/stat`), and for SQLite
the WAL frames (pages) each commit wrote, read from the WAL index header's mxFrame counter (offset
16 of the `-shm` file, SQLite's documented WAL-index format).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def _frames(url: str) -> int:
    with open(url + "-shm", "rb") as f:
        f.seek(16)
        return struct.unpack("=I", f.read(4))[0]


def child(code: str, url: str, count: int, wal: str) -> dict[str, float]:
    """One run in this process: `count` sealed appends, after one untimed append (schema, keys)."""
    sys.path[:0] = [code, str(BENCH)]
    # carbonguard first, from `code`: benchmarks/ledger.py puts this checkout first on the path
    import carbonguard
    from carbonguard.ledger import open_ledger
    from carbonguard.ledger.keys import load_signer

    stage_payload = importlib.import_module("ledger").stage_payload
    if Path(carbonguard.__file__).resolve().parents[1] != Path(code).resolve():
        raise SystemExit(f"imported {carbonguard.__file__}, not the code in {code}")

    signer = load_signer(Path(os.environ["CARBONGUARD_SIGNING_KEY"]))
    payloads = [stage_payload(i) for i in range(count)]
    sqlite = not url.startswith("postgres")
    with open_ledger(url, signing_key=signer) as led:
        led.append("policy", {"name": "warm-up"})
        if wal == "no-flush":  # not durable: what an append costs without waiting for the disk
            led.store._db.execute("PRAGMA synchronous = OFF" if sqlite else "SET synchronous_commit = off")
        elif wal != "fresh":  # grow the WAL past the run's length, then start it over (not truncated)
            led.store._db.execute("PRAGMA wal_autocheckpoint = 0")
            for p in payloads + payloads[: count // 3]:
                led.append("stage", p)
            led.store._db.execute("PRAGMA wal_checkpoint(RESTART)")
            led.store._db.execute(f"PRAGMA wal_autocheckpoint = {0 if wal == 'grown-no-checkpoint' else 1000}")
        backend = None if sqlite else led.store._db.execute("SELECT pg_backend_pid()").fetchone()[0]
        frames, restarts, server = 0, 0, _server_cpu(backend)
        cpu, began = time.process_time(), time.perf_counter()
        for p in payloads:
            before = _frames(url) if sqlite else 0
            led.append("stage", p)
            after = _frames(url) if sqlite else 0
            frames, restarts = (frames + after - before, restarts) if after >= before else (frames, restarts + 1)
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
        server = _server_cpu(backend) - server
    counted = count - restarts  # commits that restarted the WAL are left out of the frame count
    return {"rate": count / wall, "cpu_us": 1e6 * cpu / count, "frames": frames / counted if sqlite else 0.0,
            "server_us": 1e6 * server / count}


def _server_cpu(pid: int | None) -> float:
    """CPU seconds of a PostgreSQL backend on this host (utime + stime); nan where unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan") if pid is not None else 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ways", nargs="*", help="NAME=CODE_DIR=URL")
    ap.add_argument("--parts", metavar="URL", help="where an append's time goes (see above)")
    ap.add_argument("--appends", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=12)
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], int(args.child[2]), args.child[3])))
        return 0
    here = str(BENCH.parent)
    if args.parts:
        parts = {"fresh": "durable", "no-flush": "synchronous_commit=off"} if args.parts.startswith("postgres") \
            else {"fresh": "durable, WAL from empty", "grown": "durable, WAL grown",
                  "grown-no-checkpoint": "durable, grown, no ckpt", "no-flush": "synchronous=OFF"}
        ways = [(name, here, args.parts, mode) for mode, name in parts.items()]
    else:
        ways = [(*w.split("=", 2), "fresh") for w in args.ways]  # type: ignore[misc]
    if not ways:
        ap.error("give NAME=CODE_DIR=URL at least once, or --parts URL")
    if "CARBONGUARD_SIGNING_KEY" not in os.environ:
        ap.error("set CARBONGUARD_SIGNING_KEY to a key the ledgers trust (e.g. the benchmark cache's keys/)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    runs: dict[str, list[dict[str, float]]] = {w[0]: [] for w in ways}
    for _ in range(args.repeats):
        for name, code, url, wal in ways:
            out = subprocess.run([sys.executable, __file__, "--child", code, url, str(args.appends), wal],
                                 capture_output=True, text=True, env=env, check=True)
            runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    first = ways[0][0]
    print(f"medians of {args.repeats} runs of {args.appends:,} sealed appends each, interleaved (durable unless "
          f"the way says otherwise); load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'way':24} {'appends/s':>10} {'CPU us/append':>14} {'server CPU us/append':>21} "
          f"{'WAL frames/commit':>18}  ratio to {first} (median of rounds)")
    for name, got in runs.items():
        ratio = statistics.median(r["rate"] / b["rate"] for r, b in zip(got, runs[first], strict=True))
        print(f"{name:24} {statistics.median(r['rate'] for r in got):10,.0f} "
              f"{statistics.median(r['cpu_us'] for r in got):14,.0f} "
              f"{statistics.median(r['server_us'] for r in got):21,.0f} "
              f"{statistics.median(r['frames'] for r in got):18.2f}  {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
