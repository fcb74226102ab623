"""The gate's decisions, table-driven: budgets, warn vs block, waivers live and expired, estimates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest

from carbonguard.gate import evaluate
from carbonguard.models import JudgedRecords, Outcome, RunFootprint, StageFootprint
from carbonguard.policy import parse_policy

AS_OF = datetime(2026, 11, 28, 12, tzinfo=timezone.utc)

BASE = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {name: gate-test, version: "3"}
spec:
  location: {zone: DE}
  pue: 1.2
  budgets:
    - {id: run-co2e, metric: co2e_kg, limit: 10, warn_at: 0.8, action: block}
    - {id: train-energy, scope: "stage:train", metric: energy_kwh, limit: 20, action: warn}
  measurement: {estimated: %(estimated)s, unavailable: %(unavailable)s, use_upper_bound: %(upper)s}
  intensity: {unknown_zone: %(unknown_zone)s}
  waivers: %(waivers)s
"""


def policy(estimated="allow", unavailable="block", upper="false", unknown_zone="block", waivers="[]"):
    text = BASE % {"estimated": estimated, "unavailable": unavailable, "upper": upper,
                   "unknown_zone": unknown_zone, "waivers": waivers}
    return parse_policy(text, "policies/gate-test.yaml")


def footprint(co2e=5.0, co2e_upper=None, train_kwh=10.0, estimated=0, unavailable=0, flags=(), stages=True):
    stage_list = (
        StageFootprint(stage="train", records=1, it_energy_kwh=train_kwh / 1.2, energy_kwh=train_kwh,
                       energy_upper_kwh=train_kwh * 1.5, co2e_kg=co2e, co2e_upper_kg=co2e_upper or co2e),
    ) if stages else ()
    return RunFootprint(
        run_id="run-1", zone="DE", pue=1.2, it_energy_kwh=train_kwh / 1.2, energy_kwh=train_kwh,
        energy_upper_kwh=train_kwh * 1.5, co2e_kg=co2e, co2e_upper_kg=co2e_upper or co2e, stages=stage_list,
        estimated_components=estimated, unavailable_components=unavailable, flags=tuple(flags),
        judged_records=JudgedRecords.of(("a" * 64, "b" * 64), through_seq=7),
    )


@dataclass
class Case:
    name: str
    footprint: RunFootprint
    expect: Outcome
    rules: set[str] = field(default_factory=set)
    policy_kwargs: dict = field(default_factory=dict)


LIVE = "[{rule: budget.run-co2e, reason: quarterly retrain, approved_by: cso@example.com, expires: 2026-12-31}]"
EXPIRED = "[{rule: budget.run-co2e, reason: old, approved_by: cso@example.com, expires: 2026-11-27}]"
LAST_DAY = "[{rule: budget.run-co2e, reason: r, approved_by: cso@example.com, expires: 2026-11-28}]"

