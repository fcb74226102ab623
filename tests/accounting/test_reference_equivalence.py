"""The gate's attribution and accounting give the reference's figures bit for bit, on random runs.

The reference (tests/accounting/reference.py) is the first implementation, verbatim. Inputs mix
overlapping windows on shared GPUs and RAPL domains, per-process estimates (shared per pid only),
several hosts, unavailable and estimated readings, cached and zero-length records, windows across
clock hours at microsecond resolution, and intensity series with gaps, quarter-hours, overlapping
and equal points from distinct objects. Equality is `==` on the models and on their JSON.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonguard.accounting import compute_footprint, intensity_span
from carbonguard.errors import InputError
from carbonguard.metering.attribution import attribute_rows, attribute_shared_devices
from carbonguard.models import ComponentEnergy, EnergyMethod, IntensityPoint, StageRecord, stage_rows
from tests.accounting import reference

T0 = datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
SPAN_US = 4 * 3600 * 10**6  # records start within four hours of T0
DEVICES = [("gpu", "GPU-0"), ("gpu", "GPU-1"), ("cpu", "package-0"), ("dram", "package-0"),
           ("cpu", "process"), ("dram", "process"), ("cpu", "process:worker")]
SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def readings(draw: st.DrawFn) -> tuple[ComponentEnergy, ...]:
    picked = draw(st.lists(st.sampled_from(DEVICES), max_size=3, unique=True))
    out = []
    for component, device in picked:
        method = draw(st.sampled_from(list(EnergyMethod)))
        if method == EnergyMethod.UNAVAILABLE:
            out.append(ComponentEnergy(component=component, device=device, method=method, source="t"))
            continue
        kwh = draw(st.one_of(st.just(0.0), st.floats(1e-9, 50.0, allow_nan=False, allow_infinity=False)))
        band = draw(st.one_of(st.just(0.0), st.floats(0.0, 5.0, allow_nan=False, allow_infinity=False)))
        out.append(ComponentEnergy(component=component, device=device, method=method, energy_kwh=kwh,
                                   uncertainty_kwh=band, source="t", flags=draw(st.sampled_from([(), ("x",)]))))
    return tuple(out)


@st.composite
def stage_records(draw: st.DrawFn, ordered: bool = True) -> StageRecord:
    start_us = draw(st.integers(0, SPAN_US))
    # zero-length, sub-second, minutes, and windows across several clock hours
    length_us = draw(st.one_of(st.just(0), st.integers(1, 10**6), st.integers(0, 3 * 3600 * 10**6)))
    start = T0 + timedelta(microseconds=start_us)
    end = start + timedelta(microseconds=length_us if ordered else -max(length_us, 1))
    return StageRecord(run_id="r", flow_name="f", stage=draw(st.sampled_from(["prep", "train", "eval"])),
                       start=start, end=end, zone=draw(st.sampled_from([None, "DE", "FR"])),
                       host=draw(st.sampled_from(["h1", "h2"])), pid=draw(st.sampled_from([1, 2])),
                       cached=draw(st.booleans()) and draw(st.booleans()), components=draw(readings()))


def _point(start: datetime, minutes: int, g: float, provider: str = "p") -> IntensityPoint:
    return IntensityPoint(zone="DE", start=start, duration_s=minutes * 60, intensity_g_per_kwh=g,
                          provider=provider, origin="embedded", flags=("quality:approximate",) if g > 400 else ())


@st.composite
def series(draw: st.DrawFn) -> list[IntensityPoint]:
    """Hourly points over T0-1h .. T0+8h with holes, some quarter-hours, overlaps and duplicates."""
    points = []
    for h in range(-1, 8):
        kind = draw(st.sampled_from(["hour", "hour", "hour", "quarters", "none"]))
        start = T0 + timedelta(hours=h)
        if kind == "hour":
            points.append(_point(start, 60, draw(st.floats(0.0, 800.0, allow_nan=False))))
        elif kind == "quarters":
            points += [_point(start + timedelta(minutes=15 * q), 15, draw(st.floats(0.0, 800.0, allow_nan=False)),
                              draw(st.sampled_from(["p", "q"]))) for q in range(4)]
    if points and draw(st.booleans()):  # an equal point from a distinct object: counts once
        points.append(points[0].model_copy())
    if points and draw(st.booleans()):  # a finer point over a coarser one
        points.append(_point(points[-1].start + timedelta(minutes=5), 10, draw(st.floats(0.0, 800.0))))
    return points


def _reference_judged(records: list[StageRecord], points: list[IntensityPoint]):
    return reference.compute_footprint(reference.attribute_shared_devices(records), run_id="r", zone="DE",
                                       pue=1.3, points=points)


@SLOW
@given(st.lists(stage_records(), max_size=30))
def test_attribution_gives_the_references_records(records: list[StageRecord]) -> None:
    expected = reference.attribute_shared_devices(records)
    got = attribute_shared_devices(records)
    assert got == expected
    assert [r.model_dump_json() for r in got] == [r.model_dump_json() for r in expected]
    # the rows the gate apportions carry the same figures as the reference's records
    assert attribute_rows(stage_rows(records)) == stage_rows(expected)


@SLOW
@given(st.lists(stage_records(), max_size=30), series())
def test_footprint_of_records_and_of_rows_is_the_references(records: list[StageRecord],
                                                             points: list[IntensityPoint]) -> None:
    expected = reference.compute_footprint(records, run_id="r", zone="DE", pue=1.3, points=points)
    assert compute_footprint(records, run_id="r", zone="DE", pue=1.3, points=points) == expected
    got = compute_footprint(stage_rows(records), run_id="r", zone="DE", pue=1.3, points=points)
    assert got.model_dump_json() == expected.model_dump_json()
    assert intensity_span(stage_rows(records)) == reference.intensity_span(records)


@SLOW
@given(st.lists(stage_records(), max_size=40), series())
def test_the_gates_path_gives_the_references_footprint(records: list[StageRecord],
                                                       points: list[IntensityPoint]) -> None:
    """What `pipeline.judge` prices (attributed rows) against the reference's attributed records."""
    expected = _reference_judged(records, points)
    got = compute_footprint(attribute_rows(stage_rows(records)), run_id="r", zone="DE", pue=1.3, points=points)
    assert got == expected and got.model_dump_json() == expected.model_dump_json()


