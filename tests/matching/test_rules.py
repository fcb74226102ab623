"""One case per verification rule, failing and passing: a rejected bundle matches nothing."""

from __future__ import annotations

from typing import Any

import pytest

from carbonguard.matching import match_certificates
from carbonguard.matching.models import ClaimedRange, MatchResult
from carbonguard.matching.rules import MATCHING_RULES, RULE_IDS

from .helpers import HOUR, REGISTRY, SIGNER, at, bundle, policy, signed


def run(rows: list[dict[str, Any]], consumption_kwh: float = 10.0, **policy_changes: Any) -> MatchResult:
    return match_certificates([(HOUR, consumption_kwh)], [signed(rows)], policy(**policy_changes),
                              run_id="run-a", zone="FR")


FAILS = [
    ("matching.interval", {"production_ending_interval": at(1.5).isoformat()}, {}, "over one hour"),
    ("matching.interval", {"production_starting_interval": at(0.5).isoformat(),
                           "production_ending_interval": at(1.5).isoformat()}, {}, "crosses a UTC hour"),
    ("matching.zone", {"zone": "DE"}, {}, "zone 'DE'"),
    ("matching.status", {"certificate_bundle_status": "Active"}, {}, "'active'"),
    ("matching.status", {"certificate_bundle_status": "expired"}, {}, "'expired'"),
    ("matching.status", {"certificate_bundle_status": "Withdrawn"}, {}, "'withdrawn'"),
    ("matching.beneficiary", {"beneficiary": "Someone Else"}, {}, "'Someone Else'"),
    ("matching.beneficiary", {"beneficiary": None}, {}, "cancelled for None"),
    ("matching.beneficiary", {}, {"beneficiary": None}, "names no beneficiary"),
    ("matching.expiry", {"cancellation_timestamp": "2027-03-02T00:00:00Z"}, {}, "not before expiry"),
    ("matching.expiry", {"cancellation_timestamp": None}, {}, "no cancellation_timestamp"),
    ("matching.quantity", {"bundle_quantity": 999}, {}, "states 999 Wh but 1000 ids x 1 Wh = 1000 Wh"),
    ("matching.quantity", {"face_value": 2, "bundle_quantity": 1000}, {}, "2000 Wh"),
    ("matching.capacity", {"device_capacity": 500}, {}, "exceeds 500 W"),
    ("matching.capacity", {"device_capacity": 1500, "production_ending_interval": at(0.5).isoformat()}, {},
     "exceeds 1500 W x 0.5 h"),
    ("matching.source", {"energy_source": "coal"}, {}, "'coal'"),
    ("matching.source", {"energy_source": "biomass"}, {}, "'biomass'"),
    ("matching.source", {"energy_carrier": "hydrogen"}, {}, "'hydrogen' is not electricity"),
    ("matching.source", {"energy_source": "wind"}, {"sources": ["solar_pv"]}, "'wind'"),
    ("matching.storage", {"is_storage": True, "storage_efficiency_factor": 0.9}, {}, "sdr_allocation_id"),
    ("matching.storage", {"is_storage": True, "sdr_allocation_id": 7}, {}, "storage_efficiency_factor"),
]

PASSES = [
    ("matching.interval", {"production_starting_interval": at(0.25).isoformat(),
                           "production_ending_interval": at(0.75).isoformat()}, {}, 1.0),
    ("matching.interval", {"production_starting_interval": "2026-03-02T11:00:00+01:00",
                           "production_ending_interval": "2026-03-02T12:00:00+01:00"}, {}, 1.0),
    ("matching.zone", {"zone": "DE"}, {"zones": ["DE"]}, 1.0),
    ("matching.zone", {"issue_market_zone": "FR", "zone": None}, {}, 1.0),
    ("matching.status", {"certificate_bundle_status": "claimed"}, {}, 1.0),
    ("matching.beneficiary", {}, {}, 1.0),
    ("matching.expiry", {"expiry_datestamp": "2026-03-03T09:00:01Z"}, {}, 1.0),
    ("matching.quantity", {"face_value": 2}, {}, 2.0),
    ("matching.capacity", {"device_capacity": None}, {}, 1.0),
    ("matching.capacity", {"device_capacity": 1000}, {}, 1.0),
    ("matching.source", {"energy_source": "nuclear"}, {}, 1.0),
    ("matching.source", {"energy_source": "biomass"}, {"sources": ["biomass"]}, 1.0),
    ("matching.source", {"energy_source": "Solar_PV", "energy_carrier": "Electricity"}, {}, 1.0),
    ("matching.storage", {"is_storage": True, "sdr_allocation_id": 7, "storage_efficiency_factor": 0.8}, {}, 0.8),
]


