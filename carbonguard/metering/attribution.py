"""Split host-wide device energy among windows that overlap in time, so no joule counts twice.

Why: a GPU or a RAPL domain reports the energy of the whole device. Two stages running at the same
time on one host (threads, processes, Dask workers) each read the same joules. The rule, applied per
(host, device):

* cut the time line at every window start and end into elementary segments;
* each covering window estimates the device's power in a segment as its own energy / duration
  (constant power within a window);
* the segment's device energy is the mean of those estimates x segment length, and it is shared
  equally among the windows open on it.

A window alone on a segment keeps exactly its own energy, so records that never overlap come out
unchanged. Per-process estimates (device `process`) measure the CPU time of one whole process, so
windows open at the same time in that process (threads of a thread-pool task runner) all see the
same CPU seconds: they are shared per (host, pid), never across processes. Different hosts never
interact. The function is pure: records in, new records out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import pairwise

from carbonguard.models import ComponentEnergy, EnergyMethod, StageRecord

APPORTIONED = "apportioned"


def is_host_wide(component: ComponentEnergy) -> bool:
    """GPU and RAPL readings are host-wide; process estimates belong to one process."""
    device = component.device
    return not (device == "process" or device.startswith("process:"))


def _sharing_key(record: StageRecord, component: ComponentEnergy) -> tuple[str, str, str]:
    """Which readings see the same joules: host-wide devices per host, process estimates per process.

    The component kind is part of the key: a process's CPU and DRAM estimates share the device name
    `process` but measure different things.
    """
    device = component.device if is_host_wide(component) else f"{component.device}@pid:{record.pid}"
    return (record.host, component.component, device)


def attribute_shared_devices(records: Sequence[StageRecord]) -> list[StageRecord]:
    """Apportion overlapping readings of each shared device; returns records in the input order."""
    # (host, device) -> [(record index, component index, start_s, end_s, energy_kwh)]
    groups: dict[tuple[str, str, str], list[tuple[int, int, float, float, float]]] = defaultdict(list)
    for ri, record in enumerate(records):
        start_s, end_s = record.start.timestamp(), record.end.timestamp()
        if end_s <= start_s:
            continue  # a zero-length window overlaps nothing and keeps its reading
        for ci, comp in enumerate(record.components):
            if comp.energy_kwh is None or comp.method == EnergyMethod.UNAVAILABLE:
                continue
            groups[_sharing_key(record, comp)].append((ri, ci, start_s, end_s, comp.energy_kwh))

    new_energy: dict[tuple[int, int], float] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        for (ri, ci), kwh in _split(members).items():
            new_energy[(ri, ci)] = kwh

    out: list[StageRecord] = []
    for ri, record in enumerate(records):
        changed = [
            (ci, new_energy[(ri, ci)]) for ci in range(len(record.components)) if (ri, ci) in new_energy
        ]
        if not changed:
            out.append(record)
            continue
        comps = list(record.components)
        for ci, kwh in changed:
            comps[ci] = _apportion(comps[ci], kwh)
        out.append(record.model_copy(update={"components": tuple(comps)}))
    return out


def _split(members: list[tuple[int, int, float, float, float]]) -> dict[tuple[int, int], float]:
    """Energy of each overlapping member under the rule; members alone everywhere are left out."""
    cuts = sorted({t for m in members for t in (m[2], m[3])})
    power = {(m[0], m[1]): m[4] / (m[3] - m[2]) for m in members}
    share: dict[tuple[int, int], float] = defaultdict(float)
    overlapped: set[tuple[int, int]] = set()
    # Sweep: members sorted by start; the active set changes only at cuts.
    by_start = sorted(members, key=lambda m: m[2])
    nxt = 0
    active: list[tuple[int, int, float, float, float]] = []
    for a, b in pairwise(cuts):
        while nxt < len(by_start) and by_start[nxt][2] <= a:
            active.append(by_start[nxt])
            nxt += 1
        active = [m for m in active if m[3] > a]
        covering = [m for m in active if m[2] <= a and m[3] >= b]
        if not covering:
            continue
        keys = [(m[0], m[1]) for m in covering]
        mean_w = sum(power[k] for k in keys) / len(keys)
        each = mean_w * (b - a) / len(keys)
        for k in keys:
            share[k] += each
        if len(keys) > 1:
            overlapped.update(keys)
    return {k: share[k] for k in overlapped}


def _apportion(comp: ComponentEnergy, kwh: float) -> ComponentEnergy:
    ratio = kwh / comp.energy_kwh if comp.energy_kwh else 0.0
    flags = comp.flags if APPORTIONED in comp.flags else (*comp.flags, APPORTIONED)
    return comp.model_copy(
        update={
            "energy_kwh": max(kwh, 0.0),
            "uncertainty_kwh": comp.uncertainty_kwh * ratio,
            "shared": True,
            "flags": flags,
        }
    )
