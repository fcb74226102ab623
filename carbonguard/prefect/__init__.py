"""Prefect plugin: `@metered` for task functions and the `carbon_gate` task.

This is the only package that imports Prefect; install it with `pip install carbonguard[prefect]`.
"""

from carbonguard.prefect.gate_task import carbon_gate
from carbonguard.prefect.metered import metered

__all__ = ["carbon_gate", "metered"]
