"""The gate: `evaluate(policy, footprint, as_of=...) -> Decision`. Pure and deterministic.

It never reads a clock, a file or the network: the caller passes `as_of` (used only for waiver
expiry), so any decision can be replayed from the ledger and must come out the same. Every rule id
it emits is in the catalogue (`carbonguard.rules`); emitting one that is not is a bug and raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from carbonguard.decimal_text import plain
from carbonguard.models import (
    Decision,
    FigureSet,
    Finding,
    IntensityPoint,
    Outcome,
    RescheduleProposal,
    RunFootprint,
    WaiverRef,
)
from carbonguard.policy.loader import LoadedPolicy
from carbonguard.policy.models import Budget, Waiver
from carbonguard.rules import lookup

if TYPE_CHECKING:
    from carbonguard.matching import MatchResult

_RULE_OUTCOME = {"allow": None, "warn": Outcome.WARN, "block": Outcome.BLOCK}
_UNITS = {"co2e_kg": "kg CO2e", "energy_kwh": "kWh"}


def _budget_observed(footprint: RunFootprint, budget: Budget, upper: bool) -> float | None:
    """The figure a budget judges: run or stage, CO2e or facility energy, central or upper bound."""
    target = footprint if budget.stage is None else footprint.stage(budget.stage)
    if target is None or not target.energy_known:
        return None
    if budget.metric == "energy_kwh":
        return target.energy_upper_kwh if upper else target.energy_kwh
    return target.co2e_upper_kg if upper else target.co2e_kg


def _budget_findings(loaded: LoadedPolicy, footprint: RunFootprint) -> Iterable[Finding]:
    spec = loaded.policy.spec
    upper = spec.measurement.use_upper_bound
    for index, budget in enumerate(spec.budgets):
        line = loaded.line_of("spec", "budgets", index)
        unit = _UNITS[budget.metric]
        common = {"scope": budget.scope, "limit": budget.limit, "unit": unit,
                  "policy_file": loaded.source, "policy_line": line}
        if budget.stage is not None and footprint.stage(budget.stage) is None:
            yield Finding(
                rule_id="budget.stage-missing", outcome=Outcome.WARN, **common,
                message=f"budget {budget.id!r} names stage {budget.stage!r}, which this run did not record",
                remedy="Check the stage name in the policy against the @metered(stage=...) names of the flow.",
            )
            continue
        observed = _budget_observed(footprint, budget, upper)
        target = footprint if budget.stage is None else footprint.stage(budget.stage)
        basis = "upper bound of " if upper else ""
        if target is not None and target.unavailable_components and observed is not None:
            basis = f"lower bound ({target.unavailable_components} readings unavailable) of {basis}"
        if observed is None:
            no_reading = target is not None and not target.energy_known
            why = "no device gave a reading" if no_reading else "no intensity figure"
            yield Finding(
                rule_id=budget.rule_id, outcome=Outcome.BLOCK, **common,
                message=f"{budget.metric} of {budget.scope} is unknown ({why}), "
                f"so budget {budget.id!r} cannot be checked",
                remedy="Check the device errors in the stage records and rerun."
                if why.startswith("no device") else "Set a zone that has intensity data, or configure a live provider.",
            )
            continue
        if observed > budget.limit:
            yield Finding(
                rule_id=budget.rule_id, outcome=Outcome(budget.action), observed=observed, **common,
                message=f"{basis}{budget.metric} of {budget.scope} is {plain(observed)} {unit}, "
                f"over the budget {budget.id!r} of {plain(budget.limit)} {unit}",
                remedy=_over_budget_remedy(budget),
            )
        elif budget.warn_at is not None and observed >= budget.warn_at * budget.limit:
            yield Finding(
                rule_id=budget.rule_id, outcome=Outcome.WARN, observed=observed, **common,
                message=f"{basis}{budget.metric} of {budget.scope} is {plain(observed)} {unit}, "
                f"{observed / budget.limit:.0%} of the budget {budget.id!r} ({plain(budget.limit)} {unit})",
                remedy="Within budget; plan headroom before the next run grows.",
            )


def _increase_findings(loaded: LoadedPolicy, footprint: RunFootprint, baseline: FigureSet | None) -> Iterable[Finding]:
    """Budgets with max_increase_*: how much the figure grew over the baseline, e.g. "+38 % over main".

    Judged on the same basis as the budget (central or upper bound). A stage the baseline lacks
    is new: its whole figure is the increase and no fraction can be taken. A baseline figure that
    is unknown cannot be compared, which is said (warn), never read as 0.
    """
    if baseline is None:
        return
    spec = loaded.policy.spec
    upper = spec.measurement.use_upper_bound
    for index, budget in enumerate(spec.budgets):
        absolute, fraction = budget.max_increase, budget.max_increase_fraction
        if absolute is None and fraction is None:
            continue
        observed = _budget_observed(footprint, budget, upper)
        if observed is None:
            continue  # the budget's own finding already says the figure is unknown
        unit = _UNITS[budget.metric]
        common = {"scope": budget.scope, "policy_file": loaded.source,
                  "policy_line": loaded.line_of("spec", "budgets", index)}
        base_figures = baseline.total if budget.stage is None else baseline.stage(budget.stage)
        base = 0.0 if base_figures is None else base_figures.value(budget.metric, upper)
        if base is None:
            yield Finding(
                rule_id=budget.rule_id, outcome=Outcome.WARN, unit=f"{unit} over baseline", **common,
                message=f"{budget.metric} of {budget.scope} in the baseline {baseline.label!r} is unknown, "
                f"so the increase limit of budget {budget.id!r} cannot be checked",
                remedy="Compare against a baseline whose figures are known (an estimate, or a fully metered run).",
            )
            continue
        increase = observed - base
        share = increase / base if base > 0 else None
        over_abs = absolute is not None and increase > absolute
        over_frac = fraction is not None and share is not None and share > fraction
        if not (over_abs or over_frac):
            continue
        pct = f" ({share:+.0%})".replace("%", " %") if share is not None else " (new in head)"
        allowed = " / ".join(part for part in (
            f"+{plain(absolute)} {unit}" if absolute is not None else "",
            f"+{fraction:.0%}".replace("%", " %") if fraction is not None else "") if part)
        basis = "upper bound of " if upper else ""
        yield Finding(
            rule_id=budget.rule_id, outcome=Outcome(budget.action), **common,
            observed=increase if over_abs else share, limit=absolute if over_abs else fraction,
            unit=f"{unit} over baseline" if over_abs else "fraction over baseline",
            message=f"{basis}{budget.metric} of {budget.scope} is {plain(observed)} {unit}, "
            f"{plain(increase, sign=True)} {unit}"
            f"{pct} over {baseline.label} ({plain(base)} {unit}); budget {budget.id!r} allows at most {allowed}",
            remedy="Bring the increase back under the limit (fewer epochs, a smaller model, mixed precision, "
            "a cleaner zone), raise max_increase_* in the policy with review, or record an approved waiver.",
        )


def _over_budget_remedy(budget: Budget) -> str:
    if budget.action == "reschedule":
        return "Defer the run to a cleaner window or zone (see spec.scheduling), or reduce its energy."
    return (
        "Reduce the run's energy (fewer epochs, smaller model, mixed precision), run in a cleaner zone "
        "or hour, or record an approved waiver in spec.waivers."
    )


def _measurement_findings(loaded: LoadedPolicy, footprint: RunFootprint) -> Iterable[Finding]:
    rules = loaded.policy.spec.measurement
    if footprint.estimated_components and _RULE_OUTCOME[rules.estimated]:
        yield Finding(
            rule_id="measurement.estimated", outcome=_RULE_OUTCOME[rules.estimated],
            observed=float(footprint.estimated_components), unit="readings",
            policy_file=loaded.source, policy_line=loaded.line_of("spec", "measurement", "estimated"),
            message=f"{footprint.estimated_components} energy reading(s) are estimates, not counters",
            remedy="Run where hardware counters exist (NVML energy counter, readable RAPL), "
            "or judge on the upper bound with spec.measurement.use_upper_bound.",
        )
    if footprint.unavailable_components and _RULE_OUTCOME[rules.unavailable]:
        yield Finding(
            rule_id="measurement.unavailable", outcome=_RULE_OUTCOME[rules.unavailable],
            observed=float(footprint.unavailable_components), unit="readings",
            policy_file=loaded.source, policy_line=loaded.line_of("spec", "measurement", "unavailable"),
            message=f"{footprint.unavailable_components} device reading(s) are unavailable; "
            "the run's energy is incomplete",
            remedy="Check the device errors in the stage records (NVML, RAPL permissions) and rerun.",
        )


def _location_findings(loaded: LoadedPolicy, footprint: RunFootprint) -> Iterable[Finding]:
    recorded = footprint.zone_mismatch
    if recorded:
        yield Finding(
            rule_id="location.zone-mismatch", outcome=Outcome.BLOCK,
            policy_file=loaded.source, policy_line=loaded.line_of("spec", "location"),
            message=f"stages recorded grid zone(s) {', '.join(recorded)} but the policy computes CO2e for "
            f"{footprint.zone}; the emissions would be for the wrong grid",
            remedy="Run under a policy for the zone the stages ran in, or fix the zone recorded by "
            "@metered(zone=...) / carbonguard meter --zone.",
        )


def _intensity_findings(loaded: LoadedPolicy, footprint: RunFootprint) -> Iterable[Finding]:
    if "world-average-fallback" in footprint.flags:
        outcome = Outcome.BLOCK if loaded.policy.spec.intensity.unknown_zone == "block" else Outcome.WARN
        yield Finding(
            rule_id="intensity.unknown-zone", outcome=outcome,
            policy_file=loaded.source, policy_line=loaded.line_of("spec", "location"),
            message=f"no grid intensity is known for zone {footprint.zone!r}; the world average was used",
            remedy="Use a zone code carbonguard knows (carbonguard intensity --list-zones) or a live provider.",
        )


def _stale_findings(loaded: LoadedPolicy, footprint: RunFootprint) -> Iterable[Finding]:
    years = sorted({f.split(":", 1)[1] for f in footprint.flags if f.startswith("stale-data:")})
    outcome = _RULE_OUTCOME[loaded.policy.spec.intensity.stale_data]
    if years and outcome is not None:
        run_year = footprint.start.year if footprint.start else None
        yield Finding(
            rule_id="intensity.stale", outcome=outcome,
            policy_file=loaded.source, policy_line=loaded.line_of("spec", "intensity"),
            message=f"grid intensity for {footprint.zone} is an annual figure of data year {', '.join(years)}"
            + (f", applied to a {run_year} run" if run_year else "") + "; the grid may have changed since",
            remedy="Configure a live intensity provider (spec.intensity.providers), or accept the figure "
            "with spec.intensity.stale_data: allow.",
        )


_MATCHING_FIELD = {"matching.cfe": "min_cfe", "matching.hourly-cfe": "min_hourly_cfe",
                   "matching.unverified": "registries", "matching.offsets-only": "offsets",
                   "matching.offset-invalid": "offsets", "matching.beneficiary": "beneficiary",
                   "matching.zone": "zones", "matching.source": "sources"}


def _matching_findings(loaded: LoadedPolicy, match: MatchResult | None, energy_known: bool) -> Iterable[Finding]:
    """Hourly matching's findings, located at the `spec.matching` field they judge (or the section)."""
    matching = loaded.policy.spec.matching
    if matching is None or match is None:
        return
    from carbonguard.matching import judge_matching  # loaded only when the policy matches certificates

    section = loaded.line_of("spec", "matching")
    for finding in judge_matching(matching, match):
        field = _MATCHING_FIELD.get(finding.rule_id)
        line = (loaded.line_of("spec", "matching", field) if field else None) or section
        update: dict[str, object] = {"policy_file": loaded.source, "policy_line": line}
        if finding.rule_id == "matching.cfe" and not match.files:
            update["message"] = finding.message + "; no certificate files were given"
        yield finding.model_copy(update=update)
    if not energy_known and matching.min_cfe > 0:
        yield Finding(
            rule_id="matching.cfe", outcome=Outcome(matching.action), limit=matching.min_cfe,
            unit="hourly CFE score", policy_file=loaded.source,
            policy_line=loaded.line_of("spec", "matching", "min_cfe") or section,
            message="no device gave an energy reading, so the run's hourly CFE score cannot be computed",
            remedy="Check the device errors in the stage records and rerun; a claim needs known consumption.",
        )


