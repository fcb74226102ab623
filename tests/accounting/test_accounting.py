"""compute_footprint: hour bucketing, PUE, upper bounds, cached and unavailable readings, stage totals."""

from __future__ import annotations

import pytest

from carbonguard.accounting import compute_footprint as compute_from_points
from carbonguard.accounting import intensity_span
from carbonguard.errors import InputError
from carbonguard.intensity import build_source
from carbonguard.intensity.chain import FallbackChain
from carbonguard.intensity.providers.embedded import EmbeddedSource
from carbonguard.intensity.settings import IntensitySettings
from carbonguard.models import JudgedRecords, Origin
from tests.intensity.helpers import StaticSource, at, gb_points, gb_rows, gpu, point, record


def compute_footprint(records, *, source, zone, **kwargs):
    """Accounting takes points, not a source: fetch exactly the span it asks for, as callers do."""
    span = intensity_span(records)
    points = source.series(zone, *span) if span is not None else []
    return compute_from_points(records, zone=zone, points=points, **kwargs)


def hourly_source() -> StaticSource:
    # 12:00-13:00 at 100 g/kWh, 13:00-14:00 at 300 g/kWh
    return StaticSource([point(at(4, 12), 60, 100.0), point(at(4, 13), 60, 300.0)])


def test_energy_is_spread_uniformly_and_bucketed_by_clock_hour() -> None:
    # 12:40-13:20: 20 minutes before 13:00 and 20 after, so half the energy in each hour
    rec = record("train", at(4, 12, 40), at(4, 13, 20), gpu(2.0))
    fp = compute_footprint([rec], run_id="run-1", zone="GB", pue=1.0, source=hourly_source())
    assert [b.hour_start for b in fp.hourly] == [at(4, 12), at(4, 13)]
    assert [b.energy_kwh for b in fp.hourly] == pytest.approx([1.0, 1.0])
    assert [b.intensity_g_per_kwh for b in fp.hourly] == pytest.approx([100.0, 300.0])
    assert [b.co2e_kg for b in fp.hourly] == pytest.approx([0.1, 0.3])
    assert fp.co2e_kg == pytest.approx(0.4)
    assert fp.start == at(4, 12, 40) and fp.end == at(4, 13, 20)


def test_uneven_split_across_three_hours() -> None:
    # 12:30-14:15 = 105 min: 30 / 60 / 15 minutes -> 2/7, 4/7, 1/7 of 7 kWh
    src = StaticSource([point(at(4, 12), 60, 100.0), point(at(4, 13), 60, 300.0), point(at(4, 14), 60, 50.0)])
    fp = compute_footprint(
        [record("s", at(4, 12, 30), at(4, 14, 15), gpu(7.0))], run_id="r", zone="GB", pue=1.0, source=src
    )
    assert [b.energy_kwh for b in fp.hourly] == pytest.approx([2.0, 4.0, 1.0])
    assert fp.co2e_kg == pytest.approx((2 * 100 + 4 * 300 + 1 * 50) / 1000)


def test_pue_scales_facility_energy_and_emissions() -> None:
    rec = record("train", at(4, 12, 0), at(4, 13, 0), gpu(2.0))
    fp = compute_footprint([rec], run_id="r", zone="GB", pue=1.4, source=hourly_source())
    assert fp.it_energy_kwh == pytest.approx(2.0)
    assert fp.energy_kwh == pytest.approx(2.8)
    assert fp.co2e_kg == pytest.approx(2.8 * 100 / 1000)
    assert fp.stage("train").it_energy_kwh == pytest.approx(2.0)
    assert fp.stage("train").energy_kwh == pytest.approx(2.8)


def test_pue_below_one_is_refused() -> None:
    with pytest.raises(InputError, match="PUE"):
        compute_footprint([], run_id="r", zone="GB", pue=0.9, source=hourly_source())


def test_upper_bounds_add_uncertainty_bands() -> None:
    rec = record("train", at(4, 12, 0), at(4, 13, 0), gpu(2.0, method="estimated", uncertainty=0.5))
    fp = compute_footprint([rec], run_id="r", zone="GB", pue=1.5, source=hourly_source())
    assert fp.energy_upper_kwh == pytest.approx(2.5 * 1.5)
    assert fp.co2e_upper_kg == pytest.approx(2.5 * 1.5 * 100 / 1000)
    assert fp.co2e_kg == pytest.approx(2.0 * 1.5 * 100 / 1000)
    assert fp.estimated_components == 1 and "estimated-energy" in fp.flags
    assert fp.stage("train").estimated_components == 1


