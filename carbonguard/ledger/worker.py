"""Worker process of a parallel verification (`python -m carbonguard.ledger.worker`).

Why a plain subprocess rather than multiprocessing: spawn and forkserver re-run the caller's main
module in every child, which breaks scripts without a `__main__` guard, and fork would share the
parent's database connections. The request `(source, first, last, deep, want_hash_at)` comes
pickled on stdin; the `Segment` goes back pickled on stdout.
"""

from __future__ import annotations

import pickle
import sys


def main() -> int:
    source, first, last, deep, want = pickle.load(sys.stdin.buffer)
    from carbonguard.ledger import open_ledger
    from carbonguard.ledger.verify import check_segment

    with open_ledger(source, create=False) as led:
        segment = check_segment(led.store.scan_batches(first, last), first, deep=deep,
                                locate_seq=led._locate_seq, want_hash_at=want)
    pickle.dump(segment, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
