"""The process-tree estimate, measured for real on this machine (no GPU, no RAPL)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from carbonguard.errors import InputError
from carbonguard.metering import cpu_power
from carbonguard.metering.process import cgroup_memory_limit_bytes, host_memory_bytes
from carbonguard.models import EnergyMethod

J_PER_KWH = 3.6e6


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    x = 0
    while time.process_time() < end:
        x += 1


def by_component(m):
    return {c.component: c for c in m.components}


def test_cpu_burn_is_estimated_within_a_plausible_range(make_meter):
    meter = make_meter(cpu_w_per_core=10.0)
    h = meter.begin_window("burn")
    burn(0.3)
    m = meter.end_window(h)
    cpu = by_component(m)["cpu"]
    assert cpu.method == EnergyMethod.ESTIMATED and cpu.device == "process"
    joules = cpu.energy_kwh * J_PER_KWH
    assert 0.3 * 10 * 0.9 <= joules <= m.duration_s * 10 * 1.1  # busy 0.3 s at 10 W per core
    assert cpu.uncertainty_kwh == pytest.approx(cpu.energy_kwh * 0.25)  # operator-supplied figure
    assert "estimate:cpu-time" in cpu.source
    dram = by_component(m)["dram"]
    assert dram.method == EnergyMethod.ESTIMATED and dram.energy_kwh > 0
    assert dram.uncertainty_kwh == pytest.approx(dram.energy_kwh * 0.5)
    assert m.energy_kwh == pytest.approx(cpu.energy_kwh + dram.energy_kwh)


def test_children_cpu_time_is_counted(make_meter):
    meter = make_meter(cpu_w_per_core=10.0)
    h = meter.begin_window("child")
    code = "import time\nend=time.process_time()+0.3\nwhile time.process_time()<end: pass"
    subprocess.run([sys.executable, "-c", code], check=True)
    m = meter.end_window(h)
    joules = by_component(m)["cpu"].energy_kwh * J_PER_KWH
    assert joules >= 0.3 * 10 * 0.9  # the child's 0.3 s shows up though this process only waited


def test_children_scope_excludes_this_process(make_meter):
    meter = make_meter(cpu_w_per_core=10.0, scope="children")
    h = meter.begin_window("self-only")
    burn(0.2)
    m = meter.end_window(h)
    assert by_component(m)["cpu"].energy_kwh == 0.0  # measured: no child ran


def test_memory_is_peak_rss_never_host_total(make_meter):
    meter = make_meter()
    m = meter.end_window(meter.begin_window("w"))
    dram = by_component(m)["dram"]
    assert "memory-peak-rss" in dram.flags
    gb = float(dram.source.split("memory ")[1].split(" GB")[0])
    assert 0 < gb * 1e9 < host_memory_bytes() / 2


def test_memory_uses_cgroup_v2_limit(make_meter, tmp_path):
    root = tmp_path / "cg"
    (root / "job.slice").mkdir(parents=True)
    (root / "job.slice" / "memory.max").write_text("2000000000\n")
    (root / "memory.max").write_text("max\n")
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text("0::/job.slice\n")
    assert cgroup_memory_limit_bytes(root, self_cgroup) == 2_000_000_000
    meter = make_meter(cgroup_root=root, proc_self_cgroup=self_cgroup)
    h = meter.begin_window("w")
    time.sleep(0.05)
    m = meter.end_window(h)
    dram = by_component(m)["dram"]
    assert "memory-cgroup-limit" in dram.flags
    assert dram.energy_kwh * J_PER_KWH == pytest.approx(2.0 * 0.375 * m.duration_s, rel=1e-6)


def test_memory_uses_cgroup_v1_limit_and_ignores_unlimited(tmp_path):
    root = tmp_path / "cg"
    (root / "memory" / "docker" / "abc").mkdir(parents=True)
    (root / "memory" / "docker" / "abc" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (root / "memory" / "docker" / "memory.limit_in_bytes").write_text("4294967296\n")
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text("12:cpu,cpuacct:/docker/abc\n9:memory:/docker/abc\n")
    assert cgroup_memory_limit_bytes(root, self_cgroup) == 4294967296  # the parent's limit bounds us
    (root / "memory" / "docker" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert cgroup_memory_limit_bytes(root, self_cgroup) is None


def test_cpu_power_resolution_order(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7763 64-Core Processor\n")
    table = cpu_power.resolve_cpu_power(environ={}, cpuinfo=cpuinfo)
    assert table.origin == "table" and table.w_per_core == pytest.approx(280 / 64, abs=1e-3)
    env = cpu_power.resolve_cpu_power(environ={"CARBONGUARD_CPU_W_PER_CORE": "12.5"}, cpuinfo=cpuinfo)
    assert (env.origin, env.w_per_core) == ("override", 12.5)
    arg = cpu_power.resolve_cpu_power(3.0, environ={"CARBONGUARD_CPU_W_PER_CORE": "12.5"}, cpuinfo=cpuinfo)
    assert arg.w_per_core == 3.0 and arg.source == "argument cpu_w_per_core"
    cpuinfo.write_text("model name\t: Some Future CPU\n")
    default = cpu_power.resolve_cpu_power(environ={}, cpuinfo=cpuinfo)
    assert default.origin == "default" and default.w_per_core == cpu_power.DEFAULT_W_PER_CORE
    assert default.relative_uncertainty == 1.0


@pytest.mark.parametrize("value", ["abc", "-3", "0", "nan", "inf"])
def test_bad_cpu_power_env_is_one_clear_input_error(make_meter, value):
    meter = make_meter(environ={"CARBONGUARD_CPU_W_PER_CORE": value})
    with pytest.raises(InputError) as info:
        meter.begin_window("w")
    assert "CARBONGUARD_CPU_W_PER_CORE" in str(info.value) and repr(value) in str(info.value)


def test_intel_model_names_match_the_table():
    spec = cpu_power.lookup("Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz")
    assert spec is not None and spec.cores == 40
    assert cpu_power.lookup("Intel(R) Xeon(R) Platinum 83800") is None
