"""The rule catalogue is the one list of rules: the gate, waivers and the docs all read it."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

import carbonguard.rules as rules
from carbonguard.errors import InputError
from carbonguard.gate import evaluate
from carbonguard.models import RunFootprint
from carbonguard.policy import parse_policy

REPO = Path(__file__).resolve().parents[1]
AS_OF = datetime(2026, 3, 2, tzinfo=timezone.utc)
POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata: {{name: rules-test, version: "1"}}
spec:
  location: {{zone: DE}}
  pue: 1.0
  budgets: [{{id: {budget}, metric: co2e_kg, limit: 1.0}}]
  waivers: {waivers}
"""


def policy(budget: str = "run-co2e", waivers: str = "[]"):
    return parse_policy(POLICY.format(budget=budget, waivers=waivers), "p.yaml")


def estimated_footprint() -> RunFootprint:
    return RunFootprint(run_id="r", zone="DE", pue=1.0, it_energy_kwh=1.0, energy_kwh=1.0, energy_upper_kwh=1.0,
                        co2e_kg=0.1, estimated_components=1)


def test_budget_rules_resolve_to_the_budget_template() -> None:
    assert rules.lookup("budget.run-co2e").id == rules.BUDGET_TEMPLATE
    assert rules.lookup("budget.stage-missing").id == "budget.stage-missing"
    with pytest.raises(KeyError):
        rules.lookup("budget.")
    with pytest.raises(KeyError):
        rules.lookup("no.such-rule")


def test_the_gate_refuses_to_emit_a_rule_the_catalogue_lacks(monkeypatch) -> None:
    assert evaluate(policy(), estimated_footprint(), as_of=AS_OF).findings  # measurement.estimated
    monkeypatch.delitem(rules.RULES, "measurement.estimated")
    with pytest.raises(KeyError, match=r"measurement\.estimated"):
        evaluate(policy(), estimated_footprint(), as_of=AS_OF)


def test_a_waiver_may_not_name_a_rule_that_is_not_waivable() -> None:
    assert not rules.RULES["waiver.expired"].waivable
    waiver = "[{rule: waiver.expired, reason: r, approved_by: a, expires: 2026-12-31}]"
    with pytest.raises(InputError, match=r"names unknown rule 'waiver\.expired'"):
        policy(waivers=waiver)


def test_a_budget_may_not_take_the_id_of_a_fixed_budget_rule() -> None:
    with pytest.raises(InputError, match="reserved"):
        policy(budget="stage-missing")


def test_docs_rule_table_is_generated_from_the_catalogue() -> None:
    assert (REPO / "docs" / "rules.md").read_text(encoding="utf-8") == rules.markdown_table(), (
        "docs/rules.md drifted: run `python -m carbonguard.rules > docs/rules.md`"
    )
