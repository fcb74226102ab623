"""JSON Schema for policy v1, generated from the pydantic models (the single source of truth).

Editors (yaml-language-server) and other tools use the checked-in copy; a test regenerates it and
fails on drift, so the schema and the loader can never disagree.
"""

from __future__ import annotations

import json
from typing import Any

from carbonguard.policy.models import Policy

SCHEMA_ID = "https://carbonguard.dev/schema/policy-v1.schema.json"
SCHEMA_PATH = "policies/schema/policy-v1.schema.json"


def policy_schema() -> dict[str, Any]:
    schema = Policy.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "carbonguard CarbonPolicy v1",
        **schema,
    }


def policy_schema_text() -> str:
    return json.dumps(policy_schema(), indent=2, sort_keys=True) + "\n"
