"""JSON Schema for policy v1, generated from the pydantic models (the single source of truth).

Editors (yaml-language-server) and other tools use the checked-in copy; a test regenerates it and
fails on drift, so the schema and the loader can never disagree.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from carbonguard.policy.models import Policy

SCHEMA_ID = "https://carbonguard.dev/schema/policy-v1.schema.json"
SCHEMA_PATH = "policies/schema/policy-v1.schema.json"


def model_schema(model: type[BaseModel], schema_id: str, title: str) -> dict[str, Any]:
    """A draft 2020-12 schema generated from a pydantic model: one recipe for every checked-in schema."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": schema_id, "title": title, **schema}


def schema_text(schema: dict[str, Any]) -> str:
    """The checked-in text: sorted keys, so a regenerated schema diffs cleanly."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def policy_schema() -> dict[str, Any]:
    return model_schema(Policy, SCHEMA_ID, "carbonguard CarbonPolicy v1")


def policy_schema_text() -> str:
    return schema_text(policy_schema())
