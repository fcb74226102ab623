"""Findings for the gate, and offsets/annual certificates: validated, reported apart, never matching."""

from __future__ import annotations

from typing import Any

import pytest

from carbonguard.matching import judge_matching, match_certificates
from carbonguard.matching.models import MatchResult
from carbonguard.models import Outcome

from .helpers import BENEFICIARY, HOUR, REGISTRY, at, bundle, policy, signed

OFFSET = {"kind": "offset", "registry": "verra", "serial": "VCS-1", "vintage_year": 2025, "status": "retired",
          "retirement_beneficiary": BENEFICIARY, "tco2e": 0.5}
ANNUAL = {"kind": "annual", "instrument": "GO", "registry": REGISTRY, "serial_start": 1, "serial_end": 10,
          "vintage_year": 2026, "zone": "FR", "energy_mwh": 10.0, "status": "cancelled", "beneficiary": BENEFICIARY}


def run(rows: list[dict[str, Any]], consumption: list | None = None, **policy_changes: Any) -> MatchResult:
    return match_certificates(consumption or [(HOUR, 10.0)], [signed(rows)], policy(**policy_changes),
                              run_id="run-a", zone="FR", residual_g_per_kwh=100.0)


def rules(findings) -> list[tuple[str, Outcome]]:
    return [(f.rule_id, f.outcome) for f in findings]


def test_offsets_and_annual_certificates_never_raise_cfe() -> None:
    without = run([bundle(0, 999)])
    with_them = run([bundle(0, 999), OFFSET, ANNUAL])
    assert with_them.cfe_score == without.cfe_score == pytest.approx(0.1)
    assert with_them.market_co2e_kg == without.market_co2e_kg == pytest.approx(0.9)
    assert with_them.offsets.offsets_tco2e == 0.5 and with_them.offsets.annual_mwh == 10.0
    assert with_them.offsets.net_co2e_kg is None  # policy does not count offsets: gross only


def test_net_figure_only_when_the_policy_counts_offsets_and_after_matching() -> None:
    result = run([bundle(0, 999), OFFSET | {"tco2e": 0.0005}], offsets="count_toward_net")
    assert result.market_co2e_kg == pytest.approx(0.9)  # gross is always there
    assert result.offsets.counted_toward_net and result.offsets.net_co2e_kg == pytest.approx(0.4)
    floored = run([OFFSET | {"tco2e": 5}], offsets="count_toward_net")
    assert floored.offsets.net_co2e_kg == 0.0 and floored.market_co2e_kg == pytest.approx(1.0)


@pytest.mark.parametrize(("item", "changes", "rule_id", "fragment"), [
    (OFFSET, {"status": "active"}, "matching.offset-invalid", "only retired"),
    (OFFSET, {"retirement_beneficiary": "Other"}, "matching.offset-invalid", "'Other'"),
    (OFFSET, {"vintage_year": 2027}, "matching.offset-invalid", "after the consumption"),
    (ANNUAL, {"status": "active"}, "matching.offset-invalid", "not cancelled or claimed"),
    (ANNUAL, {"beneficiary": "Other"}, "matching.offset-invalid", "'Other'"),
    (ANNUAL, {"vintage_year": 2025}, "matching.offset-invalid", "not a year the run consumed"),
])
def test_invalid_offsets_and_annual_certificates(item: dict, changes: dict, rule_id: str, fragment: str) -> None:
    result = run([item | changes], offsets="count_toward_net")
    (check,) = result.offsets.items
    assert not check.valid and check.rule_id == rule_id and fragment in str(check.reason)
    assert result.offsets.offsets_tco2e == 0 and result.offsets.annual_mwh == 0
    assert ("matching.offset-invalid", Outcome.WARN) in rules(judge_matching(policy(), result))


def test_duplicate_serials_are_double_listing() -> None:
    result = run([OFFSET, OFFSET, ANNUAL, ANNUAL | {"serial_start": 10, "serial_end": 20}])
    assert [i.rule_id for i in result.offsets.items] == ["matching.double-listing"] * 4


