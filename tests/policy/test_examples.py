"""Every shipped policy is valid, and the checked-in JSON Schema is exactly what the models generate."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from carbonguard.policy import load_policy
from carbonguard.policy.schema import SCHEMA_PATH, policy_schema, policy_schema_text
from carbonguard.policy.yamlsafe import load_located

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "policies").glob("*.yaml"))


def test_there_are_at_least_three_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_policy_loads(path: Path) -> None:
    loaded = load_policy(path)
    assert loaded.policy.api_version == "carbonguard/v1"
    assert len(loaded.content_hash) == 64
    assert loaded.name == loaded.policy.metadata.name


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_policy_validates_against_checked_in_schema(path: Path) -> None:
    schema = json.loads((REPO / SCHEMA_PATH).read_text())
    jsonschema.Draft202012Validator(schema).validate(load_located(path.read_bytes(), str(path)).data)


def test_checked_in_schema_matches_models() -> None:
    checked_in = (REPO / SCHEMA_PATH).read_text()
    assert checked_in == policy_schema_text(), (
        "policy schema drifted from the models: run `carbonguard policy schema --out " + SCHEMA_PATH + "`"
    )


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(policy_schema())


def test_schema_rejects_what_the_loader_rejects_structurally() -> None:
    schema = policy_schema()
    bad = load_located(EXAMPLES[0].read_bytes(), "x").data
    bad["spec"]["pue"] = 0.5
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
