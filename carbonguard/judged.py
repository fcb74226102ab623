"""The digest of the stage records a decision judged: what a footprint and a decision record carry.

Why a digest and not the list: a decision's size must not grow with the run (a 99,000-record run
made each footprint and decision carry 6.7 MB of hashes). The ledger holds the records, so the list
can always be derived again (`carbonguard audit judged DECISION_HASH`) and checked against this.

Canonical form (docs/ledger.md, "Judged records"): the record hashes (64 lowercase hex digits
each) sorted in ascending byte order, each followed by one line feed, encoded as ASCII, hashed
with SHA-256. It is what `printf '%s\\n' HASHES | LC_ALL=C sort | sha256sum` prints, so an auditor
can check it without carbonguard. Sorting makes it independent of the order records were read in.

Kept free of imports so that both `models` and `ledger` (which may not import each other) use
this one definition.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

FORM = "sha256 of the sorted record hashes, each followed by a line feed"


def judged_sha256(hashes: Iterable[str]) -> str:
    """The canonical digest (hex) of a set of record hashes, in any order."""
    digest = hashlib.sha256()
    for h in sorted(hashes):
        digest.update(h.encode("ascii"))
        digest.update(b"\n")
    return digest.hexdigest()


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def shape_problem(judged: Mapping[str, Any]) -> tuple[str, str] | None:
    """`(field, what is wrong)` when a recorded `{count, sha256, through_seq}` lacks its shape, else
    None: one check for the ledger (which refuses such a decision) and for `audit judged` (which
    reports such a footprint as a mismatch)."""
    for name in ("count", "through_seq"):
        number = judged.get(name)
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            return name, "must be a whole number, 0 or more"
    digest = judged.get("sha256")
    if not isinstance(digest, str) or not _HEX64.match(digest):
        return "sha256", "not a SHA-256 digest (64 lowercase hex digits)"
    return None
