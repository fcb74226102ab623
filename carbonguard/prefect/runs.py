"""What belongs to a Prefect flow run: its subflow runs, and the metered task runs served from cache.

The gate judges a whole run. Stages metered inside a subflow are recorded under the subflow's run
id, and a task run served from Prefect's cache never calls the metered function, so the flow run
alone would under-count (or find nothing at all). This module writes both into the ledger: a
`subflow` record per subflow run (see `carbonguard.runtree`) and a `cached` stage record per cache hit.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from carbonguard.models import StageRecord

log = logging.getLogger("carbonguard.prefect")

# task_key (as Prefect computes it) -> stage name, filled by @metered at decoration time, so a
# cached task run (which never enters the wrapper) can still be named by its stage.
STAGE_BY_TASK_KEY: dict[str, str] = {}


def register_stage(fn: Any, stage: str) -> None:
    """Name the task key Prefect will give a task over `fn` (or a `Task`'s own key) as `stage`.

    A `Task` keeps the key computed from the function it was created with, even after `@metered`
    swaps in the metering wrapper, so a task under `@metered` is registered by its own `task_key`.
    """
    task_key = getattr(fn, "task_key", None)
    if isinstance(task_key, str):
        STAGE_BY_TASK_KEY[task_key] = stage
        return
    try:
        from prefect.tasks import _generate_task_key  # private, hence the guard
    except ImportError:  # pragma: no cover - a Prefect without it: cached runs stay unnamed
        return
    try:
        STAGE_BY_TASK_KEY[_generate_task_key(fn)] = stage
    except Exception:  # an unusual callable: it is still metered, only its cache hits go unnamed
        log.debug("carbonguard: no task key for %r", fn, exc_info=True)


def flow_run_links(flow_run_id: str) -> list[tuple[str, str]]:
    """(parent run, subflow run) for every subflow run below `flow_run_id`, parents first, from Prefect."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    links: list[tuple[str, str]] = []
    seen = {flow_run_id}
    frontier = [flow_run_id]
    with get_client(sync_client=True) as client:
        while frontier:
            parent = frontier.pop(0)
            children = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[UUID(parent)]))
            )
            for child in (str(c.id) for c in children):
                if child not in seen:
                    seen.add(child)
                    links.append((parent, child))
                    frontier.append(child)
    return links


def record_subflow_links(ledger: Any, links: list[tuple[str, str]]) -> int:
    """Append a `subflow` record for each (parent, subflow) link the ledger does not hold yet."""
    from carbonguard.runtree import SUBFLOW, subflow_payload

    written = 0
    for parent, child in links:
        known = {r.payload.get("subflow_run_id") for r in ledger.records(run_id=parent, record_type=SUBFLOW)}
        if child not in known:
            ledger.append(SUBFLOW, subflow_payload(parent, child))
            written += 1
    return written


_linked: set[tuple[int, str, str]] = set()  # (pid, ledger url, run id) whose parents are recorded
_linked_lock = threading.Lock()


def link_subflow_run(ledger: Any, run_id: str) -> None:
    """Record, once per process, the run `run_id` ran inside, and the run above that, up to the top.

    Called by `@metered` after each stage record, so `carbonguard gate --run PARENT` in another
    process finds the subflow's stages from the ledger alone. Never fails the task: a lost link is
    logged, and an in-flow `carbon_gate` writes the links it finds through the Prefect API too.
    """
    child = run_id
    try:
        while not child.startswith("local-"):
            key = (os.getpid(), ledger.url, child)
            with _linked_lock:
                if key in _linked:
                    return
            parent = _parent_flow_run_id(child)
            if parent is not None:
                record_subflow_links(ledger, [(parent, child)])
            with _linked_lock:
                _linked.add(key)
            if parent is None:
                return
            child = parent
    except Exception:
        log.warning("carbonguard: could not record which run flow run %s ran inside; carbon_gate in the parent "
                    "flow records it, `carbonguard gate --run PARENT` would miss its stages", child, exc_info=True)


