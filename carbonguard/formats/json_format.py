"""Machine-readable JSON: the decision and footprint exactly as modelled, units in field names."""

from __future__ import annotations

import json

from carbonguard.models import Decision, RunFootprint


def render(decision: Decision, footprint: RunFootprint | None = None) -> str:
    document = {
        "schema": "carbonguard.gate-result/v1",
        "decision": decision.model_dump(mode="json"),
        "footprint": footprint.model_dump(mode="json") if footprint is not None else None,
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
