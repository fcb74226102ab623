"""spec.matching: what validated before still does; pinned keys; the required_share alias."""

from __future__ import annotations

import base64

import pytest

from carbonguard.errors import InputError
from carbonguard.matching import match_certificates
from carbonguard.policy import parse_policy
from carbonguard.policy.models import DEFAULT_CFE_SOURCES

from .helpers import HOUR, REGISTRY, SIGNER, bundle, signed

HEADER = """apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata:
  name: m
  version: "1"
spec:
  location:
    zone: FR
  pue: 1.1
  matching:
"""


def load(body: str):
    return parse_policy((HEADER + body).encode(), "p.yaml").policy.spec.matching


def test_earlier_form_still_validates_and_required_share_is_min_cfe() -> None:
    matching = load("    required_share: 0.8\n    beneficiary: X\n    action: warn\n    registries: [granular-reg]\n")
    assert matching.min_cfe == 0.8 and matching.action == "warn"
    assert matching.pinned_keys == {}  # a bare name pins no key: its certificates stay unverified
    assert matching.accepted_sources == DEFAULT_CFE_SOURCES and matching.unverified == "block"


def test_a_bare_registry_name_verifies_nothing() -> None:
    matching = load(f"    min_cfe: 0.5\n    beneficiary: Example AI GmbH\n    registries: [{REGISTRY}]\n")
    result = match_certificates([(HOUR, 1.0)], [signed([bundle(0, 999)], pinned=matching.pinned_keys)], matching,
                                run_id="r", zone="FR")
    assert result.matched_kwh == 0 and result.rejected[0].rule_id == "matching.unverified"


def test_pinned_keys_and_every_new_field() -> None:
    matching = load(f"""    min_cfe: 0.9
    min_hourly_cfe: 0.5
    beneficiary: Example AI GmbH
    zones: [DE]
    sources: [wind, solar_pv]
    registries:
      - name: {REGISTRY}
        public_key: {SIGNER.public_b64}
    offsets: count_toward_net
    action: block
    unverified: warn
""")
    assert matching.pinned_keys == {REGISTRY: SIGNER.public_b64}
    assert matching.zones == ("DE",) and matching.offsets == "count_toward_net" and matching.unverified == "warn"


@pytest.mark.parametrize(("body", "fragment", "line"), [
    ("    min_cfe: 0.9\n    required_share: 0.5\n", "not both", 10),
    ("    min_cfe: 1.5\n", "must be <= 1", 11),
    ("    registries:\n      - name: r\n        public_key: abc\n", "base64", 13),
    ("    registries:\n      - name: r\n        public_key: " + base64.b64encode(b"k" * 31).decode() + "\n",
     "32-byte", 13),
    ("    registries: [a, a]\n", "listed twice", 11),
    ("    offsets: count\n", "report", 11),
    ("    unverified: allow\n", "block", 11),
    ("    sources: []\n", "must not be empty", 11),
])
def test_bad_matching_sections_name_the_line(body: str, fragment: str, line: int) -> None:
    with pytest.raises(InputError) as info:
        load(body)
    problem = info.value.problems[0]
    assert fragment in problem.message and problem.source == "p.yaml"
    assert problem.line is not None and abs(problem.line - line) <= 2