def _parent_flow_run_id(flow_run_id: str) -> str | None:
    """The flow run that started `flow_run_id` as a subflow, or None for a top-level run."""
    from prefect import get_client
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    here = ctx is not None and ctx.flow_run is not None and str(ctx.flow_run.id) == flow_run_id
    if here and ctx.flow_run.parent_task_run_id is None:
        return None  # a top-level run, known without asking the API
    with get_client(sync_client=True) as client:
        parent_task_run_id = (ctx.flow_run.parent_task_run_id if here
                              else client.read_flow_run(UUID(flow_run_id)).parent_task_run_id)
        if parent_task_run_id is None:
            return None
        parent = client.read_task_run(parent_task_run_id).flow_run_id
    return str(parent) if parent is not None else None


def record_cached_stages(ledger: Any, flow_run_ids: list[str], flow_name: str) -> int:
    """Append a `cached=True` stage record (no components) for each metered task run served from cache.

    Such a run did no work, so it contributes no energy (the accounting skips cached records), but
    the stage is accounted for: a stage budget sees it ran, and the report shows it was a cache hit.
    """
    from prefect import get_client
    from prefect.client.schemas.filters import (
        TaskRunFilter,
        TaskRunFilterFlowRunId,
        TaskRunFilterState,
        TaskRunFilterStateName,
    )

    known = {r.task_run_id for run_id in flow_run_ids for r in _stage_payloads(ledger, run_id)}
    task_filter = TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[UUID(i) for i in flow_run_ids]))
    with get_client(sync_client=True) as client:
        _wait_for_task_runs(client, task_filter)
        cached = client.read_task_runs(
            task_run_filter=task_filter.model_copy(
                update={"state": TaskRunFilterState(name=TaskRunFilterStateName(any_=["Cached"]))}
            )
        )
    written = 0
    for task_run in cached:
        stage = STAGE_BY_TASK_KEY.get(task_run.task_key)
        if stage is None or str(task_run.id) in known:
            continue  # not a metered task, or already recorded
        start = task_run.start_time or task_run.expected_start_time or datetime.now(timezone.utc)
        record = StageRecord(
            run_id=str(task_run.flow_run_id),
            flow_name=flow_name,
            stage=stage,
            task_run_id=str(task_run.id),
            attempt=max(1, task_run.run_count or 1),
            cached=True,
            start=start,
            end=max(task_run.end_time or start, start),
            host=socket.gethostname(),
            pid=os.getpid(),
            flags=("prefect-cached",),
        )
        ledger.append("stage", record.model_dump(mode="json"))
        written += 1
    return written


def _wait_for_task_runs(client: Any, task_filter: Any, settle_s: float = 0.3, limit_s: float = 15.0) -> None:
    """Prefect 3 reports task-run states to the API through events, a moment after they happen.

    Wait until the API shows at least as many task runs as this flow run has started (Prefect's own
    per-flow-run call counter), every one but the gate's own is in a final state, and the set has
    stayed the same for `settle_s`, so a cache hit that just happened is not missed.
    """
    from prefect.context import FlowRunContext, TaskRunContext

    ctx = TaskRunContext.get()
    own = str(ctx.task_run.id) if ctx is not None else None
    flow_ctx = FlowRunContext.get()
    started = 0
    if flow_ctx is not None:  # task_key -> index of its last call in this flow run
        started = sum(v + 1 for v in flow_ctx.task_run_dynamic_keys.values() if isinstance(v, int))
    expected = max(started - (1 if own else 0), 0)
    deadline = time.monotonic() + limit_s
    previous = None
    while True:
        runs = [r for r in client.read_task_runs(task_run_filter=task_filter) if str(r.id) != own]
        seen = sorted((str(r.id), r.state.name if r.state else "") for r in runs)
        final = all(r.state is not None and r.state.is_final() for r in runs)
        if seen == previous and final and len(runs) >= expected:
            return
        if time.monotonic() > deadline:
            log.warning("carbonguard: task-run states were still changing after %.0f s; cache hits reported "
                        "later are not in this decision", limit_s)
            return
        previous = seen
        time.sleep(settle_s)


def _stage_payloads(ledger: Any, run_id: str) -> list[StageRecord]:
    return [StageRecord.model_validate(r.payload) for r in ledger.records(run_id=run_id, record_type="stage")]
