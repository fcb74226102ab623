"""GPU metering through a scripted pynvml: counters, sampling, errors, MIG, CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pynvml
import pytest
from fake_pynvml import FakeGpu, FakeMig  # type: ignore[import-not-found]

from carbonguard.metering.nvml import Nvml, NvmlSampledDevice, parse_cuda_visible_devices
from carbonguard.models import EnergyMethod

J_PER_KWH = 3.6e6


def gpu_components(measurement):
    return [c for c in measurement.components if c.component == "gpu"]


def test_counter_supported_gives_counter_energy(make_meter, fake_pynvml, nvml_state):
    gpu = FakeGpu("GPU-aaaa-1111", energy_mj=1_000_000)
    nvml_state.gpus.append(gpu)
    meter = make_meter(nvml_backend=fake_pynvml)
    handle = meter.begin_window("train")
    gpu.energy_mj += 360_000  # 360 J
    m = meter.end_window(handle)
    (comp,) = gpu_components(m)
    assert comp.method == EnergyMethod.COUNTER
    assert comp.device == "GPU-aaaa-1111"
    assert comp.energy_kwh == pytest.approx(360 / J_PER_KWH)
    assert comp.source.startswith("nvml:total-energy-counter")
    assert not comp.shared
    assert meter.sampler is not None and not meter.sampler.running  # counters need no thread
    assert "GPU-aaaa-1111" in m.devices


def test_counter_unsupported_falls_back_to_sampling(make_meter, fake_pynvml, nvml_state):
    nvml_state.gpus.append(FakeGpu("GPU-old", counter_supported=False, power_mw=200_000))
    meter = make_meter(nvml_backend=fake_pynvml, sample_period_s=0.01)
    meter.discover()
    device = meter.devices[0]
    assert isinstance(device, NvmlSampledDevice)
    # Record the device's own timestamp of each window boundary sample (taken on this thread; the
    # sampler's interior samples run on its own). Comparing with these, not with wall time, keeps
    # the test exact on a loaded machine.
    boundary_t: list[float] = []
    integrate = device._read_j

    def recording_read_j() -> float:
        total = integrate()
        if threading.current_thread() is threading.main_thread():
            boundary_t.append(device._last_t)
        return total

    device._read_j = recording_read_j
    window = meter.begin_window("train")
    deadline = time.monotonic() + 5
    while device.samples < 6 and time.monotonic() < deadline:  # the thread samples between bounds
        time.sleep(0.01)
    m = meter.end_window(window)
    (comp,) = gpu_components(m)
    assert comp.method == EnergyMethod.SAMPLED
    assert "power-sampled" in comp.flags
    assert device.samples >= 6 and meter.sampler.running
    # Constant 200 W: the trapezoid is exact whatever the interior samples, so the energy is
    # 200 W x the span between the two boundary samples, by the device's own clock.
    assert len(boundary_t) == 2
    assert comp.energy_kwh * J_PER_KWH == pytest.approx(200 * (boundary_t[1] - boundary_t[0]), rel=1e-9)


def test_trapezoid_rule_on_a_ramp(fake_pynvml, nvml_state):
    gpu = FakeGpu("GPU-ramp", counter_supported=False, power_mw=0)
    nvml_state.gpus.append(gpu)
    now = [0.0]
    device = NvmlSampledDevice(
        component="gpu",
        device_id=gpu.uuid,
        method=EnergyMethod.SAMPLED,
        source="test",
        nvml=Nvml(fake_pynvml),
        handle=gpu,
        clock=lambda: now[0],
    )
    start = device.read_j()
    for step in range(1, 11):  # power ramps 0 -> 100 W over 1 s in 0.1 s steps
        now[0] = step * 0.1
        gpu.power_mw = step * 10_000
        device.read_j()
    assert device.read_j() - start == pytest.approx(50.0)  # area of the triangle, exactly


def test_error_mid_window_gives_unavailable_then_recovers(make_meter, fake_pynvml, nvml_state, caplog):
    gpu = FakeGpu("GPU-flaky", energy_mj=0)
    nvml_state.gpus.append(gpu)
    meter = make_meter(nvml_backend=fake_pynvml)
    with caplog.at_level("WARNING", logger="carbonguard.metering"):
        h = meter.begin_window("train")
        gpu.fail = pynvml.NVML_ERROR_GPU_IS_LOST
        m = meter.end_window(h)
        h2 = meter.begin_window("again")
        m2 = meter.end_window(h2)
    for measurement in (m, m2):
        (comp,) = gpu_components(measurement)
        assert comp.method == EnergyMethod.UNAVAILABLE
        assert comp.energy_kwh is None  # never 0
        assert "unavailable:GPU-flaky" in measurement.flags
    warnings = [r for r in caplog.records if "GPU-flaky" in r.getMessage()]
    assert len(warnings) == 1  # logged once, not per read
    gpu.fail = None
    h3 = meter.begin_window("recovered")
    gpu.energy_mj += 3_600
    (comp,) = gpu_components(meter.end_window(h3))
    assert comp.method == EnergyMethod.COUNTER and comp.energy_kwh == pytest.approx(3.6 / J_PER_KWH)


def test_sampler_error_inside_window_is_not_bridged(make_meter, fake_pynvml, nvml_state):
    gpu = FakeGpu("GPU-gap", counter_supported=False)
    nvml_state.gpus.append(gpu)
    meter = make_meter(nvml_backend=fake_pynvml, sample_period_s=0.01)
    h = meter.begin_window("train")
    gpu.fail = pynvml.NVML_ERROR_UNKNOWN
    deadline = time.monotonic() + 5
    while meter.devices[0].errors == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    gpu.fail = None  # the device is back before the window ends: the gap still voids the window
    (comp,) = gpu_components(meter.end_window(h))
    assert comp.method == EnergyMethod.UNAVAILABLE


def test_mig_instance_reports_parent_energy_shared(make_meter, fake_pynvml, nvml_state):
    parent = FakeGpu("GPU-parent", mig_enabled=True, energy_mj=0)
    nvml_state.gpus.append(parent)
    nvml_state.migs += [FakeMig("MIG-1111", parent), FakeMig("MIG-2222", parent)]
    meter = make_meter(nvml_backend=fake_pynvml, environ={"CUDA_VISIBLE_DEVICES": "MIG-1111,MIG-2222"})
    h = meter.begin_window("train")
    parent.energy_mj += 7_200
    m = meter.end_window(h)
    (comp,) = gpu_components(m)  # two instances of one parent: metered once
    assert comp.device == "GPU-parent"
    assert comp.shared is True
    assert "mig-parent-energy" in comp.flags
    assert comp.energy_kwh == pytest.approx(7.2 / J_PER_KWH)


def test_whole_gpu_in_mig_mode_is_flagged_shared(make_meter, fake_pynvml, nvml_state):
    nvml_state.gpus.append(FakeGpu("GPU-migmode", mig_enabled=True))
    meter = make_meter(nvml_backend=fake_pynvml)
    (comp,) = gpu_components(meter.end_window(meter.begin_window("w")))
    assert comp.shared and "mig-parent-energy" in comp.flags


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        ("GPU-bbbb", ["GPU-bbbb-2222"]),  # a unique UUID prefix, as CUDA accepts
        ("GPU-cccc-3333,GPU-aaaa-1111", ["GPU-cccc-3333", "GPU-aaaa-1111"]),
        ("1", ["GPU-bbbb-2222"]),
        ("2,0", ["GPU-cccc-3333", "GPU-aaaa-1111"]),
        ("0,7,1", ["GPU-aaaa-1111"]),  # CUDA stops at the first invalid entry
        ("GPU-", []),  # ambiguous prefix is invalid
        ("-1", []),
        ("", []),
        (None, ["GPU-aaaa-1111", "GPU-bbbb-2222", "GPU-cccc-3333"]),
    ],
)
def test_cuda_visible_devices(make_meter, fake_pynvml, nvml_state, visible, expected):
    nvml_state.gpus += [FakeGpu("GPU-aaaa-1111"), FakeGpu("GPU-bbbb-2222"), FakeGpu("GPU-cccc-3333")]
    environ = {} if visible is None else {"CUDA_VISIBLE_DEVICES": visible}
    meter = make_meter(nvml_backend=fake_pynvml, environ=environ)
    m = meter.end_window(meter.begin_window("w"))
    assert [c.device for c in gpu_components(m)] == expected
    if not expected:
        assert "no-visible-gpu" in m.flags


def test_parse_cuda_visible_devices_forms():
    entries = parse_cuda_visible_devices("0, GPU-ab,MIG-GPU-cd/1/0,MIG-ef")
    assert [(e.kind, e.value) for e in entries] == [
        ("index", "0"),
        ("gpu-uuid", "GPU-ab"),
        ("mig-legacy", "GPU-cd"),
        ("mig-uuid", "MIG-ef"),
    ]
    assert parse_cuda_visible_devices(None) is None


def test_gpu_without_counter_or_power_is_unavailable_not_zero(make_meter, fake_pynvml, nvml_state):
    nvml_state.gpus.append(FakeGpu("GPU-mute", counter_supported=False, power_supported=False))
    meter = make_meter(nvml_backend=fake_pynvml)
    (comp,) = gpu_components(meter.end_window(meter.begin_window("w")))
    assert comp.method == EnergyMethod.UNAVAILABLE and comp.energy_kwh is None
    assert "no-energy-or-power" in comp.flags


def test_no_nvml_library_means_no_gpu_components_and_a_flag(make_meter, no_gpu):
    meter = make_meter(nvml_backend=no_gpu)
    m = meter.end_window(meter.begin_window("w"))
    assert gpu_components(m) == []
    assert "nvml-unavailable" in m.flags
    assert m.energy_kwh >= 0 and m.components  # the CPU estimate still reports


def test_short_window_on_counter_is_flagged_with_a_band(make_meter, fake_pynvml, nvml_state):
    nvml_state.gpus.append(FakeGpu("GPU-short", power_limit_mw=300_000))
    meter = make_meter(nvml_backend=fake_pynvml)
    (comp,) = gpu_components(meter.end_window(meter.begin_window("blink")))
    assert "short-window" in comp.flags
    assert comp.uncertainty_kwh == pytest.approx(300 * 0.1 / J_PER_KWH)  # one update period at the limit


def test_force_sampling_uses_power_even_with_a_counter(make_meter, fake_pynvml, nvml_state):
    nvml_state.gpus.append(FakeGpu("GPU-both"))
    meter = make_meter(nvml_backend=fake_pynvml, force_gpu_sampling=True, sample_period_s=0.05)
    (comp,) = gpu_components(meter.end_window(meter.begin_window("w")))
    assert comp.method == EnergyMethod.SAMPLED and "forced" in comp.source


def test_import_does_not_load_pynvml():
    code = "import sys, carbonguard.metering; print('pynvml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
