"""JSON Schema for job spec v1, generated from the pydantic models (the single source of truth).

A test regenerates it and fails on drift; regenerate with
`carbonguard estimate --schema --out policies/schema/jobspec-v1.schema.json`.
"""

from __future__ import annotations

import json
from typing import Any

from carbonguard.estimate.jobspec import JobSpec

SCHEMA_ID = "https://carbonguard.dev/schema/jobspec-v1.schema.json"
SCHEMA_PATH = "policies/schema/jobspec-v1.schema.json"


def jobspec_schema() -> dict[str, Any]:
    schema = JobSpec.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "carbonguard TrainingJob v1",
        **schema,
    }


def jobspec_schema_text() -> str:
    return json.dumps(jobspec_schema(), indent=2, sort_keys=True) + "\n"
