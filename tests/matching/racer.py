"""One gate process for the claim-race test (run as `python -m tests.matching.racer`).

    racer URL POLICY CERTIFICATES RUN_ID BARRIER_DIR PEERS [crash]

Judges RUN_ID with the certificates (reading the ledger's claims: none yet), says it is ready in
BARRIER_DIR, waits until PEERS processes are ready (so every racer computed its claims before any
wrote), then records, and prints the recorded decision as JSON. With `crash`, the process kills
itself (SIGKILL) when the decision is about to be written, after the claims, inside the transaction.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    url, policy, certificates, run_id, barrier, peers = argv[:6]
    if argv[6:] == ["crash"]:
        import os
        import signal

        from carbonguard.ledger.ledger import Transaction

        append = Transaction.append

        def dying_append(self, record_type, payload):  # type: ignore[no-untyped-def]
            if record_type == "decision":
                os.kill(os.getpid(), signal.SIGKILL)
            return append(self, record_type, payload)

        Transaction.append = dying_append  # type: ignore[method-assign]
    from carbonguard.assess import assess_run, record_assessment
    from carbonguard.ledger import open_ledger
    from carbonguard.policy import load_policy

    loaded = load_policy(policy)
    with open_ledger(url) as led:
        assessment = assess_run(loaded, led, run_id, certificates=[certificates])
        first_claims = len(assessment.match.claims)
        Path(barrier, run_id).write_text("ready")
        deadline = time.monotonic() + 60
        while len(list(Path(barrier).iterdir())) < int(peers) and time.monotonic() < deadline:
            time.sleep(0.005)
        recorded = record_assessment(led, loaded, assessment)
    print(json.dumps({"run_id": run_id, "claims_computed_first": first_claims,
                      "claims_recorded": len(recorded.match.claims), "outcome": recorded.decision.outcome.value,
                      "cfe_score": recorded.decision.cfe_score,
                      "findings": [[f.rule_id, f.message] for f in recorded.decision.findings]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
