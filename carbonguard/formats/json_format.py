"""Machine-readable JSON: each result exactly as modelled, units in field names, keys sorted."""

from __future__ import annotations

import json
from typing import Any

from carbonguard.formats.registry import RenderOptions, Result


def render(result: Result, options: RenderOptions) -> str:
    # JSON escapes control characters itself; sorted keys keep the output deterministic.
    return json.dumps(result.json_document(), indent=2, sort_keys=True) + "\n"


RENDERERS: dict[str, Any] = {kind: render for kind in ("run", "meter", "intensity", "zones", "compliance",
                                                         "estimate")}