CASES = [
    Case("under-budget", footprint(co2e=5.0), Outcome.ALLOW),
    Case("at-limit-warns-via-warn-at", footprint(co2e=10.0), Outcome.WARN, {"budget.run-co2e"}),
    Case("near-limit-warns", footprint(co2e=8.5), Outcome.WARN, {"budget.run-co2e"}),
    Case("just-below-warn-at", footprint(co2e=7.99), Outcome.ALLOW),
    Case("exactly-at-warn-at-warns", footprint(co2e=8.0), Outcome.WARN, {"budget.run-co2e"}),  # 0.8 * 10
    Case("over-run-budget-blocks", footprint(co2e=10.01), Outcome.BLOCK, {"budget.run-co2e"}),
    Case("over-stage-budget-warns-only", footprint(co2e=1.0, train_kwh=25.0), Outcome.WARN, {"budget.train-energy"}),
    Case("stage-missing-warns", footprint(co2e=1.0, stages=False), Outcome.WARN, {"budget.stage-missing"}),
    Case("unknown-co2e-blocks", footprint(co2e=None), Outcome.BLOCK, {"budget.run-co2e"}),
    Case("live-waiver-silences-block", footprint(co2e=12.0), Outcome.ALLOW, set(), {"waivers": LIVE}),
    Case("waiver-valid-on-its-last-day", footprint(co2e=12.0), Outcome.ALLOW, set(), {"waivers": LAST_DAY}),
    Case("expired-waiver-brings-block-back", footprint(co2e=12.0), Outcome.BLOCK,
         {"budget.run-co2e", "waiver.expired"}, {"waivers": EXPIRED}),
    Case("estimated-allowed", footprint(estimated=2), Outcome.ALLOW, set(), {"estimated": "allow"}),
    Case("estimated-warns", footprint(estimated=2), Outcome.WARN, {"measurement.estimated"}, {"estimated": "warn"}),
    Case("estimated-blocks", footprint(estimated=2), Outcome.BLOCK, {"measurement.estimated"},
         {"estimated": "block"}),
    Case("unavailable-blocks", footprint(unavailable=1), Outcome.BLOCK, {"measurement.unavailable"}),
    Case("unavailable-warns", footprint(unavailable=1), Outcome.WARN, {"measurement.unavailable"},
         {"unavailable": "warn"}),
    Case("upper-bound-judged", footprint(co2e=5.0, co2e_upper=11.0), Outcome.BLOCK, {"budget.run-co2e"},
         {"upper": "true"}),
    Case("upper-bound-ignored-by-default", footprint(co2e=5.0, co2e_upper=11.0), Outcome.ALLOW),
    Case("world-average-blocks", footprint(flags=["world-average-fallback"]), Outcome.BLOCK,
         {"intensity.unknown-zone"}),
    Case("world-average-warns", footprint(flags=["world-average-fallback"]), Outcome.WARN,
         {"intensity.unknown-zone"}, {"unknown_zone": "warn"}),
    Case("worst-finding-wins", footprint(co2e=11.0, train_kwh=25.0, estimated=1), Outcome.BLOCK,
         {"budget.run-co2e", "budget.train-energy", "measurement.estimated"}, {"estimated": "warn"}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_gate_decision(case: Case) -> None:
    decision = evaluate(policy(**case.policy_kwargs), case.footprint, as_of=AS_OF)
    assert decision.outcome == case.expect
    assert {f.rule_id for f in decision.active_findings} == case.rules


def test_reschedule_action() -> None:
    text = BASE.replace("action: block", "action: reschedule") % {
        "estimated": "allow", "unavailable": "block", "upper": "false", "unknown_zone": "block", "waivers": "[]"}
    decision = evaluate(parse_policy(text, "p.yaml"), footprint(co2e=11.0), as_of=AS_OF)
    # No spec.scheduling and no forecast: "not now" cannot say "then, there", so the fallback applies.
    assert decision.outcome == Outcome.BLOCK
    assert "cannot reschedule" in decision.findings[0].message
    assert "cleaner window" in decision.findings[0].remedy
    assert decision.reschedule is not None and not decision.reschedule.proposed


def test_finding_is_explained() -> None:
    decision = evaluate(policy(), footprint(co2e=12.5), as_of=AS_OF)
    (finding,) = decision.findings
    assert finding.rule_id == "budget.run-co2e"
    assert finding.observed == 12.5
    assert finding.limit == 10
    assert finding.unit == "kg CO2e"
    assert finding.policy_file == "policies/gate-test.yaml"
    assert finding.policy_line == 8
    assert finding.remedy


def test_waived_finding_is_kept_with_its_waiver() -> None:
    decision = evaluate(policy(waivers=LIVE), footprint(co2e=12.0), as_of=AS_OF)
    (finding,) = decision.findings
    assert finding.waived_by is not None
    assert finding.waived_by.approved_by == "cso@example.com"
    assert finding.waived_by.expires == "2026-12-31"
    assert finding.waived_by.policy_line == 12


def test_decision_records_what_replay_needs() -> None:
    loaded = policy()
    decision = evaluate(loaded, footprint(), as_of=AS_OF)
    assert decision.policy_hash == loaded.content_hash
    assert decision.policy_version == "3"
    assert decision.judged_records == JudgedRecords.of(("b" * 64, "a" * 64), through_seq=7)  # its digest
    dumped = decision.model_dump(mode="json")
    assert dumped["judged_records"]["count"] == 2 and "evaluated_record_hashes" not in dumped
    assert decision.evaluated_at == AS_OF


def test_gate_is_deterministic() -> None:
    loaded, fp = policy(estimated="warn"), footprint(co2e=9.0, estimated=3)
    first = evaluate(loaded, fp, as_of=AS_OF)
    assert all(evaluate(loaded, fp, as_of=AS_OF) == first for _ in range(5))
    assert first.model_dump_json() == evaluate(loaded, fp, as_of=AS_OF).model_dump_json()


def test_decision_names_the_sci_functional_unit() -> None:
    decision = evaluate(policy(), footprint(), as_of=AS_OF)
    assert decision.functional_unit == "training run"
    assert decision.functional_units == 1.0


def _no_reading_footprint() -> RunFootprint:
    stage = StageFootprint(stage="train", records=1, it_energy_kwh=0.0, energy_kwh=0.0, energy_upper_kwh=0.0,
                           co2e_kg=0.0, co2e_upper_kg=0.0, unavailable_components=1)
    return RunFootprint(run_id="run-1", zone="DE", pue=1.2, it_energy_kwh=0.0, energy_kwh=0.0, energy_upper_kwh=0.0,
                        co2e_kg=0.0, co2e_upper_kg=0.0, stages=(stage,), unavailable_components=1)


def test_a_run_without_any_reading_is_unknown_not_zero() -> None:
    decision = evaluate(policy(unavailable="allow"), _no_reading_footprint(), as_of=AS_OF)
    assert decision.energy_kwh is None and decision.co2e_kg is None
    assert decision.energy_complete is False
    assert decision.outcome == Outcome.BLOCK  # budgets cannot be checked, even when missing readings are allowed
    messages = [f.message for f in decision.findings if f.rule_id == "budget.run-co2e"]
    assert messages and "no device gave a reading" in messages[0]


def test_missing_readings_make_budget_figures_lower_bounds() -> None:
    decision = evaluate(policy(unavailable="allow"), footprint(co2e=12.0, unavailable=2), as_of=AS_OF)
    assert decision.energy_complete is False
    assert decision.energy_kwh == 10.0
    (finding,) = [f for f in decision.findings if f.rule_id == "budget.run-co2e"]
    assert finding.outcome == Outcome.BLOCK
    assert finding.message.startswith("lower bound (2 readings unavailable) of co2e_kg")


def test_text_format_marks_unknown_and_lower_bound_energy() -> None:
    from carbonguard.formats import render

    unknown = render("text", evaluate(policy(unavailable="allow"), _no_reading_footprint(), as_of=AS_OF))
    assert "energy_kwh: unknown (no device reading)" in unknown
    partial = render("markdown", evaluate(policy(unavailable="allow"), footprint(unavailable=1), as_of=AS_OF))
    assert ">= 10.0 kWh (lower bound: readings missing)" in partial  # 3 significant figures


def test_stage_lines_never_print_a_missing_reading_as_zero() -> None:
    from carbonguard.formats import render

    fp = _no_reading_footprint()
    decision = evaluate(policy(unavailable="allow"), fp, as_of=AS_OF)
    text = render("text", decision, fp)
    assert "stage train: unknown (no device reading), unknown (no device reading)" in text
    markdown = render("markdown", decision, fp)
    assert "| train | 1 | unknown (no device reading) | unknown (no device reading) |" in markdown


def test_default_measurement_rule_points_at_spec_not_at_an_unrelated_line() -> None:
    """No `measurement` section: the finding comes from the rule's default, so it names `spec:`."""
    text = "\n".join(line for line in BASE.splitlines() if "measurement" not in line) % {
        "unknown_zone": "block", "waivers": "[]"}
    loaded = parse_policy(text, "policies/gate-test.yaml")
    decision = evaluate(loaded, footprint(estimated=1), as_of=AS_OF)
    finding = next(f for f in decision.active_findings if f.rule_id == "measurement.estimated")
    assert finding.policy_line == 4  # `spec:`, not line 5 (`location:`)


def test_a_complete_run_over_budget_is_not_called_a_lower_bound() -> None:
    (finding,) = evaluate(policy(), footprint(co2e=12.5), as_of=AS_OF).findings
    assert finding.message.startswith("co2e_kg of run is 12.5 kg CO2e")


def test_a_budget_without_an_intensity_figure_says_so() -> None:
    fp = footprint(co2e=5.0).model_copy(update={"co2e_kg": None, "co2e_upper_kg": None})
    (finding,) = [f for f in evaluate(policy(), fp, as_of=AS_OF).findings if f.rule_id == "budget.run-co2e"]
    assert "no intensity figure" in finding.message and "zone that has intensity data" in finding.remedy


def test_small_figures_in_findings_read_without_exponents() -> None:
    """A short test run's microwatt-hours against a small budget: both sides digit by digit."""
    loaded = parse_policy(BASE.replace("limit: 10, warn_at", "limit: 0.0000005, warn_at") % {
        "estimated": "allow", "unavailable": "block", "upper": "false", "unknown_zone": "block", "waivers": "[]"},
        "policies/gate-test.yaml")
    decision = evaluate(loaded, footprint(co2e=7.96e-07, train_kwh=1e-6), as_of=AS_OF)
    (finding,) = [f for f in decision.findings if f.rule_id == "budget.run-co2e"]
    assert "is 0.000000796 kg CO2e, over the budget 'run-co2e' of 0.0000005 kg CO2e" in finding.message
    assert "e-0" not in finding.message
