"""JSON Schema for job spec v1, generated from the pydantic models (the single source of truth).

A test regenerates it and fails on drift; regenerate with
`carbonguard estimate --schema --out policies/schema/jobspec-v1.schema.json`.
"""

from __future__ import annotations

from typing import Any

from carbonguard.estimate.jobspec import JobSpec
from carbonguard.policy.schema import model_schema, schema_text

SCHEMA_ID = "https://carbonguard.dev/schema/jobspec-v1.schema.json"
SCHEMA_PATH = "policies/schema/jobspec-v1.schema.json"


def jobspec_schema() -> dict[str, Any]:
    return model_schema(JobSpec, SCHEMA_ID, "carbonguard TrainingJob v1")


def jobspec_schema_text() -> str:
    return schema_text(jobspec_schema())