def _apply_waivers(loaded: LoadedPolicy, findings: list[Finding], as_of: datetime) -> list[Finding]:
    """Live waivers silence their rule; expired ones stop applying and add a warning of their own."""
    today = as_of.date()
    out: list[Finding] = []
    waivers: list[tuple[int, Waiver]] = list(enumerate(loaded.policy.spec.waivers))
    for finding in findings:
        matching = [(i, w) for i, w in waivers if w.rule == finding.rule_id]
        live = next(((i, w) for i, w in matching if w.expires >= today), None)
        if live is not None and finding.outcome != Outcome.ALLOW:
            i, w = live
            ref = WaiverRef(rule=w.rule, reason=w.reason, approved_by=w.approved_by,
                            expires=w.expires.isoformat(), policy_line=loaded.line_of("spec", "waivers", i))
            out.append(finding.model_copy(update={"waived_by": ref}))
            continue
        out.append(finding)
        for i, w in matching:
            out.append(Finding(
                rule_id="waiver.expired", outcome=Outcome.WARN, scope=finding.scope,
                policy_file=loaded.source, policy_line=loaded.line_of("spec", "waivers", i),
                message=f"waiver for {w.rule} (approved by {w.approved_by}) expired on "
                f"{w.expires.isoformat()}; the finding applies again",
                remedy="Fix the cause, or renew the waiver with a new approval and expiry date.",
            ))
    return out