def test_cached_records_contribute_nothing() -> None:
    real = record("train", at(4, 12, 0), at(4, 13, 0), gpu(2.0))
    cached = record("prep", at(4, 13, 0), at(4, 13, 30), gpu(5.0), cached=True)
    fp = compute_footprint([real, cached], run_id="r", zone="GB", pue=1.0, source=hourly_source())
    assert fp.energy_kwh == pytest.approx(2.0)
    assert fp.stage("prep") is None
    assert [b.hour_start for b in fp.hourly] == [at(4, 12)]
    assert "cached-records-skipped" in fp.flags


def test_only_cached_records_is_a_real_zero() -> None:
    cached = record("prep", at(4, 13, 0), at(4, 13, 30), gpu(5.0), cached=True)
    fp = compute_footprint([cached], run_id="r", zone="GB", pue=1.0, source=hourly_source())
    assert fp.energy_kwh == 0.0 and fp.co2e_kg == 0.0 and fp.hourly == ()


def test_no_records_at_all_leaves_co2e_unknown() -> None:
    fp = compute_footprint([], run_id="r", zone="GB", pue=1.0, source=hourly_source())
    assert fp.co2e_kg is None and "no-stage-records" in fp.flags


def test_unavailable_components_are_counted_not_zeroed() -> None:
    rec = record(
        "train", at(4, 12, 0), at(4, 13, 0), gpu(2.0), gpu(None, method="unavailable", device="gpu1")
    )
    fp = compute_footprint([rec], run_id="r", zone="GB", pue=1.0, source=hourly_source())
    assert fp.unavailable_components == 1
    assert fp.stage("train").unavailable_components == 1
    assert "unavailable-energy" in fp.flags
    assert fp.energy_kwh == pytest.approx(2.0)  # what was measured, with the gap counted beside it


def test_stage_totals_sum_records_of_the_same_stage() -> None:
    recs = [
        record("train", at(4, 12, 0), at(4, 12, 30), gpu(1.0)),
        record("train", at(4, 13, 0), at(4, 13, 30), gpu(1.0)),
        record("eval", at(4, 12, 30), at(4, 13, 30), gpu(2.0)),
    ]
    fp = compute_footprint(recs, run_id="r", zone="GB", pue=1.0, source=hourly_source())
    train, ev = fp.stage("train"), fp.stage("eval")
    assert train.records == 2 and ev.records == 1
    assert train.co2e_kg == pytest.approx((1 * 100 + 1 * 300) / 1000)
    assert ev.co2e_kg == pytest.approx((1 * 100 + 1 * 300) / 1000)
    assert fp.co2e_kg == pytest.approx(train.co2e_kg + ev.co2e_kg)
    assert sum(b.energy_kwh for b in fp.hourly) == pytest.approx(fp.energy_kwh)


def test_half_hourly_gb_figures_within_an_hour_are_time_weighted() -> None:
    # 2023-05-04 12:30Z: 11 g/kWh, 13:00Z: 15, 13:30Z: 15 (fixture). 12:30-13:30, 1 kWh.
    fp = compute_footprint(
        [record("s", at(4, 12, 30), at(4, 13, 30), gpu(1.0))],
        run_id="r",
        zone="GB",
        pue=1.0,
        source=StaticSource(gb_points()),
    )
    assert [b.intensity_g_per_kwh for b in fp.hourly] == pytest.approx([11.0, 15.0])
    assert fp.co2e_kg == pytest.approx((0.5 * 11 + 0.5 * 15) / 1000)
    assert len(fp.intensity_sources) == 2
    assert {b.intensity_origin for b in fp.hourly} == {Origin.LIVE}


def test_zero_length_record_is_priced_at_its_instant() -> None:
    rec = record("s", at(4, 13, 10), at(4, 13, 10), gpu(0.5))
    fp = compute_footprint([rec], run_id="r", zone="GB", pue=1.0, source=hourly_source())
    assert fp.co2e_kg == pytest.approx(0.5 * 300 / 1000)


