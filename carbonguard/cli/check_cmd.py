"""`carbonguard check --policy FILE (--jobspec FILE | --run RUN_ID)... [--baseline FILE_OR_RUN]...`

The pull-request budget check. A job spec is estimated (no ledger) and judged through the same pure
`pipeline.judge` as a recorded run; a recorded run is read from a verified ledger and judged the
same way, and nothing is ever written (`check` is read-only; `carbonguard gate` records).

Exit codes: 0 pass (warnings included), 1 blocked (or warned under `--fail-on warn`; never under
`--fail-on never`), 2 bad usage or input, 70 a bug (never 1, so a crash cannot pass for a verdict).

Where the job spec and the policy disagree: the policy is for one grid and one facility, so the
estimate is always priced in the policy's zone at the policy's PUE, exactly as `carbonguard gate`
prices a measured run. The job spec's zone stays on its stage records (cloud regions resolved to
their grid zone), so a job spec that runs elsewhere gets the `location.zone-mismatch` finding
(block, waivable), never a silent re-pricing. A job spec PUE that differs from the policy's is an
input error naming both lines: PUE has no finding of its own, and judging at either figure
without saying so would be a silent override.
"""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timezone
from typing import Any

from carbonguard.errors import EXIT_BLOCKED, EXIT_OK, InputError, Problem

FAIL_ON = ("block", "warn", "never")


def _as_of(value: str | None) -> datetime:
    if value is None:
        return datetime.now(timezone.utc)
    from carbonguard.cli.estimate_cmd import parse_start

    try:
        return parse_start(value)
    except InputError:
        raise InputError(Problem(f"not an ISO 8601 time with a timezone: {value!r}", "command line",
                                 field_path="--as-of")) from None


def _check_pue(spec: Any, policy: Any) -> None:
    """Every PUE the job spec declares must be the policy's (see the module docstring)."""
    want = float(policy.policy.spec.pue)
    places = [(("spec", "pue"), spec.spec.spec.pue)]
    places += [(("spec", "stages", i, "pue"), s.pue) for i, s in enumerate(spec.spec.spec.stages) if s.pue is not None]
    problems = []
    for path, value in places:
        if float(value) != want:
            line = spec.line_of(*path)
            problems.append(Problem(
                f"PUE {float(value):g} differs from the policy's {want:g} ({policy.source}:"
                f"{policy.line_of('spec', 'pue')}); the policy is for one facility, so judge under a policy "
                "for this facility or align the two", spec.source, line,
                field_path=".".join(str(p) for p in path)))
    if problems:
        raise InputError(problems)


def intensity_source(policy: Any) -> Any:
    """What `assess.fetch_points` would build, without importing the HTTP stack for the embedded-only
    default (saves ~0.2 s of a CI job's start). Unknown zones warn here and the gate decides, as in assess."""
    settings = policy.policy.spec.intensity
    if tuple(settings.providers) != ("embedded",):
        return None  # fetch_points builds the live chain
    from carbonguard.intensity.providers.embedded import EmbeddedSource

    return EmbeddedSource(unknown_zone="warn", signal=settings.signal)


def grid_records(records: Any) -> list[Any]:
    """Stage records with their zone resolved to a grid zone (a cloud region `GCP:EUROPE-WEST4` -> `NL`),
    so the accounting's zone-mismatch test compares grids, not spellings."""
    from carbonguard.intensity.zones import resolve_zone

    return [r.model_copy(update={"zone": resolve_zone(r.zone, None, None)}) if r.zone else r for r in records]


def judge_jobspec(path: str, policy: Any, *, start: datetime, as_of: datetime, baseline: Any = None,
                  ledger_url: str | None = None) -> Any:
    """Estimate one job spec file and judge it under `policy` -> `CheckedSubject`. No ledger unless from_run."""
    from carbonguard.estimate.loader import load_jobspec

    return judge_loaded_jobspec(load_jobspec(path), policy, start=start, as_of=as_of, baseline=baseline,
                                ledger_url=ledger_url)


