"""`@metered` without Prefect: meter a plain Python function and append its stage record to the ledger.

For scripts, notebooks and other orchestrators, with the core install only (this module never imports
Prefect). Each call is one stage record, judged later like any other run:
`carbonguard gate --policy FILE --run RUN_ID`.

    from carbonguard.recording import metered

    @metered(stage="train")
    def train(): ...

The run id comes from `run_id=`, else `$CARBONGUARD_RUN_ID`, else a fresh one for this process,
printed once on stderr so the run can be gated. As with the Prefect decorator, the ledger is opened
and checked writable before the work (a ledger that cannot take the record fails the call at once,
not after hours of training), and once the work has run a late ledger error never throws the
result away: it is logged with the record itself, so the figure is not lost.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from carbonguard.models import check_label

F = TypeVar("F", bound=Callable[..., Any])
RUN_ID_VARIABLE = "CARBONGUARD_RUN_ID"
log = logging.getLogger("carbonguard.recording")

_lock = threading.Lock()
_fresh_run_ids: dict[int, str] = {}  # pid -> the run id made up for this process


def current_run_id(run_id: str | None = None) -> str:
    """`run_id`, else `$CARBONGUARD_RUN_ID`, else this process's fresh run id (announced once on stderr)."""
    if run_id is not None:
        return check_label(run_id, "run_id", source="@metered(run_id=...)")
    from_env = os.environ.get(RUN_ID_VARIABLE)
    if from_env:
        return check_label(from_env, RUN_ID_VARIABLE, source="environment")
    with _lock:
        fresh = _fresh_run_ids.get(os.getpid())
        if fresh is None:
            fresh = _fresh_run_ids[os.getpid()] = uuid.uuid4().hex
            print(f"carbonguard: recording stages under run id {fresh} (set {RUN_ID_VARIABLE} to choose it); "
                  f"judge it with: carbonguard gate --policy FILE --run {fresh}", file=sys.stderr)
    return fresh


def _ledger(url: str | None) -> Any:
    """This process's open ledger for `url` (or $CARBONGUARD_LEDGER), checked writable on first use."""
    from carbonguard.ledger.preflight import process_ledger

    return process_ledger(url)


def metered(
    stage: str | None = None, *, run_id: str | None = None, flow_name: str = "python", zone: str | None = None,
    ledger: str | None = None,
) -> Callable[[F], F]:
    """Meter every call of a plain (sync or async) function as stage `stage` (default: its name).

    A failed call is recorded too (flagged `failed`), then its exception propagates.
    """

    def decorate(fn: F) -> F:
        name = check_label(stage or fn.__name__, "stage", source="@metered")
        if run_id is not None:
            check_label(run_id, "run_id", source="@metered(run_id=...)")

        def start() -> tuple[Any, str, Any]:
            from carbonguard.metering import measure

            target = current_run_id(run_id)  # validated and announced before the work
            return measure(name), target, _ledger(ledger)

        def finish(window: Any, target: str, led: Any, failed: bool) -> None:
            if window.result is None:
                return
            payload: Any = None
            try:
                record = window.result.to_stage_record(run_id=target, flow_name=flow_name, stage=name, zone=zone,
                                                       flags=("failed",) if failed else ())
                payload = record.model_dump(mode="json")
                led.append("stage", payload)
            except Exception:  # the work's result matters more than one lost record; keep the figure visible
                log.exception("carbonguard: could not write the stage record of %r to the ledger: %s",
                              name, json.dumps(payload))

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                window, target, led = start()
                failed = True
                try:
                    with window:
                        result = await fn(*args, **kwargs)
                    failed = False
                    return result
                finally:
                    finish(window, target, led, failed)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            window, target, led = start()
            failed = True
            try:
                with window:
                    result = fn(*args, **kwargs)
                failed = False
                return result
            finally:
                finish(window, target, led, failed)

        return wrapper  # type: ignore[return-value]

    return decorate
