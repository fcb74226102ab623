"""Parallel verification: the parent's split (`verify_parallel`) and the worker process beside it.

Why a plain subprocess rather than multiprocessing: spawn and forkserver re-run the caller's main
module in every child, which breaks scripts without a `__main__` guard, and fork would share the
parent's database connections. The request `(source, first, last, deep, want_hash_at)` comes
pickled on stdin (`python -m carbonguard.ledger.worker`); the `Segment` goes back pickled on stdout.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from carbonguard.ledger.store import LedgerError
from carbonguard.ledger.verify import VerifyResult, combine


def verify_parallel(source: str, last: int, workers: int, *, checkpoint: dict[str, Any] | None,
                    pubkeys: Iterable[str], progress: Callable[[int, int | None], None] | None,
                    deep: bool, every_signature: bool = True) -> VerifyResult:
    """Split 1..last into contiguous ranges (the last one open-ended, for records appended
    meanwhile), check each in its own process, then judge them in order with `combine`, which
    also checks that each range links to the one before it."""
    import carbonguard

    starts = [1 + last * i // workers for i in range(workers)]
    ranges = [(a, starts[i + 1] - 1 if i + 1 < workers else None) for i, a in enumerate(starts)]
    want = checkpoint["size"] if checkpoint else None
    root = str(Path(carbonguard.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    procs = []
    try:
        for a, b in ranges:
            proc = subprocess.Popen([sys.executable, "-m", "carbonguard.ledger.worker"], env=env,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            procs.append(proc)
            assert proc.stdin is not None
            proc.stdin.write(pickle.dumps((source, a, b, deep, want, every_signature)))
            proc.stdin.close()
        segments = []
        for proc in procs:
            assert proc.stdout is not None and proc.stderr is not None
            out = proc.stdout.read()  # workers run side by side; their output is read in order
            err = proc.stderr.read()
            proc.wait()
            if proc.returncode != 0:
                lines = err.decode("utf-8", "replace").strip().splitlines()
                raise LedgerError(f"a verification worker failed (exit code {proc.returncode}): "
                                  + (lines[-1] if lines else "no message"))
            segments.append(pickle.loads(out))  # our own child's output
            if progress is not None:
                progress(segments[-1].last_seq, last)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return combine(segments, checkpoint=checkpoint, pubkeys=pubkeys, every_signature=every_signature)


def main() -> int:
    source, first, last, deep, want, every_signature = pickle.load(sys.stdin.buffer)
    from carbonguard.ledger import open_ledger
    from carbonguard.ledger.verify import check_segment

    with open_ledger(source, create=False) as led:
        segment = check_segment(led.store.scan_batches(first, last), first, deep=deep,
                                locate_seq=led._locate_seq, want_hash_at=want, every_signature=every_signature)
    pickle.dump(segment, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