def judge_loaded_jobspec(loaded: Any, policy: Any, *, start: datetime, as_of: datetime, baseline: Any = None,
                         ledger_url: str | None = None) -> Any:
    """`judge_jobspec` for a job spec already read (`estimate.loader.LoadedJobSpec`)."""
    from carbonguard.assess import fetch_points
    from carbonguard.cli.estimate_cmd import _records_of_run
    from carbonguard.estimate.accelerators import load_table
    from carbonguard.estimate.estimator import estimate_job
    from carbonguard.estimate.scaling import estimate_from_run
    from carbonguard.pipeline import judge
    from carbonguard.reporting.check import CheckedSubject, JobspecLines

    _check_pue(loaded, policy)
    spec = loaded.spec
    if spec.spec.from_run is not None:
        estimate = estimate_from_run(spec, _records_of_run(spec.spec.from_run.run_id, ledger_url), start=start)
    else:
        estimate = estimate_job(spec, start=start, table=load_table())
    records = grid_records(estimate.records)
    points = fetch_points(policy, records, source=intensity_source(policy))
    result = judge(policy, records, points, run_id=estimate.run_id, as_of=as_of, baseline=baseline)
    lines = JobspecLines(file=loaded.source, top=loaded.line_of("metadata") or 1,
                         location=loaded.line_of("spec", "location"),
                         stages=tuple((s.name, loaded.stage_line(s.name)) for s in spec.spec.stages))
    return CheckedSubject("jobspec", loaded.source, result.decision, result.footprint, baseline, lines)


def judge_run(run_id: str, policy: Any, *, as_of: datetime, baseline: Any = None,
              ledger_url: str | None = None) -> Any:
    """Judge a recorded run from a verified ledger, read-only -> `CheckedSubject`."""
    from carbonguard.assess import fetch_points, load_stage_rows
    from carbonguard.ledger import open_ledger
    from carbonguard.pipeline import judge
    from carbonguard.reporting.check import CheckedSubject

    with open_ledger(ledger_url, create=False) as ledger:
        records, judged = load_stage_rows(ledger, run_id, verify=True)  # the run's span, as a gate
    points = fetch_points(policy, records, source=intensity_source(policy))
    result = judge(policy, records, points, run_id=run_id, as_of=as_of, judged=judged, baseline=baseline)
    return CheckedSubject("run", run_id, result.decision, result.footprint, baseline)


def default_tag(subjects: list[tuple[str, str]]) -> str:
    """The PR-comment marker tag: the first job spec's path as the action spells it, else 'check'."""
    first = next((name for kind, name in subjects if kind == "jobspec"), None)
    if first is None:
        return "check"
    return re.sub(r"[^A-Za-z0-9._/-]", "-", first)[:100] or "check"


def _subjects(argv_order: list[tuple[str, str]]) -> list[tuple[str, str]]:
    if not argv_order:
        raise InputError(Problem("give at least one --jobspec FILE or --run RUN_ID", "command line",
                                 field_path="--jobspec"))
    return argv_order


