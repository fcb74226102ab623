"""The result of `carbonguard match`: hourly matching of one run (or a consumption file) under a policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from carbonguard.models import Finding, Outcome

if TYPE_CHECKING:
    from carbonguard.matching import MatchResult

MATCH_RESULT_SCHEMA = "carbonguard.match-result/v1"


@dataclass(frozen=True)
class MatchReport:
    """The match, the findings it gives under the policy (waivers applied), and what was recorded."""

    kind: ClassVar[str] = "match"
    result: MatchResult
    findings: tuple[Finding, ...]
    policy_name: str
    policy_version: str
    policy_hash: str
    policy_file: str | None
    min_cfe: float
    min_hourly_cfe: float | None
    consumption_from: str  # "run RUN_ID" or "file PATH"
    claims_recorded: int | None = None  # None: nothing was written (--dry-run or a consumption file)
    ledger_url: str | None = None

    @property
    def minimum_met(self) -> bool:
        """The policy's minimum CFE (and hourly minimum) reached; a run with no score meets only 0."""
        cfe = self.result.cfe_score
        if self.min_cfe > 0 and (cfe is None or cfe < self.min_cfe):
            return False
        hourly = self.min_hourly_cfe
        return hourly is None or all(h.cfe is None or h.cfe >= hourly for h in self.result.hours)

    @property
    def passed(self) -> bool:
        """Exit 0: the minimum is met and no matching finding blocks (unverified or suspect certificates)."""
        blocking = any(f.outcome == Outcome.BLOCK and f.waived_by is None for f in self.findings)
        return self.minimum_met and not blocking

    def json_document(self) -> dict[str, Any]:
        document = self.result.model_dump(mode="json")
        document.update({
            "schema": MATCH_RESULT_SCHEMA,
            "passed": self.passed,
            "minimum_met": self.minimum_met,
            "min_cfe": self.min_cfe,
            "min_hourly_cfe": self.min_hourly_cfe,
            "consumption_from": self.consumption_from,
            "policy": {"name": self.policy_name, "version": self.policy_version, "content_hash": self.policy_hash,
                       "file": self.policy_file},
            "findings": [f.model_dump(mode="json") for f in self.findings],
            "claims_recorded": self.claims_recorded,
            "ledger": self.ledger_url,
        })
        return document
