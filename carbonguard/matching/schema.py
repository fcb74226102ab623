"""JSON Schema for certificate files v1, generated from the models (the single source of truth).

A test regenerates it and fails on drift from `policies/schema/certificates-v1.schema.json`;
regenerate with `python scripts/certificate_schema.py`. The schema describes the JSON form (an
array of rows, or a document grouping them); JSON Lines rows and CSV columns use the same fields.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from carbonguard.matching.models import AnnualCertificate, CarbonOffset, CertificateDocument, GranularCertificateBundle
from carbonguard.policy.schema import schema_text

SCHEMA_ID = "https://carbonguard.dev/schema/certificates-v1.schema.json"
SCHEMA_PATH = "policies/schema/certificates-v1.schema.json"


def certificates_schema() -> dict[str, Any]:
    models = [GranularCertificateBundle, AnnualCertificate, CarbonOffset, CertificateDocument]
    _, top = models_json_schema([(m, "validation") for m in models], ref_template="#/$defs/{model}")
    row = {"anyOf": [{"$ref": f"#/$defs/{m.__name__}"} for m in models[:3]]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "carbonguard certificate file v1",
        "description": ("Granular certificate bundles (EnergyTag GC Scheme / gc_registry field names), annual "
                        "certificates and carbon offsets: an array of rows (each with its kind), or a document."),
        "anyOf": [{"$ref": "#/$defs/CertificateDocument"}, {"type": "array", "items": row}],
        "$defs": top["$defs"],
    }


def certificates_schema_text() -> str:
    return schema_text(certificates_schema())
