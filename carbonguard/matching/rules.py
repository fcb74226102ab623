"""The matching family of the rule catalogue, as plain data for the matching code.

The rules themselves live in the one catalogue (`carbonguard/rules.py`). Two kinds of rejection: a
certificate that does not apply to this run (another hour, zone, status, beneficiary, source) simply
does not count, and its effect shows in the CFE score, so it warns; a certificate whose data cannot
be true or cannot be trusted (quantity, capacity, storage data, listed twice, claimed by another
run) makes the whole claim suspect, so it takes `spec.matching.action` (block by default).
`matching.unverified` takes `spec.matching.unverified`.
"""

from __future__ import annotations

from carbonguard.rules import RULES

MATCHING_RULES: tuple[dict[str, object], ...] = tuple(
    {"id": r.id, "title": r.title, "help": r.help, "waivable": r.waivable, "default_severity": r.default_severity}
    for r in RULES.values() if r.id.startswith("matching.")
)

RULE_IDS = frozenset(str(rule["id"]) for rule in MATCHING_RULES)
"""Rule ids of `MATCHING_RULES`; rejection and finding code uses only these."""
