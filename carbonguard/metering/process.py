"""Estimate the energy of this process tree where no counter exists: CPU time and memory held.

Why these inputs: `getrusage` gives the CPU time of this process (all threads) and of its waited-for
children with microsecond resolution for about a microsecond of cost, so every window can afford it.
Memory power is charged for the memory the job can hold: the cgroup limit when the job runs in a
limited cgroup, else its peak resident set -- never the host's total memory, which would bill a
small job for a large machine.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from carbonguard.metering.cpu_power import CpuPower
from carbonguard.models import ComponentEnergy, EnergyMethod

# Memory power per GB. 0.375 W/GB is CodeCarbon's figure (3 W per 8 GB, documented in its
# methodology page); Green Algorithms (Lannelongue et al., Advanced Science 2021) uses 0.3725 W/GB.
RAM_W_PER_GB = 0.375
RAM_RELATIVE_UNCERTAINTY = 0.5  # DRAM draw varies with generation and traffic; see docs/metering.md
J_PER_KWH = 3.6e6
GB = 1e9

Scope = Literal["tree", "children"]


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far by this process and its reaped children, and their peak RSS."""

    self_s: float
    children_s: float
    self_maxrss_bytes: int = 0
    children_maxrss_bytes: int = 0

    def peak_rss_bytes(self, scope: Scope) -> int:
        """Peak resident set; reaped children report their largest member, not a sum."""
        if scope == "children":
            return self.children_maxrss_bytes
        return self.self_maxrss_bytes + self.children_maxrss_bytes


RawCpu = tuple[resource.struct_rusage, resource.struct_rusage]
"""getrusage of this process and of its reaped children, as read; a CpuSnapshot once needed."""


def raw_cpu() -> RawCpu:
    """Two getrusage calls (about a microsecond each): cheap enough for every window."""
    return resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)


def snapshot_of(raw: RawCpu) -> CpuSnapshot:
    me, kids = raw
    # ru_maxrss is in KiB on Linux.
    return CpuSnapshot(
        me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime, me.ru_maxrss * 1024, kids.ru_maxrss * 1024
    )


def _read_limit(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if not text or text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    # cgroup v1 reports "no limit" as a huge page-rounded number (about 2**63).
    return value if 0 < value < 2**60 else None


def _own_cgroup_dirs(proc_self_cgroup: Path, cgroup_root: Path) -> list[tuple[str, Path]]:
    """Directories of this process's cgroups: ('v2', dir) and ('v1', memory dir) where present."""
    out: list[tuple[str, Path]] = []
    try:
        lines = proc_self_cgroup.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        rel = rel.lstrip("/")
        if controllers == "":
            out.append(("v2", cgroup_root / rel))
        elif "memory" in controllers.split(","):
            out.append(("v1", cgroup_root / "memory" / rel))
    return out


def cgroup_memory_limit_bytes(
    cgroup_root: Path = Path("/sys/fs/cgroup"),
    proc_self_cgroup: Path = Path("/proc/self/cgroup"),
) -> int | None:
    """The memory limit of this process's cgroup (v2 `memory.max`, v1 `memory.limit_in_bytes`).

    Walks up from the process's own cgroup, because a limit set on a parent bounds the child too;
    falls back to the root files, which is what a container sees when its cgroup is its root.
    """
    limits: list[int] = []
    for version, start in _own_cgroup_dirs(proc_self_cgroup, cgroup_root):
        name = "memory.max" if version == "v2" else "memory.limit_in_bytes"
        top = cgroup_root if version == "v2" else cgroup_root / "memory"
        current = start
        while True:
            value = _read_limit(current / name)
            if value is not None:
                limits.append(value)
            if current == top or top not in current.parents:
                break
            current = current.parent
    for path in (cgroup_root / "memory.max", cgroup_root / "memory" / "memory.limit_in_bytes"):
        value = _read_limit(path)
        if value is not None:
            limits.append(value)
    return min(limits) if limits else None


def host_memory_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass(frozen=True)
class MemoryScope:
    """How much memory a window is charged for, and why."""

    bytes: int
    basis: str  # "cgroup-limit" | "peak-rss"


class ProcessEstimator:
    """CPU-time and memory estimate of this process tree, for windows without counters."""

    def __init__(
        self,
        cpu_power: CpuPower,
        *,
        scope: Scope = "tree",
        memory_limit_bytes: int | None = None,
        ram_w_per_gb: float = RAM_W_PER_GB,
    ) -> None:
        self.cpu_power = cpu_power
        self.scope: Scope = scope
        self.ram_w_per_gb = ram_w_per_gb
        self.memory_limit_bytes = memory_limit_bytes

    def cpu_seconds(self, begin: CpuSnapshot, end: CpuSnapshot) -> float:
        used = end.children_s - begin.children_s
        if self.scope == "tree":
            used += end.self_s - begin.self_s
        return max(used, 0.0)

    def memory_scope(self, end: CpuSnapshot) -> MemoryScope:
        if self.memory_limit_bytes is not None:
            return MemoryScope(self.memory_limit_bytes, "cgroup-limit")
        return MemoryScope(end.peak_rss_bytes(self.scope), "peak-rss")

    def components(
        self,
        begin: CpuSnapshot,
        end: CpuSnapshot,
        duration_s: float,
        *,
        want_cpu: bool,
        want_dram: bool,
        cpu_power: CpuPower | None = None,
    ) -> list[ComponentEnergy]:
        """The estimated components; `cpu_power` is the figure in force when the window closed
        (default: the current one), so a window read later is priced as it would have been then."""
        power = cpu_power or self.cpu_power
        out: list[ComponentEnergy] = []
        if want_cpu:
            cpu_s = self.cpu_seconds(begin, end)
            kwh = cpu_s * power.w_per_core / J_PER_KWH
            out.append(
                ComponentEnergy(
                    component="cpu",
                    device="process",
                    method=EnergyMethod.ESTIMATED,
                    energy_kwh=kwh,
                    uncertainty_kwh=kwh * power.relative_uncertainty,
                    source=(
                        f"estimate:cpu-time {cpu_s:.6f} s x {power.w_per_core:g} W/core "
                        f"({power.origin}: {power.source})"
                    ),
                    flags=(f"cpu-power-{power.origin}", f"scope-{self.scope}"),
                )
            )
        if want_dram:
            mem = self.memory_scope(end)
            gb = mem.bytes / GB
            kwh = gb * self.ram_w_per_gb * max(duration_s, 0.0) / J_PER_KWH
            out.append(
                ComponentEnergy(
                    component="dram",
                    device="process",
                    method=EnergyMethod.ESTIMATED,
                    energy_kwh=kwh,
                    uncertainty_kwh=kwh * RAM_RELATIVE_UNCERTAINTY,
                    source=f"estimate:memory {gb:.3f} GB ({mem.basis}) x {self.ram_w_per_gb:g} W/GB",
                    flags=(f"memory-{mem.basis}", f"scope-{self.scope}"),
                )
            )
        return out
