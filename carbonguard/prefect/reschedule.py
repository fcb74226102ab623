"""Carry out a `reschedule` decision in Prefect: one new flow run of the same deployment, later.

Why a new run of the deployment, not a retry: the cleaner window may be hours away and in another
zone, and the run that asked must end now without training or promotion. The new run gets the same
parameters, is Scheduled at the proposal's start, and carries an idempotency key made from the run
id and the hash of what was decided (policy, zone, window), so a retried gate never creates a second
run: the decision record's own hash changes with its evaluation time, the proposal does not. A run that was not started
from a deployment has nothing to schedule again: the gate then blocks and says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from carbonguard.errors import CarbonguardError, GateBlocked
from carbonguard.models import Decision

log = logging.getLogger(__name__)


class CannotReschedule(CarbonguardError):
    """The decision asks to reschedule, but this run cannot be scheduled again (and why)."""


class RunRescheduled(GateBlocked):
    """Raised by `carbon_gate` after it scheduled the new run: this run stops, naming its successor."""


@dataclass(frozen=True)
class Rescheduled:
    flow_run_id: str
    flow_run_name: str
    scheduled_start: str
    zone: str
    deployment_id: str
    idempotency_key: str


def idempotency_key(run_id: str, decision: Decision) -> str:
    """Same run, same policy and proposal, same key: Prefect returns the existing run, not a second one."""
    import hashlib

    proposal = decision.reschedule
    basis = "|".join((decision.policy_hash, str(proposal.zone if proposal else ""),
                      proposal.start.isoformat() if proposal and proposal.start else ""))
    return f"carbonguard-reschedule-{run_id}-{hashlib.sha256(basis.encode()).hexdigest()[:32]}"


def _deployment_for(client: Any, decision: Decision, current: Any, zone_deployments: dict[str, str] | None) -> Any:
    proposal = decision.reschedule
    home = proposal.run_now_zone
    if proposal.zone and home and proposal.zone != home:
        name = (zone_deployments or {}).get(proposal.zone)
        if name is None:
            raise CannotReschedule(
                f"the cleaner window is in zone {proposal.zone}, and carbon_gate was given no deployment for it "
                f"(zone_deployments={{'{proposal.zone}': 'flow-name/deployment-name'}})")
        return client.read_deployment_by_name(name).id
    if current.deployment_id is None:
        raise CannotReschedule(
            "this flow run was not started from a deployment, so there is nothing to schedule again; "
            "run it from a deployment (flow.serve or flow.deploy) to let carbonguard reschedule it")
    return current.deployment_id


def reschedule_current_run(decision: Decision, *, zone_deployments: dict[str, str] | None = None) -> Rescheduled:
    """Create the deferred flow run for a `reschedule` decision with a proposal; raise CannotReschedule."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext
    from prefect.states import Scheduled

    proposal = decision.reschedule
    if proposal is None or not proposal.proposed or proposal.start is None:
        raise CannotReschedule(proposal.reason if proposal else "the decision proposes no window")
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        raise CannotReschedule("carbon_gate ran outside a flow run, so there is no run to schedule again")
    current = ctx.flow_run
    key = idempotency_key(str(current.id), decision)
    with get_client(sync_client=True) as client:
        deployment_id = _deployment_for(client, decision, current, zone_deployments)
        message = (f"rescheduled by carbonguard from flow run {current.name} ({current.id}): "
                   f"{proposal.reason}")
        new = client.create_flow_run_from_deployment(
            deployment_id,
            parameters=dict(current.parameters or {}),
            state=Scheduled(scheduled_time=proposal.start, message=message[:1000]),
            tags=sorted({*(current.tags or []), "carbonguard-rescheduled"}),
            idempotency_key=key,
        )
    return Rescheduled(str(new.id), new.name, proposal.start.isoformat(), proposal.zone or "",
                       str(deployment_id), key)


def emit_rescheduled(decision: Decision, done: Rescheduled) -> None:
    """`carbonguard.run.rescheduled`, so an automation can follow the deferred run."""
    try:
        from prefect.events import emit_event

        emit_event(
            event="carbonguard.run.rescheduled",
            resource={"prefect.resource.id": f"carbonguard.run.{decision.run_id}",
                      "carbonguard.policy": decision.policy_name},
            related=[{"prefect.resource.id": f"prefect.flow-run.{done.flow_run_id}",
                      "prefect.resource.role": "flow-run"}],
            payload={"new_flow_run_id": done.flow_run_id, "scheduled_start": done.scheduled_start,
                     "zone": done.zone, "saving_fraction": decision.reschedule.saving_fraction if
                     decision.reschedule else None},
        )
    except Exception:  # events are a convenience; the ledger is the record
        log.warning("carbonguard: could not emit the rescheduled event", exc_info=True)


def emit_budget_exceeded(decision: Decision) -> None:
    """`carbonguard.budget.exceeded` per over-budget finding, for automations (page, open a ticket)."""
    try:
        from prefect.events import emit_event

        for finding in decision.active_findings:
            if not finding.rule_id.startswith("budget.") or finding.observed is None or finding.limit is None:
                continue
            if finding.observed <= finding.limit:
                continue  # a warn_at warning is not an exceeded budget
            emit_event(
                event="carbonguard.budget.exceeded",
                resource={"prefect.resource.id": f"carbonguard.run.{decision.run_id}",
                          "carbonguard.policy": decision.policy_name, "carbonguard.rule": finding.rule_id},
                payload={"observed": finding.observed, "limit": finding.limit, "unit": finding.unit,
                         "outcome": finding.outcome.value, "scope": finding.scope},
            )
    except Exception:
        log.warning("carbonguard: could not emit the budget event", exc_info=True)