def _proposal(loaded: LoadedPolicy, footprint: RunFootprint, as_of: datetime,
              forecasts: Mapping[str, Sequence[IntensityPoint]] | None) -> RescheduleProposal:
    """Where and when the run would be cleaner, sized by its own measured duration and energy."""
    if footprint.start is None or footprint.end is None or footprint.end <= footprint.start:
        return RescheduleProposal(proposed=False, reason="the run recorded no duration to size a window for")
    if forecasts is None:
        return RescheduleProposal(proposed=False, reason="no intensity forecast was available to the gate")
    from carbonguard.scheduling.propose import propose  # numpy: loaded only when a run is rescheduled

    duration = footprint.end - footprint.start
    found = propose(loaded.policy.spec.scheduling, forecasts, footprint.zone, duration, as_of,
                    energy_kwh=footprint.known_energy_kwh,
                    energy_source="measured" if footprint.known_energy_kwh is not None else None)
    window, now, saving = found.window, found.run_now, found.saving
    return RescheduleProposal(
        proposed=found.proposed, zone=found.zone if found.proposed else None,
        start=window.start if window and found.proposed else None,
        end=window.end if window and found.proposed else None,
        mean_g_per_kwh=window.mean_g_per_kwh if window and found.proposed else None,
        run_now_zone=now.zone if now else None, run_now_g_per_kwh=now.mean_g_per_kwh if now else None,
        saving_g_per_kwh=saving.g_per_kwh if saving else None, saving_fraction=saving.fraction if saving else None,
        saving_co2e_kg=saving.co2e_kg if saving else None, duration_s=duration.total_seconds(), reason=found.reason,
    )


