"""Prefect plugin: `@metered` for task functions and the `carbon_gate` task.

This is the only package that imports Prefect; install it with `pip install carbonguard[prefect]`.
`RunRescheduled` (a `GateBlocked`) is what `carbon_gate` raises after scheduling the deferred run.
"""

from carbonguard.prefect.gate_task import carbon_gate
from carbonguard.prefect.metered import metered
from carbonguard.prefect.reschedule import RunRescheduled

__all__ = ["RunRescheduled", "carbon_gate", "metered"]
