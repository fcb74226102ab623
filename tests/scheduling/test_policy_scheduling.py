"""spec.scheduling.interruption_cost: valid forms load, bad ones name the line; old policies still load."""

from __future__ import annotations

import pytest

from carbonguard.errors import InputError
from carbonguard.policy.loader import parse_policy

HEAD = "apiVersion: carbonguard/v1\nkind: CarbonPolicy\nmetadata: {name: p, version: '1'}\n"
BODY = "spec:\n  location: {zone: GB}\n  pue: 1.1\n  scheduling:\n    max_delay_h: 6\n"


def test_interruption_cost_in_grams_or_minutes() -> None:
    for unit in ("g_co2e", "minutes"):
        loaded = parse_policy(HEAD + BODY + f"    interruption_cost: {{value: 20, unit: {unit}}}\n", "p.yaml")
        cost = loaded.policy.spec.scheduling.interruption_cost
        assert cost is not None and cost.unit == unit and cost.value == 20


def test_section_without_interruption_cost_still_loads() -> None:
    assert parse_policy(HEAD + BODY, "p.yaml").policy.spec.scheduling.interruption_cost is None


@pytest.mark.parametrize("cost", ["{value: 20, unit: kg}", "{value: -1, unit: minutes}", "{value: 5}"])
def test_bad_interruption_cost_names_the_line(cost: str) -> None:
    with pytest.raises(InputError) as info:
        parse_policy(HEAD + BODY + f"    interruption_cost: {cost}\n", "p.yaml")
    assert "p.yaml:9" in str(info.value) and "interruption_cost" in str(info.value)