def test_unsigned_offsets_do_not_count() -> None:
    cert_file = signed([OFFSET], pinned={})
    result = match_certificates([(HOUR, 1.0)], [cert_file], policy(offsets="count_toward_net"), run_id="r",
                                zone="FR", residual_g_per_kwh=100.0)
    assert result.offsets.items[0].rule_id == "matching.unverified" and result.offsets.net_co2e_kg == 0.1


def test_a_claim_through_offsets_or_annual_certificates_alone_is_blocked() -> None:
    result = run([OFFSET, ANNUAL])
    finding = next(f for f in judge_matching(policy(min_cfe=0.0), result) if f.rule_id == "matching.offsets-only")
    assert finding.outcome == Outcome.BLOCK
    assert "offsets" in finding.message and "annual certificates" in finding.message and finding.remedy
    assert not [f for f in judge_matching(policy(), run([bundle(0, 999), OFFSET])) if f.rule_id ==
                "matching.offsets-only"]


def test_cfe_below_minimum_blocks_or_warns_per_policy() -> None:
    result = run([bundle(0, 4999)])
    assert rules(judge_matching(policy(min_cfe=0.9), result)) == [("matching.cfe", Outcome.BLOCK)]
    assert rules(judge_matching(policy(min_cfe=0.9, action="warn"), result)) == [("matching.cfe", Outcome.WARN)]
    assert judge_matching(policy(min_cfe=0.5), result) == []
    finding = judge_matching(policy(min_cfe=0.9), result)[0]
    assert finding.observed == pytest.approx(0.5) and finding.limit == 0.9


def test_hourly_minimum_findings_are_capped_with_a_count() -> None:
    hours = [(at(h), 1.0) for h in range(8)]
    result = run([bundle(0, 99, hour=h) if False else bundle(h * 1000, h * 1000 + 99, hour=h) for h in range(8)],
                 consumption=hours)
    found = [f for f in judge_matching(policy(min_cfe=0.0, min_hourly_cfe=0.5), result)
             if f.rule_id == "matching.hourly-cfe"]
    assert len(found) == 6 and found[-1].message.startswith("3 more hour(s)")
    assert found[0].scope == f"hour:{at(0).isoformat()}"


def test_rejections_are_grouped_per_rule_with_outcomes_by_kind() -> None:
    rows = [bundle(0, 999, zone="DE"), bundle(1000, 1999, bundle_quantity=5), bundle(2000, 2999, zone="DE"),
            bundle(3000, 3999, zone="DE"), bundle(4000, 4999, zone="DE")]
    findings = judge_matching(policy(min_cfe=0.0), run(rows))
    assert rules(findings) == [("matching.quantity", Outcome.BLOCK), ("matching.zone", Outcome.WARN)]
    zone = findings[1]
    assert zone.message.startswith("4 certificate range(s) rejected: ") and "(and 1 more)" in zone.message
    assert "demo-registry 0-999" in zone.message


def test_unverified_follows_its_own_policy_setting() -> None:
    cert_file = signed([bundle(0, 999)], pinned={})
    for setting, outcome in (("block", Outcome.BLOCK), ("warn", Outcome.WARN)):
        pol = policy(unverified=setting, min_cfe=0.0)
        result = match_certificates([(HOUR, 1.0)], [cert_file], pol, run_id="r", zone="FR")
        assert result.matched_kwh == 0  # a warning never lets it match
        assert rules(judge_matching(pol, result)) == [("matching.unverified", outcome)]


def test_result_serialises_to_the_documented_json() -> None:
    result = run([bundle(0, 999), bundle(5000, 5999, zone="DE"), OFFSET])
    data = result.model_dump(mode="json")
    assert {"cfe_score", "consumption_kwh", "matched_kwh", "hours", "rejected", "offsets", "location_co2e_kg",
            "market_co2e_kg", "claims"} <= data.keys()
    assert data["hours"][0]["certificates"][0] == {
        "registry": REGISTRY, "range": "0-999", "certificates": 1000, "energy_kwh": 1.0, "energy_source": "wind",
        "device_id": "FR-WIND-1", "storage": False, "already_claimed": False}
    assert data["hours"][0]["hour_start"] == "2026-03-02T10:00:00Z"
    assert data["rejected"][0]["rule_id"] == "matching.zone" and data["rejected"][0]["range"] == "5000-5999"
    assert MatchResult.model_validate_json(result.model_dump_json()) == result
