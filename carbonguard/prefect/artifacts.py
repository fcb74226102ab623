"""The decision artifact: one history per flow in the Prefect UI.

Prefect keeps every version of an artifact under its key, so the key names the flow: pipelines do
not share one history. Artifact keys allow lowercase letters, numbers and dashes only (Prefect's
`raise_on_name_alphanumeric_dashes_only`), so the flow name is slugified; a name the slug does not
keep exactly (capitals, spaces, other scripts) gets a short hash of the exact name, so "Train" and
"train" still keep separate histories.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

KEY_PREFIX = "carbonguard-decision-"
_SLUG_MAX = 48


def decision_artifact_key(flow_name: str) -> str:
    """`carbonguard-decision-<flow slug>`, e.g. "Nightly Train" -> carbonguard-decision-nightly-train-1c2d3e4f."""
    ascii_name = unicodedata.normalize("NFKD", flow_name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:_SLUG_MAX].strip("-")
    if slug != flow_name:
        digest = hashlib.sha256(flow_name.encode("utf-8")).hexdigest()[:8]
        slug = f"{slug}-{digest}" if slug else digest
    return KEY_PREFIX + slug
