"""Windows: nested, concurrent, from threads; one sampler; misuse is a clear error."""

from __future__ import annotations

import os
import threading
import uuid

import pynvml
import pytest
from fake_pynvml import FakeGpu  # type: ignore[import-not-found]

from carbonguard.metering import Measurement, get_meter, measure
from carbonguard.metering.devices import DeviceReadError
from carbonguard.models import EnergyMethod, StageRecord

J_PER_KWH = 3.6e6


def test_measure_context_manager_and_nesting(make_meter):
    meter = make_meter()
    with measure("train", meter=meter) as outer:
        assert outer.result is None
        with measure("epoch-1", meter=meter) as inner, measure("step", meter=meter) as step:
            pass
    assert isinstance(outer.result, Measurement)
    assert outer.result.parent is None
    assert inner.result.parent == "train"
    assert step.result.parent == "epoch-1"
    assert outer.result.start <= inner.result.start <= inner.result.end <= outer.result.end
    assert outer.result.start.tzinfo is not None and outer.result.start.utcoffset().total_seconds() == 0
    assert outer.result.pid == os.getpid() and outer.result.host
    assert meter.open_windows == ()


def test_window_closes_and_reports_when_the_block_raises(make_meter):
    meter = make_meter()
    window = measure("failing", meter=meter)
    with pytest.raises(RuntimeError), window:
        raise RuntimeError("boom")
    assert window.result is not None and window.result.name == "failing"
    assert meter.open_windows == ()


def test_concurrent_windows_share_a_gpu_counter(make_meter, fake_pynvml, nvml_state):
    gpu = FakeGpu("GPU-shared", energy_mj=0)
    nvml_state.gpus.append(gpu)
    meter = make_meter(nvml_backend=fake_pynvml)
    a = meter.begin_window("a")
    gpu.energy_mj += 1000
    b = meter.begin_window("b")  # overlapping, not nested by intent: still a sibling in time
    gpu.energy_mj += 2000
    ma = meter.end_window(a)
    gpu.energy_mj += 4000
    mb = meter.end_window(b)
    energy = {m.name: next(c for c in m.components if c.component == "gpu").energy_kwh for m in (ma, mb)}
    assert energy["a"] == pytest.approx(3 / J_PER_KWH)
    assert energy["b"] == pytest.approx(6 / J_PER_KWH)


def test_windows_from_many_threads(make_meter, fake_pynvml, nvml_state):
    nvml_state.gpus.append(FakeGpu("GPU-t", counter_supported=False))
    meter = make_meter(nvml_backend=fake_pynvml, sample_period_s=0.02)
    results: dict[str, Measurement] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        barrier.wait()
        for j in range(20):
            with measure(f"t{i}", meter=meter) as outer, measure(f"t{i}-{j}", meter=meter) as inner:
                pass
            assert inner.result.parent == f"t{i}"
        with lock:
            results[f"t{i}"] = outer.result

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [f"t{i}" for i in range(8)]
    for m in results.values():
        assert m.parent is None  # a new thread starts with no enclosing window
        (gpu,) = [c for c in m.components if c.component == "gpu"]
        assert gpu.method == EnergyMethod.SAMPLED and gpu.energy_kwh >= 0
    assert meter.open_windows == ()
    samplers = [t for t in threading.enumerate() if t.name == "carbonguard-sampler"]
    assert len(samplers) == 1  # one shared sampler, however many windows


def test_no_sampler_thread_without_devices_that_need_one(make_meter):
    meter = make_meter()
    for _ in range(10):
        meter.end_window(meter.begin_window("w"))
    assert meter.sampler is not None and not meter.sampler.running


def test_end_twice_or_unknown_is_a_clear_error(make_meter):
    meter = make_meter()
    h = meter.begin_window("once")
    meter.end_window(h)
    with pytest.raises(ValueError, match="not open"):
        meter.end_window(h)
    with pytest.raises(ValueError, match="no open window named 'ghost'"):
        meter.end_window("ghost")


def test_end_by_name_closes_the_latest_of_that_name(make_meter):
    meter = make_meter()
    first = meter.begin_window("dup")
    meter.begin_window("dup")
    m = meter.end_window("dup")
    assert m.name == "dup" and meter.open_windows == ("dup",)
    meter.end_window(first)


def test_out_of_order_close_keeps_parents_right(make_meter):
    meter = make_meter()
    a = meter.begin_window("a")
    b = meter.begin_window("b")
    meter.end_window(a)
    with measure("c", meter=meter) as c:
        pass
    assert c.result.parent == "b"
    meter.end_window(b)


def test_to_stage_record(make_meter):
    meter = make_meter()
    with measure("fit", meter=meter) as m:
        pass
    run_id = uuid.uuid4().hex
    record = m.result.to_stage_record(run_id=run_id, flow_name="train-flow", zone="FR")
    assert isinstance(record, StageRecord)
    assert (record.stage, record.run_id, record.zone) == ("fit", run_id, "FR")
    assert record.components == m.result.components
    assert record.energy_kwh == pytest.approx(m.result.energy_kwh)
    again = StageRecord.model_validate(record.model_dump(mode="json"))
    assert again == record