def test_gap_without_fallback_leaves_the_hour_unknown_and_flags_it() -> None:
    src = StaticSource([point(at(4, 12), 60, 100.0)])  # nothing for 13:00-14:00
    fp = compute_footprint(
        [record("s", at(4, 12, 30), at(4, 13, 30), gpu(2.0))], run_id="r", zone="GB", pue=1.0, source=src
    )
    assert fp.hourly[0].co2e_kg == pytest.approx(0.1)
    assert fp.hourly[1].co2e_kg is None
    assert fp.co2e_kg is None
    assert "intensity-gap" in fp.flags
    assert fp.energy_kwh == pytest.approx(2.0)


def test_gap_filled_by_the_annual_figure_is_recorded() -> None:
    live = StaticSource([point(at(4, 12), 60, 100.0)], name="uk-carbon-intensity")
    chain = FallbackChain([live, EmbeddedSource()])
    fp = compute_footprint(
        [record("s", at(4, 12, 30), at(4, 13, 30), gpu(2.0))], run_id="r", zone="GB", pue=1.0, source=chain
    )
    gb_annual = 237.589  # OWID 2023, embedded
    assert fp.co2e_kg == pytest.approx((1 * 100 + 1 * gb_annual) / 1000)
    assert "intensity-gap" in fp.flags
    filled = [p for p in fp.intensity_sources if p.provider == "embedded"]
    assert filled and filled[0].fallback_from == "uk-carbon-intensity"
    assert "intensity-gap-filled" in filled[0].flags
    assert fp.hourly[1].intensity_origin == Origin.EMBEDDED


def test_world_average_fallback_is_flagged_on_the_footprint() -> None:
    src = build_source(IntensitySettings(unknown_zone="warn"))
    fp = compute_footprint(
        [record("s", at(4, 12), at(4, 13), gpu(1.0))], run_id="r", zone="XX", pue=1.0, source=src
    )
    assert "world-average-fallback" in fp.flags
    assert fp.intensity_sources[0].dataset_hash


def test_judged_records_and_distinct_sources_are_kept() -> None:
    recs = [record("a", at(4, 12), at(4, 12, 30), gpu(1.0)), record("b", at(4, 12, 30), at(4, 13), gpu(1.0))]
    judged = JudgedRecords.of(["1" * 64, "2" * 64], through_seq=9)
    fp = compute_footprint(recs, run_id="r", zone="DE", pue=1.2, source=build_source(None), judged=judged)
    assert fp.judged_records == judged and fp.record_hashes == ()
    assert len(fp.intensity_sources) == 1  # the same annual point, used twice, listed once
    assert fp.co2e_kg == pytest.approx(2.0 * 1.2 * 380.95 / 1000)


def test_end_to_end_with_live_gb_data_running_past_its_end(uk_server, client, monkeypatch) -> None:
    # The fixture's last half-hour starts 2023-05-06T12:00Z; a stage 11:30-13:30 runs an hour past it.
    monkeypatch.setenv("CARBONGUARD_UK_CARBON_INTENSITY_URL", uk_server.url)
    settings = IntensitySettings(providers=("uk-carbon-intensity", "embedded"), cache_ttl_s=0)
    source = build_source(settings, http_client=client)
    rec = record("train", at(6, 11, 30), at(6, 13, 30), gpu(4.0))
    fp = compute_footprint([rec], run_id="r", zone="GB", pue=1.1, source=source)
    rows = dict(gb_rows())
    assert [b.hour_start for b in fp.hourly] == [at(6, 11), at(6, 12), at(6, 13)]
    assert fp.hourly[0].intensity_g_per_kwh == pytest.approx(rows[at(6, 11, 30)])
    assert fp.hourly[1].intensity_g_per_kwh == pytest.approx((rows[at(6, 12)] + 237.589) / 2)
    assert fp.hourly[2].intensity_g_per_kwh == pytest.approx(237.589)
    assert fp.hourly[2].intensity_origin == Origin.EMBEDDED
    assert fp.co2e_kg == pytest.approx(
        4.0 * 1.1 / 4 * (rows[at(6, 11, 30)] + rows[at(6, 12)] + 2 * 237.589) / 1000
    )
    assert "intensity-gap" in fp.flags
    filled = [p for p in fp.intensity_sources if p.provider == "embedded"]
    assert filled[0].start == at(6, 12, 30) and filled[0].fallback_from == "uk-carbon-intensity"
