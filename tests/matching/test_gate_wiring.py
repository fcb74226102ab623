"""Matching inside the pure pipeline and the gate: CFE findings with policy lines, market-based CO2e,
waivers, no certificates, unknown energy, and offsets that never raise the score."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from carbonguard.errors import InputError
from carbonguard.intensity.providers.embedded import residual_mix_series
from carbonguard.models import ComponentEnergy, EnergyMethod, IntensityPoint, Origin, Outcome, StageRecord
from carbonguard.pipeline import judge
from carbonguard.policy import parse_policy

from .helpers import BENEFICIARY, HOUR, REGISTRY, bundle, matching_policy, signed

AS_OF = datetime(2026, 3, 4, tzinfo=timezone.utc)
POLICY = matching_policy("wiring", "{extra}")
OFFSET = {"kind": "offset", "registry": "verra", "serial": "VCS-1", "vintage_year": 2025, "status": "retired",
          "retirement_beneficiary": BENEFICIARY, "tco2e": 0.5}


def stage(kwh: float | None = 0.01) -> StageRecord:
    """A stage of `kwh` (10 Wh) inside HOUR, as a GPU counter recorded it."""
    method = EnergyMethod.COUNTER if kwh is not None else EnergyMethod.UNAVAILABLE
    return StageRecord(run_id="run-w", flow_name="f", stage="train", start=HOUR + timedelta(minutes=5),
                       end=HOUR + timedelta(minutes=35), host="h", pid=1,
                       components=(ComponentEnergy(component="gpu", device="GPU-0", method=method, energy_kwh=kwh,
                                                   source="test"),))


POINTS = [IntensityPoint(zone="FR", start=HOUR, duration_s=3600, intensity_g_per_kwh=50.0, provider="test",
                         origin=Origin.LIVE)]
RESIDUAL = residual_mix_series("FR", HOUR, HOUR + timedelta(hours=1))


def run(extra: str = "", certificates=None, kwh: float | None = 0.01, **kw):
    loaded = parse_policy(POLICY.replace("{extra}", extra), "wiring.yaml")
    return loaded, judge(loaded, [stage(kwh)], POINTS, run_id="run-w", as_of=AS_OF, certificates=certificates,
                         residual=RESIDUAL, **kw)


def test_no_certificates_under_min_cfe_means_cfe_zero_and_the_gate_says_so() -> None:
    loaded, result = run()
    assert result.match is not None and result.match.cfe_score == 0.0
    assert result.decision.cfe_score == 0.0 and result.decision.outcome == Outcome.BLOCK
    (finding,) = [f for f in result.decision.findings if f.rule_id == "matching.cfe"]
    assert "no certificate files were given" in finding.message
    assert finding.policy_file == "wiring.yaml" and finding.policy_line == loaded.line_of("spec", "matching", "min_cfe")
    # all energy unmatched: market-based = energy x residual mix, beside the location-based figure
    factor = RESIDUAL[0].intensity_g_per_kwh
    assert result.footprint.market_co2e_kg == pytest.approx(0.01 * factor / 1000)
    assert result.decision.market_co2e_kg == result.footprint.market_co2e_kg
    assert result.footprint.co2e_kg == pytest.approx(0.01 * 50 / 1000)


def test_verified_certificates_above_the_minimum_allow() -> None:
    _, result = run(certificates=[signed([bundle(0, 7)])])  # 8 of the 10 Wh
    assert result.decision.outcome == Outcome.ALLOW
    assert result.decision.cfe_score == pytest.approx(0.8)
    assert result.footprint.market_co2e_kg == pytest.approx(0.002 * RESIDUAL[0].intensity_g_per_kwh / 1000)
    assert [(c.first, c.last) for c in result.match.claims] == [(0, 7)]


def test_offsets_never_raise_cfe_through_the_gate() -> None:
    _, plain = run(certificates=[signed([bundle(0, 3)])])
    _, offset = run(certificates=[signed([bundle(0, 3), OFFSET])])
    assert offset.decision.cfe_score == plain.decision.cfe_score == pytest.approx(0.4)
    assert offset.decision.outcome == Outcome.BLOCK
    _, only = run(certificates=[signed([OFFSET])])
    assert only.decision.cfe_score == 0.0
    assert "matching.offsets-only" in {f.rule_id for f in only.decision.active_findings}


def test_unsigned_and_wrongly_signed_files_match_nothing() -> None:
    from carbonguard.ledger.keys import Signer

    wrong = signed([bundle(0, 9)], signer=Signer.generate())
    _, result = run(certificates=[wrong])
    assert result.decision.cfe_score == 0.0
    rules = {f.rule_id: f.outcome for f in result.decision.findings}
    assert rules["matching.unverified"] == Outcome.BLOCK and rules["matching.cfe"] == Outcome.BLOCK


def test_a_waiver_silences_a_matching_finding_like_any_other() -> None:
    waiver = ("  waivers:\n    - {rule: matching.cfe, reason: trial, approved_by: cso, expires: 2026-12-31}\n")
    _, result = run(extra=waiver)
    (finding,) = [f for f in result.decision.findings if f.rule_id == "matching.cfe"]
    assert finding.waived_by is not None and result.decision.outcome == Outcome.ALLOW


def test_unknown_energy_gives_no_score_and_no_market_figure() -> None:
    _, result = run(kwh=None, certificates=[signed([bundle(0, 7)])])
    assert result.decision.cfe_score is None and result.footprint.market_co2e_kg is None
    assert any(f.rule_id == "matching.cfe" and "cannot be computed" in f.message for f in result.decision.findings)


def test_no_residual_mix_means_no_market_figure_never_zero() -> None:
    loaded = parse_policy(POLICY.replace("{extra}", ""), "wiring.yaml")
    result = judge(loaded, [stage()], POINTS, run_id="run-w", as_of=AS_OF, certificates=None, residual=())
    assert result.footprint.market_co2e_kg is None and result.decision.market_co2e_kg is None


def test_already_claimed_by_another_run_is_a_double_counting_finding_naming_it() -> None:
    from carbonguard.matching import ClaimedRange

    held = [ClaimedRange(registry=REGISTRY, first=0, last=7, run_id="run-winner")]
    _, result = run(certificates=[signed([bundle(0, 7)])], already_claimed=held)
    (finding,) = [f for f in result.decision.findings if f.rule_id == "matching.double-counting"]
    assert "run-winner" in finding.message and finding.outcome == Outcome.BLOCK
    assert result.decision.cfe_score == 0.0


def test_certificates_for_a_policy_without_matching_are_bad_input() -> None:
    text = POLICY.replace("{extra}", "").split("  matching:")[0]
    loaded = parse_policy(text, "plain.yaml")
    with pytest.raises(InputError, match=r"spec\.matching"):
        judge(loaded, [stage()], POINTS, run_id="run-w", as_of=AS_OF, certificates=[signed([bundle(0, 7)])])
    assert judge(loaded, [stage()], POINTS, run_id="run-w", as_of=AS_OF).match is None
