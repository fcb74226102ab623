"""RAPL through a real powercap tree built in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonguard.metering import rapl
from carbonguard.models import EnergyMethod

MAX_RANGE = 262_143_328_850
J_PER_KWH = 3.6e6


def zone(dir_: Path, name: str, energy_uj: int, max_range: int = MAX_RANGE) -> Path:
    dir_.mkdir(parents=True, exist_ok=True)
    (dir_ / "name").write_text(name + "\n")
    (dir_ / "energy_uj").write_text(f"{energy_uj}\n")
    (dir_ / "max_energy_range_uj").write_text(f"{max_range}\n")
    return dir_


def set_energy(dir_: Path, energy_uj: int) -> None:
    (dir_ / "energy_uj").write_text(f"{energy_uj}\n")


@pytest.fixture
def powercap(tmp_path):
    """Two sockets, package and DRAM each, like /sys/class/powercap (subzones linked at the top)."""
    root = tmp_path / "powercap"
    pkg0 = zone(root / "intel-rapl:0", "package-0", 1_000_000)
    dram0 = zone(root / "intel-rapl:0:0", "dram", 50_000)
    zone(root / "intel-rapl:0:1", "core", 10)  # a core zone is part of the package: ignored
    pkg1 = zone(root / "intel-rapl:1", "package-1", MAX_RANGE - 1_000_000)
    dram1 = zone(root / "intel-rapl:1:0", "dram", 0)
    zone(root / "intel-rapl-mmio:0", "package-0", 5)  # a mirror of package-0: ignored
    zone(root / "intel-rapl:2", "psys", 0)  # the whole platform: ignored (would double count)
    return root, pkg0, dram0, pkg1, dram1


def test_packages_and_dram_with_wraparound(make_meter, powercap):
    root, pkg0, dram0, pkg1, dram1 = powercap
    meter = make_meter(powercap_root=root)
    h = meter.begin_window("train")
    set_energy(pkg0, 1_000_000 + 36_000_000)  # +36 J
    set_energy(dram0, 50_000 + 3_600_000)  # +3.6 J
    set_energy(pkg1, 2_000_000)  # wrapped: 1 J before the wrap + 2 J after = 3 J
    set_energy(dram1, 7_200_000)
    m = meter.end_window(h)
    by_device = {c.device: c for c in m.components}
    assert set(by_device) == {
        "rapl:package-0",
        "rapl:package-0:dram",
        "rapl:package-1",
        "rapl:package-1:dram",
    }
    assert all(c.method == EnergyMethod.COUNTER for c in by_device.values())
    assert by_device["rapl:package-0"].energy_kwh == pytest.approx(36 / J_PER_KWH)
    assert by_device["rapl:package-0:dram"].component == "dram"
    assert by_device["rapl:package-0:dram"].energy_kwh == pytest.approx(3.6 / J_PER_KWH)
    assert by_device["rapl:package-1"].energy_kwh == pytest.approx(3 / J_PER_KWH)
    assert by_device["rapl:package-1:dram"].energy_kwh == pytest.approx(7.2 / J_PER_KWH)
    assert "process" not in by_device  # counters replace the estimate
    assert meter.sampler.running  # wrap tracking needs periodic reads


def test_repeated_wraps_between_windows_are_tracked_by_polling(tmp_path):
    root = tmp_path / "pc"
    pkg = zone(root / "intel-rapl:0", "package-0", 0, max_range=1000)
    (device,), _ = rapl.discover(root)
    start = device.read_j()
    total_uj = 0
    for raw in (900, 100, 800, 200):  # three wraps; each read sees at most one
        previous = total_uj % 1000
        total_uj += (raw - previous) % 1000
        set_energy(pkg, raw)
        device.poll()
    assert (device.read_j() - start) * 1e6 == pytest.approx(total_uj)
    assert total_uj == 900 + 200 + 700 + 400


def test_permission_denied_gives_one_clear_message_and_falls_back(make_meter, powercap, caplog):
    root = powercap[0]

    def read_text(path: Path) -> str:  # the file-open boundary, as a non-root user meets it
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return path.read_text()

    with caplog.at_level("WARNING", logger="carbonguard.metering"):
        meter = make_meter(powercap_root=root, rapl_read_text=read_text)
        m = meter.end_window(meter.begin_window("w"))
        meter.end_window(meter.begin_window("again"))
    messages = [r.getMessage() for r in caplog.records if "RAPL" in r.getMessage()]
    assert len(messages) == 1
    assert "permission denied" in messages[0] and "chmod" in messages[0] and "udev" in messages[0]
    assert "rapl-permission-denied" in m.flags
    methods = {(c.component, c.device): c.method for c in m.components}
    assert methods == {
        ("cpu", "process"): EnergyMethod.ESTIMATED,
        ("dram", "process"): EnergyMethod.ESTIMATED,
    }


def test_dram_missing_keeps_package_counter_and_estimates_dram(make_meter, tmp_path):
    root = tmp_path / "pc"
    pkg = zone(root / "intel-rapl:0", "package-0", 0)
    meter = make_meter(powercap_root=root)
    h = meter.begin_window("w")
    set_energy(pkg, 7_200_000)
    m = meter.end_window(h)
    by = {(c.component, c.device): c for c in m.components}
    assert by[("cpu", "rapl:package-0")].energy_kwh == pytest.approx(2e-6)  # 7.2 J = 2 mWh
    assert by[("dram", "process")].method == EnergyMethod.ESTIMATED
    assert "rapl-dram-missing" in m.flags


def test_dram_nested_only_inside_package_dir(tmp_path):
    root = tmp_path / "pc"
    zone(root / "intel-rapl:0", "package-0", 0)
    zone(root / "intel-rapl:0" / "intel-rapl:0:0", "dram", 0)
    devices, found = rapl.discover(root)
    assert [d.device_id for d in devices] == ["rapl:package-0", "rapl:package-0:dram"]
    assert found.packages_without_dram == []


def test_read_error_mid_window_is_unavailable(make_meter, tmp_path):
    root = tmp_path / "pc"
    pkg = zone(root / "intel-rapl:0", "package-0", 0)
    meter = make_meter(powercap_root=root)
    h = meter.begin_window("w")
    (pkg / "energy_uj").write_text("garbage\n")
    m = meter.end_window(h)
    (cpu,) = [c for c in m.components if c.component == "cpu"]
    assert cpu.method == EnergyMethod.UNAVAILABLE and cpu.energy_kwh is None


def test_no_powercap_at_all(tmp_path):
    devices, found = rapl.discover(tmp_path / "does-not-exist")
    assert devices == [] and found.permission_denied is None
