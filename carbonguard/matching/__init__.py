"""Hourly renewable matching: granular certificates verified, allocated hour by hour, scored. Pure.

`loader.py` reads files (the only module here that does); everything else is values in, values out.
See docs/matching.md for the rules, the allocation and Scope 2 dual reporting.
"""

from carbonguard.matching.inputs import CertificateFile, parse_certificates
from carbonguard.matching.judge import judge_matching
from carbonguard.matching.match import consumption_hours, match_certificates
from carbonguard.matching.models import (
    AnnualCertificate,
    CarbonOffset,
    Claim,
    ClaimedRange,
    GranularCertificateBundle,
    MatchResult,
)
from carbonguard.matching.rules import MATCHING_RULES
from carbonguard.matching.signature import check_signature

__all__ = [
    "MATCHING_RULES",
    "AnnualCertificate",
    "CarbonOffset",
    "CertificateFile",
    "Claim",
    "ClaimedRange",
    "GranularCertificateBundle",
    "MatchResult",
    "check_signature",
    "consumption_hours",
    "judge_matching",
    "match_certificates",
    "parse_certificates",
]