def test_get_meter_is_a_lazy_singleton():
    meter = get_meter()
    assert get_meter() is meter
    with measure("default") as m:
        pass
    assert m.result is not None and m.result.components
    assert any(c.method == EnergyMethod.ESTIMATED for c in m.result.components)


def test_forked_child_gets_a_fresh_meter():
    parent = get_meter()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report whether the singleton was replaced, then leave at once
        ok = get_meter() is not parent and get_meter().pid == os.getpid()
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    os.close(read)


def test_a_forked_child_restarts_the_sampler(tmp_path) -> None:
    """Threads do not survive fork; a started sampler must start again in the child."""
    import os

    from carbonguard.metering.sampler import Sampler

    class Polled:
        device_id = "fake"
        poll_period_s = 0.01

        def __init__(self) -> None:
            self.polls = 0

        def poll(self) -> None:
            self.polls += 1

    sampler = Sampler([Polled()])
    sampler.ensure_started()
    assert sampler.running
    out = tmp_path / "child"
    pid = os.fork()
    if pid == 0:  # child: report whether polling resumed, then leave without running pytest's teardown
        try:
            sampler.devices[0].polls = 0  # count only what the child's own thread polls
            sampler.ensure_started()
            import time

            time.sleep(0.2)
            out.write_text(f"{sampler.running} {sampler.devices[0].polls > 0}")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    sampler.stop()
    assert out.read_text() == "True True"


# ------------------------------------------------------------------ results built on first read
# Closing a window keeps its readings; the components are built when first read. These tests pin
# that a late read gives exactly what an immediate one would have.


def test_a_device_error_after_the_close_does_not_reach_the_closed_window(make_meter, fake_pynvml, nvml_state):
    gpu = FakeGpu("GPU-late", energy_mj=0)
    nvml_state.gpus.append(gpu)
    meter = make_meter(nvml_backend=fake_pynvml)
    window = meter.begin_window("w")
    gpu.energy_mj += 3600
    result = meter.end_window(window)
    gpu.fail = pynvml.NVML_ERROR_GPU_IS_LOST
    with pytest.raises(DeviceReadError):
        meter.devices[0].read_j()
    assert meter.devices[0].errors == 1
    gpu_part = next(c for c in result.components if c.component == "gpu")
    assert gpu_part.method == EnergyMethod.COUNTER and gpu_part.energy_kwh == pytest.approx(3.6 / J_PER_KWH)
    assert not any(f.startswith("unavailable:") for f in result.flags)


def test_a_cpu_power_change_after_the_close_does_not_reprice_the_closed_window(make_meter):
    meter = make_meter(cpu_w_per_core=10.0)
    early = meter.end_window(meter.begin_window("early"))
    later = meter.end_window(meter.begin_window("later"))
    read_at_once = early.components
    meter.set_cpu_w_per_core(500.0)
    read_late = later.components  # first read after the change
    assert all("x 10 W/core" in c.source for c in (*read_at_once, *read_late) if c.component == "cpu")
    after = meter.end_window(meter.begin_window("after"))
    assert "x 500 W/core" in next(c for c in after.components if c.component == "cpu").source


def test_a_measurement_is_immutable_and_compares_by_value(make_meter):
    meter = make_meter()
    result = meter.end_window(meter.begin_window("w"))
    with pytest.raises(AttributeError):
        result.name = "other"  # type: ignore[misc]
    copy = Measurement(
        name=result.name, start=result.start, end=result.end, duration_s=result.duration_s,
        components=result.components, host=result.host, pid=result.pid, devices=result.devices,
        flags=result.flags, parent=result.parent,
    )
    assert copy == result and hash(copy) == hash(result)
    assert repr(copy) == repr(result) and repr(result).startswith("Measurement(name='w', start=")
    assert result.devices == ("process",) and result.end >= result.start


def test_a_measurement_copies_and_pickles_by_value(make_meter):
    """Prefect persists a task's result by pickling it: a Measurement returned from a task must
    survive that, built first, with no device or estimator object inside."""
    import copy
    import pickle

    meter = make_meter()
    unread = meter.end_window(meter.begin_window("w"))  # nothing read yet: still lazy
    restored = pickle.loads(pickle.dumps(unread))
    assert restored == unread and copy.copy(unread) == unread and copy.deepcopy(unread) == unread
    assert restored.components == unread.components and restored.end == unread.end
    given = Measurement(name="m", start=unread.start, end=unread.start, duration_s=5.0, components=(),
                        host="h", pid=1, devices=(), flags=())
    assert given.end == unread.start  # the end it was given, as a dataclass kept it