@st.composite
def grid_records(draw: st.DrawFn) -> StageRecord:
    """Windows on a coarse grid, one host and process: many start together, end together, or both
    (the attribution's cohorts of equal starts), some alone."""
    start = T0 + timedelta(seconds=30 * draw(st.integers(0, 6)))
    end = start + timedelta(seconds=30 * draw(st.integers(0, 4)))
    kwh = st.floats(1e-6, 10.0, allow_nan=False, allow_infinity=False)
    components = [ComponentEnergy(component="gpu", device="GPU-0", method="counter", energy_kwh=draw(kwh),
                                  source="t")]
    if draw(st.booleans()):
        components.append(ComponentEnergy(component="cpu", device="package-0", method="estimated",
                                          energy_kwh=draw(kwh), uncertainty_kwh=draw(kwh), source="t"))
    return StageRecord(run_id="r", flow_name="f", stage="s", start=start, end=end, host="h1", pid=1,
                       components=tuple(components))


@SLOW
@given(st.lists(grid_records(), max_size=60))
def test_attribution_of_windows_that_start_and_end_together_is_the_references(records: list[StageRecord]) -> None:
    expected = reference.attribute_shared_devices(records)
    assert attribute_shared_devices(records) == expected
    assert attribute_rows(stage_rows(records)) == stage_rows(expected)


def test_many_windows_on_one_gpu_are_the_references() -> None:
    """The big-run shape: hundreds of stages overlapping on one GPU and one RAPL domain."""
    records = [StageRecord(run_id="r", flow_name="f", stage=f"s{i % 7}", host="h", pid=1,
                           start=T0 + timedelta(seconds=i * 7.3), end=T0 + timedelta(seconds=i * 7.3 + 95),
                           components=(ComponentEnergy(component="gpu", device="GPU-0", method="counter",
                                                       energy_kwh=0.01 + (i * 37 % 101) * 1e-6, source="t"),
                                       ComponentEnergy(component="cpu", device="package-0", method="estimated",
                                                       energy_kwh=0.002, uncertainty_kwh=0.0004, source="t")))
               for i in range(600)]
    points = [_point(T0 + timedelta(hours=h), 60, 300.0 + h) for h in range(3)]
    got = compute_footprint(attribute_rows(stage_rows(records)), run_id="r", zone="DE", pue=1.3, points=points)
    assert got.model_dump_json() == _reference_judged(records, points).model_dump_json()
    assert got.co2e_kg is not None and got.co2e_kg > 0


@settings(max_examples=30, deadline=None)
@given(stage_records(ordered=False))
def test_a_record_that_ends_before_it_starts_is_refused_as_before(record: StageRecord) -> None:
    if record.cached or record.end == record.start:
        return  # cached records are never split, so never checked
    with pytest.raises(InputError) as ref:
        reference.compute_footprint([record], run_id="r", zone="DE", pue=1.0, points=[])
    with pytest.raises(InputError) as now:
        compute_footprint(stage_rows([record]), run_id="r", zone="DE", pue=1.0, points=[])
    assert str(now.value) == str(ref.value)
    with pytest.raises(InputError):
        intensity_span(stage_rows([record]))
