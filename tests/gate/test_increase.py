"""Budgets that limit the increase over a baseline: pure, same basis as the budget, never 0 for unknown."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from carbonguard.errors import InputError
from carbonguard.gate import evaluate
from carbonguard.models import Figures, FigureSet, Outcome, RunFootprint, StageFootprint
from carbonguard.policy import parse_policy

AS_OF = datetime(2026, 3, 2, tzinfo=timezone.utc)


def policy(budgets: str, extra: str = ""):
    return parse_policy(f"""\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {{name: increase, version: "1"}}
spec:
  location: {{zone: DE}}
  pue: 1.0
  budgets:
{budgets}
  measurement: {{estimated: allow}}
{extra}""", "p.yaml")


def footprint(co2e: float, train: float | None = None, upper: float | None = None) -> RunFootprint:
    stages = () if train is None else (StageFootprint(stage="train", records=1, it_energy_kwh=train,
                                                      energy_kwh=train, energy_upper_kwh=train, co2e_kg=train),)
    return RunFootprint(run_id="r", zone="DE", pue=1.0, it_energy_kwh=10.0, energy_kwh=10.0, energy_upper_kwh=10.0,
                        co2e_kg=co2e, co2e_upper_kg=upper if upper is not None else co2e, stages=stages)


def base(co2e: float | None, train: float | None = None, upper: float | None = None) -> FigureSet:
    stages = () if train is None else (("train", Figures(energy_kwh=train, co2e_kg=train, co2e_upper_kg=train)),)
    return FigureSet(label="main", total=Figures(energy_kwh=10.0, energy_upper_kwh=10.0, co2e_kg=co2e,
                                                  co2e_upper_kg=upper if upper is not None else co2e), stages=stages)


RUN = "    - {id: run-co2e, metric: co2e_kg, limit: 100.0, max_increase_fraction: 0.25}\n"


def test_an_increase_over_the_fraction_blocks_and_says_how_much_over_what() -> None:
    decision = evaluate(policy(RUN), footprint(6.9), as_of=AS_OF, baseline=base(5.0))
    assert decision.outcome == Outcome.BLOCK
    (finding,) = decision.findings
    assert finding.rule_id == "budget.run-co2e" and finding.unit == "fraction over baseline"
    assert "+38 %) over main" in finding.message and finding.limit == 0.25
    assert finding.observed == pytest.approx(0.38)


def test_within_the_limit_decreases_and_no_baseline_give_no_finding() -> None:
    assert not evaluate(policy(RUN), footprint(6.0), as_of=AS_OF, baseline=base(5.0)).findings  # +20 %
    assert not evaluate(policy(RUN), footprint(2.0), as_of=AS_OF, baseline=base(5.0)).findings
    assert not evaluate(policy(RUN), footprint(60.0), as_of=AS_OF).findings  # no baseline: not judged


def test_absolute_limit_in_the_metrics_unit() -> None:
    p = policy("    - {id: run-co2e, metric: co2e_kg, limit: 100.0, max_increase_kg: 1.0, action: warn}\n")
    decision = evaluate(p, footprint(6.5), as_of=AS_OF, baseline=base(5.0))
    (finding,) = decision.findings
    assert decision.outcome == Outcome.WARN and finding.unit == "kg CO2e over baseline"
    assert finding.observed == pytest.approx(1.5) and "+1.5 kg CO2e (+30 %) over main" in finding.message


def test_judged_on_the_upper_bound_when_the_policy_says_so() -> None:
    upper = parse_policy(f"""\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {{name: increase, version: "1"}}
spec:
  location: {{zone: DE}}
  pue: 1.0
  budgets:
{RUN}  measurement: {{estimated: allow, use_upper_bound: true}}
""", "p.yaml")
    # central +10 %, upper +60 %: the upper bound decides, on both sides
    decision = evaluate(upper, footprint(5.5, upper=8.0), as_of=AS_OF, baseline=base(5.0, upper=5.0))
    assert decision.outcome == Outcome.BLOCK and "upper bound of" in decision.findings[0].message


def test_a_stage_new_in_head_counts_whole_and_an_unknown_baseline_is_said_not_zeroed() -> None:
    stage = "    - {id: train, scope: 'stage:train', metric: co2e_kg, limit: 100.0, max_increase_kg: 1.0}\n"
    decision = evaluate(policy(stage), footprint(3.0, train=3.0), as_of=AS_OF, baseline=base(1.0))
    assert "(new in head)" in decision.findings[0].message and decision.outcome == Outcome.BLOCK
    unknown = evaluate(policy(RUN), footprint(3.0), as_of=AS_OF, baseline=base(None))
    assert unknown.outcome == Outcome.WARN and "cannot be checked" in unknown.findings[0].message


def test_a_waiver_of_the_budget_waives_its_increase_too() -> None:
    waiver = "  waivers:\n    - {rule: budget.run-co2e, reason: bigger model approved, approved_by: cto, " \
             "expires: 2099-01-01}\n"
    decision = evaluate(policy(RUN, waiver), footprint(9.0), as_of=AS_OF, baseline=base(5.0))
    assert decision.outcome == Outcome.ALLOW and decision.findings[0].waived_by is not None


@pytest.mark.parametrize(("budget", "message"), [
    ("{id: e, metric: energy_kwh, limit: 1.0, max_increase_kg: 1.0}", "max_increase_kg applies to co2e_kg"),
    ("{id: c, metric: co2e_kg, limit: 1.0, max_increase_kwh: 1.0}", "max_increase_kwh applies to energy_kwh"),
    ("{id: c, metric: co2e_kg, limit: 1.0, max_increase_fraction: -0.1}", "max_increase_fraction: must be >= 0"),
])
def test_increase_fields_are_checked_where_they_are_written(budget: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as error:
        policy(f"    - {budget}\n")
    assert error.value.problems[0].line == 8


def test_exactly_at_the_increase_limit_is_within_it() -> None:
    """The limit is "at most": +25 % against max_increase_fraction 0.25, +1 kg against 1 kg, pass."""
    assert not evaluate(policy(RUN), footprint(6.25), as_of=AS_OF, baseline=base(5.0)).findings
    at_kg = policy("    - {id: run-co2e, metric: co2e_kg, limit: 100.0, max_increase_kg: 1.0}\n")
    assert not evaluate(at_kg, footprint(6.0), as_of=AS_OF, baseline=base(5.0)).findings
