"""Metered tasks used by the task-runner tests; a module of its own so worker processes can load it."""

from __future__ import annotations

import time

from prefect import task

from carbonguard.prefect import metered


def burn_cpu(seconds: float) -> int:
    """Busy-loop for `seconds` of this thread's CPU time."""
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        n += 1
    return n


@task
@metered(stage="shard")
def shard(index: int, seconds: float = 0.3) -> int:
    burn_cpu(seconds)
    return index


def generous_policy(name: str) -> str:
    """A DE policy whose budget no test run reaches: for tests about recording, not about verdicts."""
    return f"""\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {{name: {name}, version: "1"}}
spec:
  location: {{zone: DE}}
  pue: 1.2
  budgets:
    - {{id: run-co2e, metric: co2e_kg, limit: 1000, action: block}}
  measurement: {{estimated: allow, unavailable: block}}
"""
