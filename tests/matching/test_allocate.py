"""Hourly allocation: never across hours, never over a bundle or an hour, split bundles, scores."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from carbonguard.errors import InputError
from carbonguard.ledger import open_ledger
from carbonguard.ledger.ledger import ClaimConflict
from carbonguard.matching import judge_matching, match_certificates
from carbonguard.matching.models import ClaimedRange
from carbonguard.models import HourlyBucket

from .helpers import BENEFICIARY, HOUR, REGISTRY, at, bundle, policy, signed


def test_partial_hour_certificates_match_their_hour() -> None:
    rows = [bundle(0, 499, production_starting_interval=at(0).isoformat(),
                   production_ending_interval=at(0.25).isoformat()),
            bundle(500, 999, production_starting_interval=at(0.75).isoformat(),
                   production_ending_interval=at(1).isoformat())]
    result = match_certificates([(HOUR, 2.0)], [signed(rows)], policy(), run_id="r", zone="FR")
    assert result.matched_kwh == pytest.approx(1.0) and result.cfe_score == pytest.approx(0.5)
    assert [u.range for u in result.hours[0].certificates] == ["0-499", "500-999"]
    assert [(c.first, c.last) for c in result.claims] == [(0, 999)]  # contiguous ids: one ledger claim


def test_surplus_in_one_hour_never_moves_to_another() -> None:
    rows = [bundle(0, 4999, hour=0)]  # 5 kWh produced in hour 0 only
    result = match_certificates([(at(0), 1.0), (at(1), 4.0)], [signed(rows)], policy(), run_id="r", zone="FR")
    first, second = result.hours
    assert (first.matched_kwh, second.matched_kwh) == (pytest.approx(1.0), 0.0)
    assert result.cfe_score == pytest.approx(0.2)
    assert result.unused_certificates_kwh == pytest.approx(4.0)
    assert [(c.first, c.last, c.hour_start) for c in result.claims] == [(0, 999, at(0))]


def test_never_more_than_the_hour_consumed_whole_certificates_only() -> None:
    rows = [bundle(0, 9, face_value=300)]  # ten certificates of 300 Wh
    result = match_certificates([(HOUR, 1.0)], [signed(rows)], policy(), run_id="r", zone="FR")
    assert result.matched_kwh == pytest.approx(0.9)  # three certificates; a fourth would overshoot
    assert [(c.first, c.last, c.energy_wh) for c in result.claims] == [(0, 2, 900.0)]


def test_a_smaller_certificate_later_still_fills_the_hour() -> None:
    rows = [bundle(0, 0, face_value=800), bundle(10, 209, face_value=1)]
    result = match_certificates([(HOUR, 1.0)], [signed(rows)], policy(), run_id="r", zone="FR")
    assert result.matched_kwh == pytest.approx(1.0)
    assert [(c.first, c.last) for c in result.claims] == [(0, 0), (10, 209)]


def test_a_bundle_is_split_between_two_runs_of_the_same_hour(tmp_path: Path, key_file: Path) -> None:
    cert_file = signed([bundle(0, 2999)])
    url = str(tmp_path / "ledger.db")
    first = match_certificates([(HOUR, 1.0)], [cert_file], policy(), run_id="run-a", zone="FR")
    with open_ledger(url, signing_key=key_file) as led:
        for claim in first.claims:
            led.claim_certificates(**claim.ledger_kwargs())
        held = [ClaimedRange.from_ledger_payload(r.payload) for r in led.records(record_type="claim")]
    second = match_certificates([(HOUR, 1.5)], [cert_file], policy(), run_id="run-b", zone="FR", already_claimed=held)
    assert [(c.first, c.last) for c in first.claims] == [(0, 999)]
    assert [(c.first, c.last) for c in second.claims] == [(1000, 2499)]  # the remainder stayed claimable
    assert second.matched_kwh == pytest.approx(1.5)
    assert [r.rule_id for r in second.rejected] == ["matching.double-counting"]
    with open_ledger(url, signing_key=key_file) as led:
        for claim in second.claims:
            led.claim_certificates(**claim.ledger_kwargs())
        with pytest.raises(ClaimConflict, match="run-a"):
            led.claim_certificates(**replace(first.claims[0], run_id="run-c").ledger_kwargs())


def test_a_run_rematched_keeps_its_own_claims_without_claiming_again() -> None:
    held = [ClaimedRange(registry=REGISTRY, first=0, last=999, run_id="run-a")]
    result = match_certificates([(HOUR, 1.5)], [signed([bundle(0, 2999)])], policy(), run_id="run-a", zone="FR",
                                already_claimed=held)
    uses = result.hours[0].certificates
    assert [(u.range, u.already_claimed) for u in uses] == [("0-999", True), ("1000-1499", False)]
    assert [(c.first, c.last) for c in result.claims] == [(1000, 1499)]
    assert not result.rejected and result.matched_kwh == pytest.approx(1.5)


def test_allocation_is_deterministic_whatever_the_row_order() -> None:
    rows = [bundle(5000, 5999, registry=REGISTRY), bundle(0, 999), bundle(2000, 2999)]
    a = match_certificates([(HOUR, 1.5)], [signed(rows)], policy(), run_id="r", zone="FR")
    b = match_certificates([(HOUR, 1.5)], [signed(rows[::-1])], policy(), run_id="r", zone="FR")
    assert a.claims == b.claims
    assert [(c.first, c.last) for c in a.claims] == [(0, 999), (2000, 2499)]


def test_cfe_score_and_scope2_dual_reporting() -> None:
    rows = [bundle(0, 999, hour=0), bundle(1000, 3999, hour=1)]
    result = match_certificates([(at(0), 2.0), (at(1), 2.0), (at(2), 1.0)], [signed(rows)], policy(),
                                run_id="r", zone="FR", residual_g_per_kwh=40.74, location_co2e_kg=0.25)
    # sum_h min(C_h, M_h) / sum_h C_h = (1 + 2 + 0) / 5
    assert result.cfe_score == pytest.approx(0.6)
    assert result.unmatched_kwh == pytest.approx(2.0)
    assert result.market_co2e_kg == pytest.approx(2.0 * 40.74 / 1000)
    assert result.location_co2e_kg == 0.25
    assert [h.cfe for h in result.hours] == [pytest.approx(0.5), pytest.approx(1.0), 0.0]


def test_residual_mix_by_hour_and_unknown_residual_is_none_not_zero() -> None:
    result = match_certificates([(at(0), 1.0), (at(1), 1.0)], [], policy(), run_id="r", zone="FR",
                                residual_g_per_kwh=lambda hour: 100.0 if hour == at(0) else 300.0)
    assert result.market_co2e_kg == pytest.approx(0.4)
    unknown = match_certificates([(at(0), 1.0)], [], policy(), run_id="r", zone="XX")
    assert unknown.market_co2e_kg is None and unknown.cfe_score == 0.0


def test_no_consumption_gives_no_score() -> None:
    result = match_certificates([(at(0), 0.0)], [signed([bundle(0, 999)])], policy(), run_id="r", zone="FR")
    assert result.cfe_score is None and not result.claims and result.unused_certificates_kwh == pytest.approx(1.0)
    assert not [f for f in judge_matching(policy(), result) if f.rule_id == "matching.cfe"]


def test_runfootprint_hourly_buckets_are_accepted() -> None:
    buckets = [HourlyBucket(hour_start=HOUR, energy_kwh=1.0, energy_upper_kwh=1.0)]
    result = match_certificates(buckets, [signed([bundle(0, 999)])], policy(), run_id="r", zone="FR")
    assert result.cfe_score == pytest.approx(1.0)


@pytest.mark.parametrize(("consumption", "fragment"), [
    ([(at(0.5), 1.0)], "not the start of a UTC hour"),
    ([(HOUR.replace(tzinfo=None), 1.0)], "timezone-aware"),
    ([(HOUR, 1.0), (HOUR, 2.0)], "given twice"),
    ([(HOUR, -1.0)], ">= 0"),
    ([(HOUR, None)], "never a missing reading"),
])
def test_bad_consumption_is_refused(consumption: list, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        match_certificates(consumption, [], policy(), run_id="r", zone="FR")


def test_claims_carry_everything_the_ledger_needs() -> None:
    result = match_certificates([(HOUR, 1.0)], [signed([bundle(0, 999)])], policy(), run_id="run-a", zone="FR")
    kwargs = result.claims[0].ledger_kwargs()
    assert kwargs == {"registry": REGISTRY, "certificate_range": (0, 999), "run_id": "run-a",
                      "beneficiary": BENEFICIARY, "hour": HOUR, "zone": "FR", "mwh": Decimal("0.001")}


def test_a_certificate_that_would_overshoot_is_left_whole() -> None:
    rows = [bundle(0, 2, face_value=300), bundle(10, 12, face_value=300)]
    result = match_certificates([(HOUR, 1.0)], [signed(rows)], policy(), run_id="r", zone="FR")
    assert [(c.first, c.last) for c in result.claims] == [(0, 2)]
    assert [u.range for u in result.hours[0].certificates] == ["0-2"]
    assert result.unused_certificates_kwh == pytest.approx(0.9)
