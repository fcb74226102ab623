"""`carbonguard gate --policy FILE --run RUN_ID`: judge a recorded run, record the decision.

Exit codes: 0 allow or warn, 1 block or reschedule (the run may not proceed now), 2 bad input.
"""

from __future__ import annotations

import argparse

from carbonguard.cli.output import add_output_arguments, emit, output_targets
from carbonguard.errors import EXIT_BLOCKED, EXIT_OK


def _gate(args: argparse.Namespace) -> int:
    from carbonguard.assess import assess_run, record_assessment
    from carbonguard.ledger import open_ledger
    from carbonguard.models import Outcome
    from carbonguard.policy import load_policy
    from carbonguard.reporting.run import RunReport, ledger_state

    targets = output_targets(args)
    loaded = load_policy(args.policy)
    forecasts = _forecasts(loaded, args.forecast) if args.forecast else None
    with open_ledger(args.ledger, create=False) as ledger:  # a mistyped path must not create a new ledger
        assessment = assess_run(loaded, ledger, args.run, forecasts=forecasts, certificates=args.certificates)
        if not args.no_record:
            assessment = record_assessment(ledger, loaded, assessment)
        # The HTML report shows the ledger head and its verification (one more pass over the chain).
        state = ledger_state(ledger) if any(t.format == "html" for t in targets) else None
    emit(targets, RunReport(assessment.decision, assessment.footprint, ledger=state, match=assessment.match,
                            forecasts=assessment.forecasts, decision_record_hash=assessment.decision_record_hash))
    passing = assessment.decision.outcome in (Outcome.ALLOW, Outcome.WARN)
    return EXIT_OK if passing else EXIT_BLOCKED


def _forecasts(loaded: object, values: list[str]) -> dict[str, list]:
    """`--forecast [ZONE=]FILE`: forecast files for a reschedule proposal (no ZONE: the policy's zone)."""
    from carbonguard.pipeline import policy_zone
    from carbonguard.scheduling.forecast_file import read_forecast

    out: dict[str, list] = {}
    for value in values:
        zone, sep, path = value.partition("=")
        if not sep:
            zone, path = policy_zone(loaded), value  # type: ignore[arg-type]
        out[zone.upper()] = list(read_forecast(path, zone.upper()).points)
    return out


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gate",
        help="judge a recorded run against a policy (exit 0 pass, 1 blocked, 2 bad input)",
        description="Read a run's stage records from the ledger, compute its footprint, evaluate the policy, "
        "record policy, footprint and decision in the ledger, and print the decision.",
    )
    parser.add_argument("--policy", required=True, metavar="FILE", help="policy YAML file")
    parser.add_argument("--run", required=True, metavar="RUN_ID", help="run id (the Prefect flow run id)")
    parser.add_argument("--ledger", metavar="URL", help="ledger path or URL (default: $CARBONGUARD_LEDGER "
                        "or .carbonguard/ledger.db)")
    parser.add_argument("--certificates", nargs="+", metavar="FILE",
                        help="granular certificate exports (each signed in FILE.sig) to match hour by hour under "
                        "the policy's spec.matching; the claims are recorded with the decision")
    add_output_arguments(parser, "run")
    parser.add_argument("--no-record", action="store_true", help="do not write the decision to the ledger")
    parser.add_argument("--forecast", action="append", default=[], metavar="[ZONE=]FILE",
                        help="intensity forecast (CSV or JSON) for a reschedule proposal, for ZONE or the policy's "
                        "zone; repeatable (default: the policy's providers). The CLI prints the proposal; it "
                        "never talks to Prefect")
    parser.set_defaults(handler=_gate)
