"""Attribution of host-wide devices across overlapping windows: examples and properties."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonguard.metering import attribute_shared_devices
from carbonguard.models import ComponentEnergy, EnergyMethod, StageRecord

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def comp(device: str, kwh: float | None, component: str = "gpu") -> ComponentEnergy:
    if kwh is None:
        return ComponentEnergy(component=component, device=device, method="unavailable", source="t")
    method = EnergyMethod.ESTIMATED if device == "process" else EnergyMethod.COUNTER
    return ComponentEnergy(
        component=component,
        device=device,
        method=method,
        energy_kwh=kwh,
        uncertainty_kwh=kwh / 10,
        source="t",
    )


def record(
    stage: str, start_s: int, end_s: int, *components: ComponentEnergy, host: str = "h1", pid: int = 1
) -> StageRecord:
    return StageRecord(
        run_id="r",
        flow_name="f",
        stage=stage,
        start=T0 + timedelta(seconds=start_s),
        end=T0 + timedelta(seconds=end_s),
        host=host,
        pid=pid,
        components=components,
    )


def energy(rec: StageRecord, device: str) -> float:
    return sum(c.energy_kwh or 0 for c in rec.components if c.device == device)


def test_two_threads_reading_one_gpu_split_the_overlap():
    # a: 0-10 s at 100 (units/s) -> 1000; b: 5-15 s at 300 -> 3000. Overlap 5-10 s.
    a = record("a", 0, 10, comp("GPU-1", 1000.0))
    b = record("b", 5, 15, comp("GPU-1", 3000.0))
    a2, b2 = attribute_shared_devices([a, b])
    # 0-5: a alone 500. 5-10: mean(100, 300) x 5 = 1000, 500 each. 10-15: b alone 1500.
    assert energy(a2, "GPU-1") == pytest.approx(1000.0)
    assert energy(b2, "GPU-1") == pytest.approx(2000.0)
    for r in (a2, b2):
        (c,) = r.components
        assert "apportioned" in c.flags and c.shared
    assert a2.components[0].uncertainty_kwh == pytest.approx(100.0)  # scaled with the energy
    assert b2.components[0].uncertainty_kwh == pytest.approx(300.0 * 2000 / 3000)


def test_process_estimates_other_hosts_and_unavailable_are_untouched():
    a = record("a", 0, 10, comp("process", 5.0, "cpu"), comp("rapl:package-0", 10.0, "cpu"), pid=11)
    b = record("b", 0, 10, comp("process", 7.0, "cpu"), comp("rapl:package-0", 10.0, "cpu"), pid=12)
    c = record("c", 0, 10, comp("rapl:package-0", 10.0, "cpu"), host="h2")
    d = record("d", 0, 10, comp("rapl:package-0", None, "cpu"))
    a2, b2, c2, d2 = attribute_shared_devices([a, b, c, d])
    assert energy(a2, "process") == 5.0 and energy(b2, "process") == 7.0
    assert energy(a2, "rapl:package-0") == pytest.approx(5.0)
    assert energy(b2, "rapl:package-0") == pytest.approx(5.0)
    assert c2 == c and d2 == d  # another host, and a reading that is unavailable


def test_process_estimate_is_shared_by_overlapping_windows_of_one_process():
    # Two thread-pool tasks in one process: each window's CPU-time estimate covers both threads.
    a = record("a", 0, 10, comp("process", 8.0, "cpu"), pid=7)
    b = record("b", 5, 15, comp("process", 8.0, "cpu"), pid=7)
    a2, b2 = attribute_shared_devices([a, b])
    assert energy(a2, "process") + energy(b2, "process") == pytest.approx(12.0)  # 4 + 4 alone + 4 shared
    assert all("apportioned" in c.flags for r in (a2, b2) for c in r.components)


def test_cpu_and_dram_estimates_of_one_record_are_not_split_against_each_other():
    a = record("a", 0, 10, comp("process", 8.0, "cpu"), comp("process", 2.0, "dram"), pid=7)
    assert attribute_shared_devices([a]) == [a]


def test_disjoint_and_touching_windows_are_unchanged():
    recs = [record("a", 0, 10, comp("GPU-1", 1.0)), record("b", 10, 20, comp("GPU-1", 2.0))]
    assert attribute_shared_devices(recs) == recs


intervals = st.tuples(st.integers(0, 40), st.integers(1, 20)).map(lambda t: (t[0], t[0] + t[1]))
component_specs = st.lists(
    st.tuples(st.sampled_from(["GPU-1", "GPU-2", "rapl:package-0", "process"]), st.floats(0, 1000)),
    min_size=1,
    max_size=3,
    unique_by=lambda t: t[0],
)
record_specs = st.lists(
    st.tuples(st.sampled_from(["h1", "h2"]), intervals, component_specs), min_size=0, max_size=8
)


def build(specs) -> list[StageRecord]:
    out = []
    for i, (host, (start, end), comps) in enumerate(specs):
        # One process per record: process estimates are then each record's own and never move.
        out.append(record(f"s{i}", start, end, *(comp(d, e) for d, e in comps), host=host, pid=i + 1))
    return out


def union_energy(recs: list[StageRecord]) -> dict[tuple[str, str], float]:
    """Independent oracle: walk whole seconds (every boundary is an integer second)."""
    totals: dict[tuple[str, str], float] = defaultdict(float)
    keys = {(r.host, c.device) for r in recs for c in r.components if c.device != "process"}
    for host, device in keys:
        members = [
            (int((r.start - T0).total_seconds()), int((r.end - T0).total_seconds()), c.energy_kwh)
            for r in recs
            if r.host == host
            for c in r.components
            if c.device == device
        ]
        for t in range(0, 61):
            powers = [e / (b - a) for a, b, e in members if a <= t < b]
            if powers:
                totals[(host, device)] += sum(powers) / len(powers)
    return totals


def device_totals(recs: list[StageRecord]) -> dict[tuple[str, str], float]:
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for r in recs:
        for c in r.components:
            if c.device != "process":
                totals[(r.host, c.device)] += c.energy_kwh
    return totals


def overlaps(recs: list[StageRecord]) -> bool:
    for i, a in enumerate(recs):
        for b in recs[i + 1 :]:
            shared = {c.device for c in a.components} & {c.device for c in b.components} - {"process"}
            if a.host == b.host and shared and a.start < b.end and b.start < a.end:
                return True
    return False


@settings(max_examples=200, deadline=None)
@given(record_specs)
def test_attribution_properties(specs):
    before = build(specs)
    after = attribute_shared_devices(before)
    assert len(after) == len(before)
    total_before = sum(r.energy_kwh for r in before)
    total_after = sum(r.energy_kwh for r in after)
    assert total_after <= total_before + 1e-9 * max(1.0, total_before)
    if not overlaps(before):
        assert after == before
        assert total_after == total_before
    oracle = union_energy(before)
    got = device_totals(after)
    for key, value in oracle.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9)
    for r0, r1 in zip(before, after, strict=True):  # process estimates never move
        assert [c for c in r0.components if c.device == "process"] == [
            c for c in r1.components if c.device == "process"
        ]