@pytest.mark.parametrize(("rule_id", "changes", "policy_changes", "reason"), FAILS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FAILS)])
def test_rule_rejects(rule_id: str, changes: dict[str, Any], policy_changes: dict[str, Any], reason: str) -> None:
    result = run([bundle(0, 999, **changes)], **policy_changes)
    assert result.matched_kwh == 0 and not result.claims
    assert [r.rule_id for r in result.rejected] == [rule_id]
    rejection = result.rejected[0]
    assert reason in rejection.reason
    assert rejection.range == "0-999" and rejection.registry == REGISTRY and rejection.path == "$[0]"


@pytest.mark.parametrize(("rule_id", "changes", "policy_changes", "matched_kwh"), PASSES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(PASSES)])
def test_rule_passes(rule_id: str, changes: dict[str, Any], policy_changes: dict[str, Any],
                     matched_kwh: float) -> None:
    result = run([bundle(0, 999, **changes)], **policy_changes)
    assert not result.rejected
    assert result.matched_kwh == pytest.approx(matched_kwh)


def test_every_rule_has_a_case() -> None:
    tested = {c[0] for c in FAILS} | {"matching.double-listing", "matching.double-counting", "matching.unverified",
                                      "matching.cfe", "matching.hourly-cfe", "matching.offsets-only",
                                      "matching.offset-invalid"}
    assert tested == RULE_IDS
    assert all(set(r) == {"id", "title", "help", "waivable", "default_severity"} for r in MATCHING_RULES)


def test_overlapping_ranges_in_one_input_reject_both() -> None:
    result = run([bundle(0, 999), bundle(500, 1499), bundle(2000, 2999)])
    assert sorted((r.range, r.rule_id) for r in result.rejected) == [
        ("0-999", "matching.double-listing"), ("500-1499", "matching.double-listing")]
    assert result.matched_kwh == pytest.approx(1.0)  # only 2000-2999


def test_overlap_across_files_is_double_listing() -> None:
    files = [signed([bundle(0, 999)], "a.json"), signed([bundle(999, 1998)], "b.json")]
    result = match_certificates([(HOUR, 10.0)], files, policy(), run_id="run-a", zone="FR")
    assert {(r.source, r.rule_id) for r in result.rejected} == {("a.json", "matching.double-listing"),
                                                                ("b.json", "matching.double-listing")}


def test_adjacent_ranges_and_other_registries_are_not_double_listing() -> None:
    other = "other-registry"
    rows = [bundle(0, 999), bundle(1000, 1999), bundle(0, 999, registry=other)]
    pinned = {REGISTRY: SIGNER.public_b64, other: SIGNER.public_b64}
    cert_file = signed(rows, pinned=pinned)
    pol = policy(registries=[{"name": REGISTRY, "public_key": SIGNER.public_b64},
                             {"name": other, "public_key": SIGNER.public_b64}])
    result = match_certificates([(HOUR, 10.0)], [cert_file], pol, run_id="run-a", zone="FR")
    assert not result.rejected and result.matched_kwh == pytest.approx(3.0)


def test_ranges_claimed_by_another_run_are_double_counting() -> None:
    held = [ClaimedRange(registry=REGISTRY, first=0, last=999, run_id="run-b")]
    result = match_certificates([(HOUR, 10.0)], [signed([bundle(0, 999)])], policy(), run_id="run-a", zone="FR",
                                already_claimed=held)
    assert [(r.rule_id, r.range) for r in result.rejected] == [("matching.double-counting", "0-999")]
    assert "run-b" in result.rejected[0].reason and result.matched_kwh == 0


@pytest.mark.parametrize("rows", [
    [bundle(0, 999), bundle(1000, 1999), bundle(5000, 5999)],  # ascending and disjoint: no sort needed
    [bundle(5000, 5999), bundle(0, 999), bundle(1000, 1999)],  # any order: sorted to check
], ids=["ascending", "unordered"])
def test_disjoint_ranges_pass_in_any_order(rows: list[dict[str, Any]]) -> None:
    assert not run(rows).rejected


@pytest.mark.parametrize("rows", [
    [bundle(0, 999), bundle(999, 1500)],  # touching at one id
    [bundle(2000, 2999), bundle(0, 999), bundle(2500, 2600)],  # contained, out of order
], ids=["touching", "contained"])
def test_any_shared_id_is_double_listing(rows: list[dict[str, Any]]) -> None:
    assert {r.rule_id for r in run(rows).rejected} == {"matching.double-listing"}
