"""The checked-in demo export verifies under the example policy's pinned demo key and matches some hours."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pytest

from carbonguard.intensity.providers.embedded import residual_mix_series
from carbonguard.matching import judge_matching, match_certificates
from carbonguard.matching.loader import load_certificates
from carbonguard.policy import load_policy

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "examples" / "certificates"


def consumption() -> list[tuple[datetime, float]]:
    with (DEMO / "demo-consumption.csv").open(newline="") as fh:
        return [(datetime.fromisoformat(r["hour_start"].replace("Z", "+00:00")), float(r["energy_kwh"]))
                for r in csv.DictReader(fh)]


def test_demo_export_matches_some_hours_under_the_example_policy() -> None:
    matching = load_policy(REPO / "policies" / "example-matching.yaml").policy.spec.matching
    assert matching is not None
    loaded = load_certificates(DEMO / "demo-certificates.json", matching.pinned_keys)
    assert loaded.signature is not None and loaded.signature.state == "verified"
    hours = consumption()
    residual = residual_mix_series("DE", hours[0][0], hours[-1][0])[0]
    result = match_certificates(hours, [loaded], matching, run_id="demo", zone="DE",
                                residual_g_per_kwh=residual.intensity_g_per_kwh, residual_source=residual.source)
    assert [round(h.cfe or 0, 2) for h in result.hours] == [0.67, 0.0, 0.67, 0.0]
    assert result.cfe_score == pytest.approx(20 / 59)
    assert [r.rule_id for r in result.rejected] == ["matching.zone"]
    assert result.market_co2e_kg == pytest.approx((0.059 - 0.020) * residual.intensity_g_per_kwh / 1000)
    assert {i.kind for i in result.offsets.items} == {"offset", "annual"} and all(i.valid for i in
                                                                                  result.offsets.items)
    assert [f.rule_id for f in judge_matching(matching, result)] == ["matching.zone"]  # 34 % >= min_cfe 0.3


def test_demo_key_is_labelled_and_the_export_breaks_when_edited(tmp_path: Path) -> None:
    assert "DEMO ONLY" in (DEMO / "README.md").read_text()
    matching = load_policy(REPO / "policies" / "example-matching.yaml").policy.spec.matching
    assert matching is not None
    edited = tmp_path / "demo-certificates.json"
    edited.write_bytes((DEMO / "demo-certificates.json").read_bytes().replace(b'"bundle_quantity": 8',
                                                                               b'"bundle_quantity": 9'))
    (tmp_path / "demo-certificates.json.sig").write_bytes((DEMO / "demo-certificates.json.sig").read_bytes())
    loaded = load_certificates(edited, matching.pinned_keys)
    assert loaded.signature is not None and loaded.signature.state == "bad-signature"