def _reschedule(loaded: LoadedPolicy, footprint: RunFootprint, findings: list[Finding], as_of: datetime,
                forecasts: Mapping[str, Sequence[IntensityPoint]] | None,
                ) -> tuple[list[Finding], RescheduleProposal | None]:
    """`reschedule` means "then, there": with no window that beats now, the budget's fallback applies."""
    if not any(f.outcome == Outcome.RESCHEDULE and f.waived_by is None for f in findings):
        return findings, None
    proposal = _proposal(loaded, footprint, as_of, forecasts)
    if proposal.proposed:
        return findings, proposal
    budgets = {b.rule_id: b for b in loaded.policy.spec.budgets}
    out = []
    for f in findings:
        if f.outcome == Outcome.RESCHEDULE and f.waived_by is None:
            fallback = budgets[f.rule_id].fallback if f.rule_id in budgets else "block"
            f = f.model_copy(update={"outcome": Outcome(fallback),
                                     "message": f"{f.message}; cannot reschedule: {proposal.reason}"})
        out.append(f)
    return out, proposal


def matching_findings(loaded: LoadedPolicy, match: MatchResult, *, as_of: datetime,
                      energy_known: bool = True) -> list[Finding]:
    """The matching findings alone, waivers applied: what `carbonguard match` reports and exits on."""
    findings = _apply_waivers(loaded, list(_matching_findings(loaded, match, energy_known)), as_of)
    for finding in findings:
        lookup(finding.rule_id)
    return findings


