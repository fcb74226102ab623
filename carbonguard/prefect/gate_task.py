"""`carbon_gate`: a Prefect task that judges the current flow run and blocks promotion on `block`."""

from __future__ import annotations

import logging

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from carbonguard.errors import GateBlocked, InputError
from carbonguard.models import Decision, Outcome

log = logging.getLogger("carbonguard.prefect")


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


@task(name="carbon-gate", cache_policy=NO_CACHE, retries=0)
def carbon_gate(
    policy: str,
    run_id: str | None = None,
    ledger: str | None = None,
    fail_on_block: bool = True,
    report_dir: str | None = None,
    report_url: str | None = None,
    certificates: str | list[str] | None = None,
) -> Decision:
    """Judge this flow run's metered stages against `policy`, record the decision, publish it.

    Live intensity providers take their credentials from the environment or, failing that, from
    Prefect Secret blocks (see `carbonguard.prefect.secrets`).

    Raises `GateBlocked` on `block` and on `reschedule` (unless `fail_on_block=False`, which returns
    the decision for the flow to act on) so downstream promotion never runs.

    `report_dir`: also write the run's HTML report there (e.g. beside the ledger) and publish a link
    artifact to it (`report_url` + file name when reports are served from a URL); needs the `report` extra.

    `certificates`: a granular certificate export (or a list of them), each signed in `FILE.sig`, to
    match hour by hour under the policy's `spec.matching`; the claims are recorded in the same ledger
    transaction as the decision. Under a policy with `min_cfe` and no certificates, the CFE is 0.
    """
    from carbonguard.assess import assess_run, load_certificates, record_assessment, verified
    from carbonguard.formats import render
    from carbonguard.ledger import open_ledger
    from carbonguard.policy import load_policy
    from carbonguard.prefect.context import current_flow_run_id
    from carbonguard.prefect.report import check_report_dir, publish_run_report
    from carbonguard.prefect.runs import flow_run_tree, record_cached_stages
    from carbonguard.prefect.secrets import prefect_credentials
    from carbonguard.reporting.run import RunReport, ledger_state

    check_report_dir(report_dir)  # before anything is recorded
    loaded = load_policy(policy)
    files = load_certificates(loaded, certificates)  # a bad file stops here, before anything is written
    target = run_id or current_flow_run_id()
    if target is None:
        raise InputError("carbon_gate needs run_id= when called outside a flow run")
    tree = flow_run_tree(target)  # the run and its subflow runs: their stages are part of it
    with open_ledger(ledger, create=False) as led:
        verified(led)  # before anything is appended: never write on top of a tampered chain
        record_cached_stages(led, tree, _flow_name())
        assessment = record_assessment(led, loaded, assess_run(
            loaded, led, target, credentials=prefect_credentials, include_runs=tuple(tree[1:]), verify=False,
            certificates=files,
        ))
        state = ledger_state(led) if report_dir else None
    decision = assessment.decision
    report = RunReport(decision, assessment.footprint, ledger=state, match=assessment.match)
    try:  # the decision is already in the ledger; a failed artifact upload must not change the outcome
        create_markdown_artifact(
            markdown=render("markdown", report),
            key="carbonguard-decision",
            description=f"carbonguard gate: {decision.outcome.value} "
            f"({decision.policy_name} v{decision.policy_version})",
        )
    except Exception:
        log.warning("carbonguard: could not publish the decision artifact", exc_info=True)
    publish_run_report(report, report_dir, report_url)
    _emit_event(decision)
    text = render("text", report)
    log.info("%s", text)
    if decision.outcome in (Outcome.BLOCK, Outcome.RESCHEDULE) and fail_on_block:
        # Reschedule means "not now": the run must not proceed to promotion either.
        raise GateBlocked(decision, text)
    return decision
