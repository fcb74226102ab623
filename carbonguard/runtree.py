"""Which runs make up a run: the run and the subflow runs below it, learnt from the ledger alone.

An orchestrator's subflow records its stages under its own run id. A `subflow` record links it to
the run that started it (payload `run_id`: the parent, `subflow_run_id`: the child), so the in-flow
gate, `carbonguard gate` in a CI job and `audit report` all read the same tree from the ledger, in
any process, without asking the orchestrator. Takes any ledger with `records(run_id, record_type)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from carbonguard.errors import InputError, Problem
from carbonguard.models import check_label

SUBFLOW = "subflow"


def subflow_payload(parent_run_id: str, subflow_run_id: str, flow_name: str | None = None) -> dict[str, Any]:
    """The payload of a `subflow` record: `subflow_run_id` ran inside `parent_run_id`."""
    check_label(parent_run_id, "run_id", source="subflow record")
    check_label(subflow_run_id, "subflow_run_id", source="subflow record")
    if parent_run_id == subflow_run_id:
        raise InputError(Problem(f"run {parent_run_id!r} cannot be its own subflow", source="subflow record",
                                 field_path="subflow_run_id"))
    payload: dict[str, Any] = {"run_id": parent_run_id, "subflow_run_id": subflow_run_id}
    if flow_name is not None:
        payload["flow_name"] = flow_name
    return payload


def subflow_runs(ledger: Any, run_id: str) -> list[str]:
    """Every run below `run_id` (children before grandchildren, each once), from `subflow` records."""
    seen = {run_id}
    below: list[str] = []
    frontier = [run_id]
    while frontier:
        children = [r.payload.get("subflow_run_id") for parent in frontier
                    for r in ledger.records(run_id=parent, record_type=SUBFLOW)]
        frontier = [c for c in dict.fromkeys(children) if isinstance(c, str) and c not in seen]
        seen.update(frontier)
        below.extend(frontier)
    return below


def parents(records: Iterable[Any]) -> dict[str, str]:
    """subflow run id -> the run it ran in, from `subflow` records among `records`."""
    return {r.payload["subflow_run_id"]: r.payload["run_id"] for r in records
            if r.record_type == SUBFLOW and isinstance(r.payload.get("subflow_run_id"), str)}


def root_of(run_id: str, parent_of: dict[str, str]) -> str:
    """The top-level run `run_id` belongs to (itself when it is not a subflow run)."""
    seen = {run_id}
    while (parent := parent_of.get(run_id)) is not None and parent not in seen:
        seen.add(parent)
        run_id = parent
    return run_id
