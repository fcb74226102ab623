"""`carbon_gate`: a Prefect task that judges the current flow run and blocks promotion on `block`."""

from __future__ import annotations

import logging
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from carbonguard.errors import GateBlocked, InputError
from carbonguard.models import Decision, Outcome
from carbonguard.prefect.reschedule import (
    CannotReschedule,
    Rescheduled,
    RunRescheduled,
    emit_budget_exceeded,
    emit_rescheduled,
    reschedule_current_run,
)

log = logging.getLogger("carbonguard.prefect")


_LOG_LEVEL = {Outcome.ALLOW: logging.INFO, Outcome.WARN: logging.WARNING}


def _blocked_summary(decision: Decision) -> str:
    """One line for the exception, which Prefect repeats in its failure logs; the full text is logged once."""
    from carbonguard.formats.escape import text_safe

    rules = sorted({f.rule_id for f in decision.active_findings if f.outcome == decision.outcome})
    return (f"carbonguard gate: {decision.outcome.value.upper()} for run {text_safe(decision.run_id)} under "
            f"policy {text_safe(decision.policy_name)} v{text_safe(decision.policy_version)}: "
            f"{', '.join(rules) or 'see the findings'} (the decision is in this run's logs and the ledger)")


def _emit_event(decision: Decision) -> None:
    """A Prefect event per decision, so automations can react (e.g. page on block)."""
    try:
        from prefect.events import emit_event

        emit_event(
            event=f"carbonguard.gate.{decision.outcome.value}",
            resource={"prefect.resource.id": f"carbonguard.run.{decision.run_id}",
                      "carbonguard.policy": decision.policy_name},
            payload={"co2e_kg": decision.co2e_kg, "energy_kwh": decision.energy_kwh,
                     "policy_version": decision.policy_version, "policy_hash": decision.policy_hash,
                     "rules": [f.rule_id for f in decision.active_findings]},
        )
    except Exception:  # events are a convenience; the ledger is the record
        log.warning("carbonguard: could not emit the gate event", exc_info=True)


def _flow_name() -> str:
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    return ctx.flow.name if ctx is not None and ctx.flow is not None else "unknown"


def _read_forecasts(loaded: Any, forecast: str | dict[str, str] | None) -> dict[str, list] | None:
    """Forecast files for a reschedule proposal: one path is the policy's own zone."""
    if forecast is None:
        return None
    from carbonguard.pipeline import policy_zone
    from carbonguard.scheduling.forecast_file import read_forecast

    files = {policy_zone(loaded): forecast} if isinstance(forecast, str) else dict(forecast)
    return {zone: list(read_forecast(path, zone).points) for zone, path in files.items()}


def _carry_out_reschedule(led: Any, assessment: Any, zone_deployments: dict[str, str] | None) -> Any:
    """Schedule the deferred run and record what happened; None when the decision asks no reschedule.

    Returns the `Rescheduled` run, or the reason (a string) why this run cannot be rescheduled.
    """
    decision = assessment.decision
    if decision.outcome != Outcome.RESCHEDULE or decision.reschedule is None:
        return None
    record = {"run_id": decision.run_id, "decision_record_hash": assessment.decision_record_hash}
    try:
        done = reschedule_current_run(decision, zone_deployments=zone_deployments)
    except CannotReschedule as why:
        led.append("reschedule", {**record, "status": "not-carried-out", "reason": str(why)})
        return str(why)
    led.append("reschedule", {**record, "status": "scheduled", "new_flow_run_id": done.flow_run_id,
                              "new_flow_run_name": done.flow_run_name, "scheduled_start": done.scheduled_start,
                              "zone": done.zone, "deployment_id": done.deployment_id,
                              "idempotency_key": done.idempotency_key})
    return done


