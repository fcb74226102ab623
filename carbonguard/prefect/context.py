"""What a stage record needs to know about the Prefect run it belongs to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunIdentity:
    run_id: str
    flow_name: str
    task_run_id: str | None
    attempt: int


def current_identity(fallback_stage: str) -> RunIdentity:
    """Flow run id, flow name, task run id and attempt (Prefect's run_count) of the running task.

    Outside a flow run (a task function called directly, e.g. in a unit test) the stage is still
    metered, under a run id of its own, so no energy goes unrecorded.
    """
    from prefect.context import FlowRunContext, TaskRunContext

    task_ctx = TaskRunContext.get()
    flow_ctx = FlowRunContext.get()
    flow_run_id = None
    flow_name = "unknown"
    if flow_ctx is not None and flow_ctx.flow_run is not None:
        flow_run_id = str(flow_ctx.flow_run.id)
        flow_name = flow_ctx.flow.name if flow_ctx.flow is not None else flow_ctx.flow_run.name
    task_run_id = None
    attempt = 1
    if task_ctx is not None:
        task_run_id = str(task_ctx.task_run.id)
        attempt = max(1, int(task_ctx.task_run.run_count or 1))
        if flow_run_id is None and task_ctx.task_run.flow_run_id is not None:
            flow_run_id = str(task_ctx.task_run.flow_run_id)
    if flow_run_id is None:
        import uuid

        flow_run_id = f"local-{uuid.uuid4().hex}"
        flow_name = fallback_stage
    return RunIdentity(flow_run_id, flow_name, task_run_id, attempt)


def current_flow_run_id() -> str | None:
    from prefect.context import FlowRunContext, TaskRunContext

    flow_ctx = FlowRunContext.get()
    if flow_ctx is not None and flow_ctx.flow_run is not None:
        return str(flow_ctx.flow_run.id)
    task_ctx = TaskRunContext.get()
    if task_ctx is not None and task_ctx.task_run.flow_run_id is not None:
        return str(task_ctx.task_run.flow_run_id)
    return None
