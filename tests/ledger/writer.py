"""A separate writer process for the concurrency tests (run as `python -m tests.ledger.writer`).

modes:  append URL COUNT NAME      append COUNT stage records for run NAME
        forever URL NAME           append until killed, printing the seq of each commit
        claim URL RANGE NAME START claim RANGE for run NAME once time.time() >= START
"""

from __future__ import annotations

import sys
import time

from carbonguard.ledger import ClaimConflict, open_ledger

from .conftest import stage_record


def main(argv: list[str]) -> int:
    mode, url = argv[0], argv[1]
    with open_ledger(url) as led:
        if mode == "append":
            count, name = int(argv[2]), argv[3]
            for i in range(count):
                led.append("stage", stage_record(run_id=name, stage=f"s{i}").model_dump(mode="json"))
        elif mode == "forever":
            payload = stage_record(run_id=argv[2]).model_dump(mode="json")
            while True:
                rec = led.append("stage", payload)
                print(rec.seq, flush=True)
        elif mode == "claim":
            start = float(argv[5])
            led.store.head()  # connection warm before the start line
            while time.time() < start:
                pass
            try:
                led.claim_certificates("fea-registry", argv[2], argv[3], "acme", "2026-03-01T10:00:00Z",
                                       "GB", "1.5")
            except ClaimConflict as exc:
                print(f"conflict {exc.holder_run_id}", flush=True)
                return 3
            print("claimed", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
