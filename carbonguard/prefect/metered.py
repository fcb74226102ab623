"""`@metered(stage=...)`: one stage record per task-run attempt, written to the ledger.

Works under or over `@task`, on sync and async functions. Before the first stage in a process runs,
the ledger is opened and checked writable (signing key readable and enrolled): a ledger that cannot
take the record fails the task at once, not after hours of training. Once the work has run, the
meter never fails it: a device error degrades that device's reading, and a late ledger error is
logged loudly (the gate then sees a stage missing) rather than throwing the result away.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import socket
from collections.abc import Callable
from typing import Any, TypeVar

from carbonguard.models import StageRecord
from carbonguard.prefect.runs import link_subflow_run, register_stage

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("carbonguard.prefect")

def _ledger(url: str | None) -> Any:
    """This process's open, checked ledger for `url` (or $CARBONGUARD_LEDGER), shared with plain-Python writers."""
    from carbonguard.ledger.preflight import process_ledger

    return process_ledger(url)


def _record(stage: str, measurement: Any, *, zone: str | None, ledger_url: str | None, failed: bool) -> None:
    from carbonguard.prefect.context import current_identity

    identity = current_identity(stage)
    flags = list(measurement.flags)
    if identity.attempt > 1:
        flags.append("retry")
    if failed:
        flags.append("failed")
    record = StageRecord(
        run_id=identity.run_id,
        flow_name=identity.flow_name,
        stage=stage,
        task_run_id=identity.task_run_id,
        attempt=identity.attempt,
        start=measurement.start,
        end=measurement.end,
        zone=zone,
        host=getattr(measurement, "host", socket.gethostname()),
        pid=getattr(measurement, "pid", os.getpid()),
        components=tuple(measurement.components),
        flags=tuple(flags),
    )
    try:
        ledger = _ledger(ledger_url)
        ledger.append("stage", record.model_dump(mode="json"))
        link_subflow_run(ledger, identity.run_id)  # guarded: a subflow's stages reach its parent run
    except Exception:  # the training result matters more than one lost record; the gate will notice
        log.exception("carbonguard: could not write the stage record of %r to the ledger", stage)
    from carbonguard.integrations.mlflow import log_stage

    log_stage(record)  # to the active MLflow run, if MLflow is in use; never raises


def _apply_policy(policy_path: str) -> str | None:
    """Per process: a forked worker gets a fresh meter, so the policy is applied again there."""
    return _apply_policy_in(policy_path, os.getpid())


@functools.lru_cache(maxsize=32)
def _apply_policy_in(policy_path: str, pid: int) -> str | None:
    """Apply a policy's metering settings to this process's meter once; returns its zone, if given.

    `spec.measurement.cpu_power_w_per_core` overrides the CPU power table for estimates, so a team
    that knows its hardware's draw says so once, in the policy, for every stage.
    """
    from carbonguard.metering import get_meter
    from carbonguard.policy import load_policy

    spec = load_policy(policy_path).policy.spec
    if spec.measurement.cpu_power_w_per_core is not None:
        get_meter().set_cpu_w_per_core(spec.measurement.cpu_power_w_per_core)
    return spec.location.zone


def _wrap(fn: F, stage: str, zone: str | None, ledger_url: str | None, policy: str | None = None) -> F:
    """Meter each call; a failed attempt is recorded too (flagged `failed`), then re-raised."""
    from carbonguard.metering import measure

    def start() -> tuple[measure, str | None]:
        # The policy is applied, and the ledger checked, where the task runs (a thread, a process-pool
        # or Dask worker), before the work: a ledger that cannot take the record fails the task now.
        stage_zone = zone if policy is None else (zone or _apply_policy(policy))
        _ledger(ledger_url)
        return measure(stage), stage_zone

    def finish(window: measure, stage_zone: str | None, failed: bool) -> None:
        if window.result is not None:
            _record(stage, window.result, zone=stage_zone, ledger_url=ledger_url, failed=failed)

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            window, stage_zone = start()
            failed = True
            try:
                with window:
                    result = await fn(*args, **kwargs)
                failed = False
                return result
            finally:
                finish(window, stage_zone, failed)

        register_stage(async_wrapper, stage)
        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        window, stage_zone = start()
        failed = True
        try:
            with window:
                result = fn(*args, **kwargs)
            failed = False
            return result
        finally:
            finish(window, stage_zone, failed)

    register_stage(wrapper, stage)
    return wrapper  # type: ignore[return-value]


def metered(
    stage: str | None = None, *, zone: str | None = None, ledger: str | None = None, policy: str | None = None
) -> Callable[[F], F]:
    """Meter every run of a Prefect task (or plain function) as stage `stage` (default: its name).

    `policy` (a policy file) applies its metering settings (CPU W/core override, zone) where the task
    runs; `ledger` overrides `$CARBONGUARD_LEDGER`.
    """

    def decorate(obj: F) -> F:
        from prefect import Task

        from carbonguard.models import check_label

        if isinstance(obj, Task):
            name = check_label(stage or obj.name, "stage", source="@metered")
            task = obj.with_options()
            task.fn = _wrap(obj.fn, name, zone, ledger, policy)
            register_stage(task, name)  # Prefect keys the task by the function it was made with
            return task  # type: ignore[return-value]
        return _wrap(obj, check_label(stage or obj.__name__, "stage", source="@metered"), zone, ledger, policy)

    return decorate