@task(name="carbon-gate", cache_policy=NO_CACHE, retries=0)
def carbon_gate(
    policy: str,
    run_id: str | None = None,
    ledger: str | None = None,
    fail_on_block: bool = True,
    report_dir: str | None = None,
    report_url: str | None = None,
    forecast: str | dict[str, str] | None = None,
    zone_deployments: dict[str, str] | None = None,
    certificates: str | list[str] | None = None,
) -> Decision:
    """Judge this flow run's metered stages against `policy`, record the decision, publish it.

    Live intensity providers take their credentials from the environment or, failing that, from
    Prefect Secret blocks (see `carbonguard.prefect.secrets`).

    Raises `GateBlocked` on `block` and on `reschedule` (unless `fail_on_block=False`, which returns
    the decision for the flow to act on) so downstream promotion never runs.

    A budget with `action: reschedule` asks for a cleaner window: with a proposal, and in a flow run
    of a deployment, the gate schedules one new run of that deployment (same parameters) at the
    window's start, records it, emits `carbonguard.run.rescheduled` and stops this run with
    `RunRescheduled` naming the new run; `forecast` gives forecast files (one path for the run's
    zone, or {zone: path}) when the policy's providers publish none, and `zone_deployments` names
    the deployment to use when the cleaner window is in another zone. Outside a deployment it
    blocks and says why.

    `report_dir`: also write the run's HTML report there (e.g. beside the ledger) and publish a link
    artifact to it (`report_url` + file name when reports are served from a URL); needs the `report` extra.

    `certificates`: a granular certificate export (or a list of them), each signed in `FILE.sig`, to
    match hour by hour under the policy's `spec.matching`; the claims are recorded in the same ledger
    transaction as the decision. Under a policy with `min_cfe` and no certificates, the CFE is 0.
    """
    from carbonguard.assess import assess_run, load_certificates, record_assessment, verified_span
    from carbonguard.formats import render
    from carbonguard.formats.escape import md_text
    from carbonguard.ledger import open_ledger
    from carbonguard.policy import load_policy
    from carbonguard.prefect.artifacts import decision_artifact_key
    from carbonguard.prefect.context import current_flow_run_id
    from carbonguard.prefect.report import check_report_dir, publish_run_report
    from carbonguard.prefect.runs import flow_run_links, record_cached_stages, record_subflow_links
    from carbonguard.prefect.secrets import prefect_credentials
    from carbonguard.reporting.run import RunReport, ledger_state
    from carbonguard.runtree import subflow_runs

    check_report_dir(report_dir)  # before anything is recorded
    loaded = load_policy(policy)
    forecasts = _read_forecasts(loaded, forecast)  # a bad file fails before anything is recorded
    files = load_certificates(loaded, certificates)  # a bad file stops here, before anything is written
    target = run_id or current_flow_run_id()
    if target is None:
        raise InputError("carbon_gate needs run_id= when called outside a flow run")
    links = flow_run_links(target)  # the subflow runs: their stages are part of this run
    with open_ledger(ledger, create=False) as led:
        verified_span(led, None)  # before anything is appended: never write on an unsigned tail
        record_subflow_links(led, links)  # so every surface reads the same tree from the ledger
        record_cached_stages(led, [target, *subflow_runs(led, target)], _flow_name())
        assessment = record_assessment(led, loaded, assess_run(
            loaded, led, target, credentials=prefect_credentials, forecasts=forecasts,
            certificates=files,
        ))
        moved = _carry_out_reschedule(led, assessment, zone_deployments)
        state = ledger_state(led) if report_dir else None
    decision = assessment.decision
    report = RunReport(decision, assessment.footprint, ledger=state, match=assessment.match,
                       forecasts=assessment.forecasts, decision_record_hash=assessment.decision_record_hash)
    run_log = get_run_logger()  # attached to this task run: the decision shows in the run's logs in the UI
    try:  # the decision is already in the ledger; a failed artifact upload must not change the outcome
        create_markdown_artifact(
            markdown=render("markdown", report),
            key=decision_artifact_key(_flow_name()),  # one history per flow, not one for all pipelines
            description=f"carbonguard gate: {decision.outcome.value} "
            f"({md_text(decision.policy_name)} v{md_text(decision.policy_version)})",
        )
    except Exception:
        run_log.warning("carbonguard: could not publish the decision artifact", exc_info=True)
    publish_run_report(report, report_dir, report_url)
    _emit_event(decision)
    run_log.log(_LOG_LEVEL.get(decision.outcome, logging.ERROR), "%s", render("text", report).rstrip("\n"))
    emit_budget_exceeded(decision)
    if isinstance(moved, Rescheduled):
        emit_rescheduled(decision, moved)
        message = (f"rescheduled: flow run {moved.flow_run_name} ({moved.flow_run_id}) is scheduled at "
                   f"{moved.scheduled_start} in zone {moved.zone}; this run stops here, without promotion")
        run_log.warning("%s", message)
        if fail_on_block:
            raise RunRescheduled(decision, message)
        return decision
    if isinstance(moved, str):
        run_log.error("carbonguard: cannot reschedule, so the run is blocked: %s", moved)
        if fail_on_block:
            raise GateBlocked(decision, f"blocked: cannot reschedule ({moved}); {_blocked_summary(decision)}")
    if decision.outcome in (Outcome.BLOCK, Outcome.RESCHEDULE) and fail_on_block:
        # Reschedule means "not now": the run must not proceed to promotion either.
        raise GateBlocked(decision, _blocked_summary(decision))
    return decision
