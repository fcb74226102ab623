"""CPU package and DRAM energy from Linux powercap (RAPL) counters, wrap-around included.

Why this shape: `energy_uj` is a free-running counter that wraps at `max_energy_range_uj` (about
262 kJ on many parts, i.e. every 20-40 minutes under load), so a device keeps an unwrapped total
and the shared sampler reads it every few seconds; a window then subtracts two unwrapped readings.
Since Linux 5.10 (CVE-2020-8694, "Platypus") `energy_uj` is readable by root only; we then log one
message with the fix (docs/metering.md, "RAPL permissions") and fall back to the CPU-time estimate.
The reader takes the powercap root and a `read_text` function, so tests build a real tree in a
temporary directory and inject errors at the file-open boundary.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from carbonguard.metering.devices import Device, DeviceReadError

log = logging.getLogger("carbonguard.metering")

DEFAULT_POWERCAP_ROOT = Path("/sys/class/powercap")
# Top-level zones are `intel-rapl:N` (also used by the AMD driver); `intel-rapl-mmio:N` mirrors the
# package on some Intel parts and `psys` covers the whole platform, so both would double count.
_TOP = re.compile(r"^intel-rapl:(\d+)$")
_SUB = re.compile(r"^intel-rapl:(\d+):(\d+)$")
RAPL_UPDATE_PERIOD_S = 0.001  # the energy status registers update about every millisecond
WRAP_POLL_PERIOD_S = 5.0  # well inside the shortest wrap time (262 kJ at 1 kW is 262 s)

PERMISSION_HINT = (
    "carbonguard: cannot read RAPL energy counters ({path}: permission denied); CPU and DRAM energy "
    "fall back to the CPU-time estimate. Since Linux 5.10 (CVE-2020-8694) energy_uj is readable by "
    "root only. Fix until reboot: `sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj "
    "/sys/class/powercap/intel-rapl:*:*/energy_uj`; permanently: the udev rule in docs/metering.md "
    "(section 'RAPL permissions')."
)

ReadText = Callable[[Path], str]


def _read_text(path: Path) -> str:
    with open(path, encoding="ascii") as fh:
        return fh.read()


@dataclass(frozen=True)
class RaplZone:
    device_id: str  # "rapl:package-0" or "rapl:package-0:dram"
    component: str  # "cpu" | "dram"
    path: Path
    max_range_uj: int


@dataclass
class RaplScan:
    """What the powercap tree offers: readable zones, and why others were dropped."""

    zones: list[RaplZone] = field(default_factory=list)
    permission_denied: Path | None = None
    packages_without_dram: list[str] = field(default_factory=list)


def scan(root: Path = DEFAULT_POWERCAP_ROOT, read_text: ReadText = _read_text) -> RaplScan:
    """Find package and DRAM zones and check each `energy_uj` can be read."""
    result = RaplScan()
    try:
        entries = sorted(p.name for p in root.iterdir())
    except OSError:
        return result
    packages: dict[str, str] = {}  # socket number -> "package-N"
    candidates: list[tuple[str, str, Path]] = []
    for name in entries:
        top = _TOP.match(name)
        if top is None:
            continue
        zone_name = _zone_name(root / name, read_text)
        if zone_name is None or not zone_name.startswith("package-"):
            continue
        packages[top.group(1)] = zone_name
        candidates.append((f"rapl:{zone_name}", "cpu", root / name))
    for name in entries:
        sub = _SUB.match(name)
        if sub is None or sub.group(1) not in packages:
            continue
        if _zone_name(root / name, read_text) == "dram":
            candidates.append((f"rapl:{packages[sub.group(1)]}:dram", "dram", root / name))
    # Subzones are often only nested inside their package directory (not linked at the top).
    for socket, package in packages.items():
        pkg_dir = root / f"intel-rapl:{socket}"
        if any(c[0] == f"rapl:{package}:dram" for c in candidates):
            continue
        try:
            nested = sorted(p.name for p in pkg_dir.iterdir() if _SUB.match(p.name))
        except OSError:
            nested = []
        for name in nested:
            if _zone_name(pkg_dir / name, read_text) == "dram":
                candidates.append((f"rapl:{package}:dram", "dram", pkg_dir / name))
                break
    for device_id, component, path in candidates:
        try:
            int(read_text(path / "energy_uj").strip())
            max_range = int(read_text(path / "max_energy_range_uj").strip())
        except PermissionError:
            if result.permission_denied is None:
                result.permission_denied = path / "energy_uj"
            continue
        except (OSError, ValueError):
            continue
        result.zones.append(RaplZone(device_id, component, path, max_range))
    have_dram = {z.device_id for z in result.zones if z.component == "dram"}
    result.packages_without_dram = [
        z.device_id for z in result.zones if z.component == "cpu" and f"{z.device_id}:dram" not in have_dram
    ]
    return result


def _zone_name(path: Path, read_text: ReadText) -> str | None:
    try:
        return read_text(path / "name").strip()
    except OSError:
        return None


@dataclass
class RaplDevice(Device):
    """One RAPL zone with an unwrapped cumulative counter."""

    path: Path = Path()
    max_range_uj: int = 0
    read_text: ReadText = _read_text
    _last_raw_uj: int | None = None
    _total_uj: int = 0

    def _read_j(self) -> float:
        try:
            raw = int(self.read_text(self.path / "energy_uj").strip())
        except (OSError, ValueError) as exc:
            self._last_raw_uj = None  # cannot bridge a gap we did not see
            raise DeviceReadError(f"{self.path / 'energy_uj'}: {exc}") from exc
        if self._last_raw_uj is not None:
            delta = raw - self._last_raw_uj
            if delta < 0:  # wrapped once since the last read (the sampler keeps reads frequent)
                delta += self.max_range_uj
            self._total_uj += delta
        self._last_raw_uj = raw
        return self._total_uj / 1e6


def discover(
    root: Path = DEFAULT_POWERCAP_ROOT, read_text: ReadText = _read_text
) -> tuple[list[RaplDevice], RaplScan]:
    """Devices for every readable zone; logs the permission fix once when a zone is root-only."""
    found = scan(root, read_text)
    if found.permission_denied is not None:
        log.warning(PERMISSION_HINT.format(path=found.permission_denied))
    devices: list[RaplDevice] = []
    for zone in found.zones:
        device = RaplDevice(
            component=zone.component,  # type: ignore[arg-type]
            device_id=zone.device_id,
            method="counter",
            source=f"rapl:powercap:{zone.path.name}/energy_uj",
            shared=False,
            flags=("host-wide",),
            update_period_s=RAPL_UPDATE_PERIOD_S,
            poll_period_s=WRAP_POLL_PERIOD_S,
            path=zone.path,
            max_range_uj=zone.max_range_uj,
            read_text=read_text,
        )
        try:
            device.read_j()  # establish the wrap baseline
        except DeviceReadError:
            continue
        devices.append(device)
    return devices, found