class _Subject(argparse.Action):
    """Keep --jobspec and --run in the order given, so baselines pair with them in that order."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        items = list(getattr(namespace, "subjects", None) or [])
        items.append(("jobspec" if option_string == "--jobspec" else "run", values))
        namespace.subjects = items


def _check(args: argparse.Namespace) -> int:
    from carbonguard.cli.estimate_cmd import parse_start
    from carbonguard.cli.figures import load_side
    from carbonguard.cli.output import emit, output_targets
    from carbonguard.formats.check_markdown import marker
    from carbonguard.formats.registry import RenderOptions
    from carbonguard.policy import load_policy
    from carbonguard.reporting.check import BudgetInfo, CheckReport

    targets = output_targets(args)  # checked before any work
    subjects = _subjects(args.subjects or [])
    tag = args.tag or default_tag(subjects)
    try:
        marker(tag)
    except ValueError as error:
        raise InputError(Problem(str(error), "command line", field_path="--tag")) from None
    baselines = args.baseline or []
    if baselines and len(baselines) != len(subjects):
        raise InputError(Problem(f"{len(baselines)} --baseline for {len(subjects)} job specs/runs: give one "
                                 "per --jobspec/--run, in the same order", "command line", field_path="--baseline"))
    labels = args.baseline_label or []
    if len(labels) > max(len(baselines), 1) or (labels and not baselines):
        raise InputError(Problem("give --baseline-label once per --baseline", "command line",
                                 field_path="--baseline-label"))
    start, as_of = parse_start(args.start), _as_of(args.as_of)
    policy = load_policy(args.policy)

    def reprice(records: Any, run_id: str) -> Any:
        """A baseline's estimated records priced exactly as the head is: the policy's zone, PUE and source."""
        from carbonguard.assess import fetch_points
        from carbonguard.pipeline import judge

        gridded = grid_records(records)
        points = fetch_points(policy, gridded, source=intensity_source(policy))
        return judge(policy, gridded, points, run_id=run_id, as_of=as_of).footprint

    sides = [load_side(spec, label=labels[i] if i < len(labels) else None, start=start, ledger_url=args.ledger,
                       loaded_policy=policy, as_of=as_of, reprice=reprice) for i, spec in enumerate(baselines)]
    checked = []
    for i, (kind, name) in enumerate(subjects):
        baseline = sides[i] if sides else None
        if kind == "jobspec":
            checked.append(judge_jobspec(name, policy, start=start, as_of=as_of, baseline=baseline,
                                         ledger_url=args.ledger))
        else:
            checked.append(judge_run(name, policy, as_of=as_of, baseline=baseline, ledger_url=args.ledger))
    budgets = tuple(BudgetInfo(b.id, b.scope, b.metric, b.limit, policy.line_of("spec", "budgets", i))
                    for i, b in enumerate(policy.policy.spec.budgets))
    report = CheckReport(policy.source, policy.name, policy.version, policy.content_hash, tuple(checked),
                         args.fail_on, budgets)
    emit(targets, report, RenderOptions(tag=tag))
    if any(t.format == "github" for t in targets):
        from carbonguard.cli.actions_env import write_actions_files

        write_actions_files(report)
    return EXIT_BLOCKED if report.failed else EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    from carbonguard.cli.estimate_cmd import DEFAULT_START
    from carbonguard.cli.output import add_output_arguments

    parser = subparsers.add_parser(
        "check",
        help="budget check for pull requests: judge job spec estimates or recorded runs, optionally against "
        "a baseline (exit 0 pass, 1 blocked, 2 bad input)",
        description="Estimate each job spec (or read each recorded run, read-only) and judge it against the "
        "policy, optionally against a baseline for max_increase_* budgets. Writes nothing to any ledger. "
        "The policy's zone and PUE price the estimate; a job spec in another grid gets location.zone-mismatch, "
        "a job spec PUE other than the policy's is an input error.",
    )
    parser.add_argument("--policy", required=True, metavar="FILE", help="policy YAML file")
    parser.add_argument("--jobspec", action=_Subject, metavar="FILE", help="job spec to estimate and judge "
                        "(repeatable)")
    parser.add_argument("--run", action=_Subject, metavar="RUN_ID", help="recorded run to judge, read-only "
                        "(repeatable)")
    parser.add_argument("--baseline", action="append", metavar="FILE_OR_RUN",
                        help="what to compare with: a job spec, a JSON file from `carbonguard estimate/check/gate`, "
                        "or a run id; once per --jobspec/--run, in the same order")
    parser.add_argument("--baseline-label", action="append", metavar="NAME",
                        help="how findings name the baseline, e.g. 'main' (default: the file or run id)")
    parser.add_argument("--fail-on", choices=FAIL_ON, default="block",
                        help="exit 1 on: block (default; also reschedule), warn (warnings too), never")
    add_output_arguments(parser, "check")
    parser.add_argument("--tag", metavar="TAG", help="hidden marker tag of the markdown PR comment "
                        "(default: the first job spec's path)")
    parser.add_argument("--ledger", metavar="URL", help="ledger for --run, run baselines and from_run job specs "
                        "(read only; default: $CARBONGUARD_LEDGER or .carbonguard/ledger.db)")
    parser.add_argument("--start", default=DEFAULT_START, metavar="TIME",
                        help=f"synthetic UTC start of estimates (default {DEFAULT_START})")
    parser.add_argument("--as-of", metavar="TIME", help="judge waivers as of this UTC time (default: now)")
    parser.set_defaults(handler=_check, subjects=None)
