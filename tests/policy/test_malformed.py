"""Malformed policies: each gets one clear error naming file, line and field (table-driven)."""

from __future__ import annotations

import pytest

from carbonguard.errors import InputError
from carbonguard.policy import parse_policy

HEADER = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata:
  name: team
  version: "1"
spec:
  location:
    zone: DE
  pue: 1.2
"""

# (id, yaml text, expected message fragment, expected line, expected field path or None)
CASES = [
    ("negative-limit", HEADER + "  budgets:\n    - id: a\n      metric: co2e_kg\n      limit: -1\n",
     "must be > 0", 13, "spec.budgets[0].limit"),
    ("second-budget-limit", HEADER + "  budgets:\n    - id: a\n      metric: co2e_kg\n      limit: 1\n"
     "    - id: b\n      metric: co2e_kg\n      limit: 0\n", "must be > 0", 16, "spec.budgets[1].limit"),
    ("unknown-metric", HEADER + "  budgets:\n    - id: a\n      metric: co2\n      limit: 1\n",
     "must be one of 'co2e_kg' or 'energy_kwh'", 12, "spec.budgets[0].metric"),
    ("unknown-action", HEADER + "  budgets:\n    - id: a\n      metric: co2e_kg\n      limit: 1\n      action: stop\n",
     "must be one of", 14, "spec.budgets[0].action"),
    ("bad-scope", HEADER + "  budgets:\n    - id: a\n      scope: stage\n      metric: co2e_kg\n      limit: 1\n",
     "must match", 12, "spec.budgets[0].scope"),
    ("duplicate-budget-id", HEADER + "  budgets:\n    - {id: a, metric: co2e_kg, limit: 1}\n"
     "    - {id: a, metric: energy_kwh, limit: 1}\n", "used twice", 11, "spec.budgets"),
    ("pue-below-one", HEADER.replace("pue: 1.2", "pue: 0.9"), "must be >= 1", 9, "spec.pue"),
    ("pue-not-number", HEADER.replace("pue: 1.2", "pue: high"), "must be a number", 9, "spec.pue"),
    ("pue-boolean", HEADER.replace("pue: 1.2", "pue: true"), "must be a number", 9, "spec.pue"),
    ("limit-quoted-string", HEADER + "  budgets:\n    - {id: a, metric: co2e_kg, limit: \"10\"}\n",
     "must be a number", 11, "spec.budgets[0].limit"),
    ("upper-bound-yes-string", HEADER + "  measurement: {use_upper_bound: \"yes\"}\n", "must be true or false", 10,
     "spec.measurement.use_upper_bound"),
    ("retries-fraction", HEADER + "  intensity: {max_retries: 2.5}\n", "must be a whole number", 10,
     "spec.intensity.max_retries"),
    ("unknown-top-field", HEADER + "colour: red\n", "unknown field", 10, "colour"),
    ("unknown-spec-field", HEADER + "  budget: []\n", "unknown field", 10, "spec.budget"),
    ("missing-location", HEADER.replace("  location:\n    zone: DE\n", ""), "is required", 6, "spec.location"),
    ("zone-and-cloud", HEADER.replace("    zone: DE\n", "    zone: DE\n    cloud: {provider: aws,region: us-east-1}\n"),
     "exactly one of 'zone' or 'cloud'", 8, "spec.location"),
    ("wrong-api-version", HEADER.replace("carbonguard/v1", "carbonguard/v2"), "carbonguard/v1", 1, "apiVersion"),
    ("wrong-kind", HEADER.replace("kind: CarbonPolicy", "kind: Policy"), "CarbonPolicy", 2, "kind"),
    ("bad-name", HEADER.replace("name: team", "name: Team Policy!"), "must match", 4, "metadata.name"),
    ("waiver-date-not-strict", HEADER + "  waivers:\n    - rule: measurement.estimated\n      reason: r\n"
     "      approved_by: me\n      expires: 31/12/2026\n", "YYYY-MM-DD", 14, "spec.waivers[0].expires"),
    ("waiver-date-impossible", HEADER + "  waivers:\n    - rule: measurement.estimated\n      reason: r\n"
     "      approved_by: me\n      expires: 2026-02-30\n", "real date", 14, "spec.waivers[0].expires"),
    ("waiver-unknown-rule", HEADER + "  waivers:\n    - rule: budget.nope\n      reason: r\n"
     "      approved_by: me\n      expires: 2026-12-31\n", "unknown rule 'budget.nope'", 11, "spec.waivers[0].rule"),
    ("waiver-missing-approver", HEADER + "  waivers:\n    - rule: measurement.estimated\n      reason: r\n"
     "      expires: 2026-12-31\n", "is required", 11, "spec.waivers[0].approved_by"),
    ("warn-at-above-one", HEADER + "  budgets:\n    - {id: a, metric: co2e_kg, limit: 1, warn_at: 1.5}\n",
     "must be < 1", 11, "spec.budgets[0].warn_at"),
    ("infinite-limit", HEADER + "  budgets:\n    - {id: a, metric: co2e_kg, limit: .inf}\n",
     "finite", 11, "spec.budgets[0].limit"),
    ("unknown-provider", HEADER + "  intensity:\n    providers: [embedded, carbonapi]\n",
     "must be one of", 11, "spec.intensity.providers[1]"),
    ("duplicate-key", HEADER + "  pue: 1.3\n", "duplicate key 'pue'", 10, None),
    ("tab-indentation", HEADER + "\tbudgets: []\n", "invalid YAML", 10, None),
    ("unclosed-flow", HEADER + "  budgets: [\n", "invalid YAML", 11, None),
    ("python-tag", HEADER + "  matching: !!python/object/apply:os.system [ls]\n", "unsupported YAML tag", 10,
     "spec.matching"),
    ("two-documents", HEADER + "---\n" + HEADER, "more than one YAML document", 11, None),
    ("not-a-mapping", "- just\n- a list\n", "must be a mapping", 1, None),
    ("empty", "", "empty document", 1, None),
    ("metadata-scalar", HEADER.replace('metadata:\n  name: team\n  version: "1"\n', "metadata: x\n"),
     "must be a mapping", 3, "metadata"),
]


@pytest.mark.parametrize(("text", "fragment", "line", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_policy_is_refused_with_location(text: str, fragment: str, line: int, field: str | None) -> None:
    with pytest.raises(InputError) as info:
        parse_policy(text, "policies/team.yaml")
    problems = info.value.problems
    matching = [p for p in problems if fragment in p.message]
    assert matching, f"no problem mentions {fragment!r}: {info.value}"
    problem = matching[0]
    assert problem.source == "policies/team.yaml"
    assert problem.line == line, str(problem)
    if field is not None:
        assert problem.field_path == field
    assert str(problem).startswith(f"policies/team.yaml:{line}:")


def test_message_format_matches_documented_example() -> None:
    text = HEADER + "  budgets:\n    - {id: a, metric: co2e_kg, limit: 1}\n    - id: b\n      metric: co2e_kg\n" \
        "      limit: -3\n"
    with pytest.raises(InputError) as info:
        parse_policy(text, "policies/team.yaml")
    assert str(info.value) == "policies/team.yaml:14:14: spec.budgets[1].limit: must be > 0"


def test_all_problems_are_reported_at_once() -> None:
    text = HEADER.replace("pue: 1.2", "pue: 0.5") + "  budgets:\n    - {id: a, metric: co2, limit: -1}\n"
    with pytest.raises(InputError) as info:
        parse_policy(text, "p.yaml")
    fields = {p.field_path for p in info.value.problems}
    assert {"spec.pue", "spec.budgets[0].metric", "spec.budgets[0].limit"} <= fields


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    with pytest.raises(InputError, match="alias bomb"):
        parse_policy("\n".join(lines) + "\n", "bomb.yaml")


def test_oversize_file_is_refused(tmp_path) -> None:
    from carbonguard.policy import load_policy

    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * 1_100_000 + "\n")
    with pytest.raises(InputError, match="larger than"):
        load_policy(big)


def test_missing_and_directory_paths(tmp_path) -> None:
    from carbonguard.policy import load_policy

    with pytest.raises(InputError, match="no such file"):
        load_policy(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="is a directory"):
        load_policy(tmp_path)


def test_non_utf8_is_refused() -> None:
    with pytest.raises(InputError, match="not UTF-8"):
        parse_policy(b"apiVersion: \xff\xfe\n", "bin.yaml")


def test_yaml_1_2_exponent_numbers_are_numbers() -> None:
    loaded = parse_policy(HEADER + "  budgets:\n    - {id: a, metric: co2e_kg, limit: 1e-3}\n", "p.yaml")
    assert loaded.policy.spec.budgets[0].limit == 0.001