def evaluate(
    loaded: LoadedPolicy,
    footprint: RunFootprint,
    *,
    as_of: datetime,
    forecasts: Mapping[str, Sequence[IntensityPoint]] | None = None,
    baseline: FigureSet | None = None,
    match: MatchResult | None = None,
) -> Decision:
    """Judge one run's footprint against one policy. Same inputs, same Decision, every time.

    `forecasts` (intensity points keyed by zone: the run's zone and the policy's candidates) are
    needed only when a rule asks to reschedule; without them the budget's fallback applies.
    `baseline` (figures of the base branch or an earlier run) lets budgets limit the increase.
    `match` (hourly matching of this footprint, `pipeline.match_footprint`) adds the matching
    findings when the policy has `spec.matching`; its waivers apply like any other.
    """
    findings = [
        *_budget_findings(loaded, footprint),
        *_increase_findings(loaded, footprint, baseline),
        *_measurement_findings(loaded, footprint),
        *_intensity_findings(loaded, footprint),
        *_stale_findings(loaded, footprint),
        *_location_findings(loaded, footprint),
        *_matching_findings(loaded, match, footprint.energy_known),
    ]
    findings = _apply_waivers(loaded, findings, as_of)
    findings, proposal = _reschedule(loaded, footprint, findings, as_of, forecasts)
    for finding in findings:
        lookup(finding.rule_id)  # raises for a rule the catalogue does not hold: a bug, never silent
    active = [f.outcome for f in findings if f.waived_by is None]
    outcome = max(active, key=lambda o: o.severity, default=Outcome.ALLOW)
    return Decision(
        outcome=outcome,
        run_id=footprint.run_id,
        policy_name=loaded.name,
        policy_version=loaded.version,
        policy_hash=loaded.content_hash,
        policy_file=loaded.source,
        evaluated_at=as_of,
        energy_kwh=footprint.known_energy_kwh,
        co2e_kg=footprint.known_co2e_kg,
        energy_complete=footprint.energy_complete,
        findings=tuple(findings),
        reschedule=proposal,
        judged_records=footprint.judged_records,
        functional_unit=loaded.policy.spec.reporting.functional_unit,
        functional_units=loaded.policy.spec.reporting.units_per_run,
        cfe_score=None if match is None or match.cfe_score is None else min(max(match.cfe_score, 0.0), 1.0),
        market_co2e_kg=footprint.market_co2e_kg,
    )
