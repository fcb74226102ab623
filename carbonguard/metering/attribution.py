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

from collections.abc import Iterable, Sequence
from functools import reduce
from itertools import pairwise
from operator import add, itemgetter

from carbonguard.models import ComponentEnergy, EnergyMethod, Reading, StageRecord, StageRow, stage_rows

APPORTIONED = "apportioned"
_START = itemgetter(2)  # a member's start_s
_UNAVAILABLE = EnergyMethod.UNAVAILABLE
_FEW = 8  # members ending at one cut that `_split` removes from the open list one by one

# (record index, reading index, start_s, end_s, energy_kwh) of one reading of a shared device
_Member = tuple[int, int, float, float, float]


def _sharing_key(host: str, pid: int, component: str, device: str) -> tuple[str, str, str]:
    """Which readings see the same joules: host-wide devices (GPU, RAPL) per host, process
    estimates (`process`, `process:*`) per process.

    The component kind is part of the key: a process's CPU and DRAM estimates share the device name
    `process` but measure different things.
    """
    if device == "process" or device.startswith("process:"):
        device = f"{device}@pid:{pid}"
    return (host, component, device)


def apportioned_energy(rows: Sequence[StageRow]) -> dict[tuple[int, int], float]:
    """`(row index, reading index) -> kWh` for every reading that overlaps another of its device.

    Readings alone on their device everywhere are left out: they keep their own figure. Works on
    plain numbers (no model is copied), so a run of 99,000 stages on one GPU costs one sweep.
    """
    return {(ri, ci): kwh for ri, updates in _apportioned_by_row(rows).items() for ci, kwh in updates}


def _apportioned_by_row(rows: Sequence[StageRow]) -> dict[int, list[tuple[int, float]]]:
    """`apportioned_energy` grouped by row: `row index -> [(reading index, kWh)]`, built as the
    sweeps find them (a run's rebuild reads it a row at a time)."""
    changed: dict[int, list[tuple[int, float]]] = {}
    for members in _groups(rows):
        if len(members) > 1:
            _split(members, changed)
    return changed


def _groups(rows: Sequence[StageRow]) -> Iterable[list[_Member]]:
    """The readings of each shared device (`_sharing_key`), in row order then reading order."""
    groups: dict[tuple[str, str, str], list[_Member]] = {}
    # (host, pid) -> (component, device) -> the members of its device: the few devices of a run,
    # found without building a key per reading
    where: dict[tuple[str, int], dict[tuple[str, str], list[_Member]]] = {}
    for ri, row in enumerate(rows):
        # the same floats as datetime.timestamp(): whole microseconds / 10**6, correctly rounded
        start_s, end_s = row.start_us / 1_000_000, row.end_us / 1_000_000
        if end_s <= start_s:
            continue  # a zero-length window overlaps nothing and keeps its reading
        devices = where.get((row.host, row.pid))
        if devices is None:
            devices = where[(row.host, row.pid)] = {}
        for ci, reading in enumerate(row.readings):
            kwh = reading.energy_kwh
            if kwh is None or reading.method is _UNAVAILABLE:
                continue
            members = devices.get((reading.component, reading.device))
            if members is None:
                key = _sharing_key(row.host, row.pid, reading.component, reading.device)
                members = devices[(reading.component, reading.device)] = groups.setdefault(key, [])
            members.append((ri, ci, start_s, end_s, kwh))
    return groups.values()


def attribute_rows(rows: Sequence[StageRow]) -> list[StageRow]:
    """`attribute_shared_devices` on compact rows (what the gate judges): a new row, with new
    readings, only for a record that shares a device; the others are returned as they are."""
    out = list(rows)
    make = tuple.__new__  # a row or reading from its fields without a Python-level __new__ per object
    for ri, updates in _apportioned_by_row(rows).items():
        row = out[ri]
        readings = list(row.readings)
        for ci, kwh in updates:
            c = readings[ci]
            energy = c.energy_kwh
            # `_apportioned`, written out: max(kwh, 0.0), and the band scaled as the figure was
            readings[ci] = make(Reading, (c.component, c.device, c.method, 0.0 if kwh < 0.0 else kwh,
                                          c.uncertainty_kwh * (kwh / energy if energy else 0.0)))
        out[ri] = make(StageRow, (*row[:7], tuple(readings)))
    return out


def attribute_shared_devices(records: Sequence[StageRecord]) -> list[StageRecord]:
    """Apportion overlapping readings of each shared device; returns records in the input order.

    A record that shares no device comes back as the same object; the others are copies whose
    apportioned readings say so (`shared`, flag `apportioned`).
    """
    out = list(records)
    for ri, updates in _apportioned_by_row(stage_rows(records)).items():
        comps = list(out[ri].components)
        for ci, kwh in updates:
            comps[ci] = _apportion(comps[ci], kwh)
        out[ri] = out[ri].model_copy(update={"components": tuple(comps)})
    return out


def _split(members: list[_Member], changed: dict[int, list[tuple[int, float]]]) -> None:
    """Add to `changed` the energy of each overlapping member under the rule; members alone
    everywhere are left out.

    The arithmetic (order of every sum included) is that of the first implementation, kept as the
    reference in tests/accounting/reference.py, so the figures stay the same bit for bit: on each
    segment, the mean power of the covering members summed in the order of their start, and each
    member's share the sum, segment after segment, of what it was given on each.

    Why it is shaped like this: every member open on a segment is given the same amount (`each`),
    so the amounts are kept once per segment (`given`) and a member's share is their sum from its
    start to its end, added up (`reduce`, in C, left to right, as the reference adds them) only
    when the member ends. Members that start at the same cut (a cohort) share that sum, carried on
    from where the last of them ended. Whether a member ever shared its device is whether a segment
    with more than one member lies between its start and its end. Per segment the Python work is
    then constant; what grows with the members open is done in C (`sum`, `list.index`, `del`).
    """
    ordered = sorted(members, key=_START)  # stable: equal starts keep their order, as the reference's
    cuts = sorted({t for m in members for t in (m[2], m[3])})
    ending: dict[float, list[int]] = {}  # end cut -> positions in `ordered`
    for j, m in enumerate(ordered):
        bucket = ending.get(m[3])
        if bucket is None:
            ending[m[3]] = [j]
        else:
            bucket.append(j)
    power = [m[4] / (m[3] - m[2]) for m in ordered]
    cohort_of = [0] * len(ordered)  # position -> its cohort (members with the same start)
    running: list[float] = []  # each cohort's share, summed through `upto`
    upto: list[int] = []  # each cohort's next segment (index in `given`) not yet in `running`
    began: list[int] = []  # each cohort's first segment
    given: list[float] = []  # what each member open on a segment was given, segment after segment
    last_shared = -1  # the last segment with more than one member open
    active: list[int] = []  # open positions, in the order of their start (so of `ordered`)
    active_power: list[float] = []  # their powers, in the same order
    mean_w = 0.0
    nxt, n = 0, len(ordered)

    for a, b in pairwise([*cuts, None]):  # the last cut ends members and starts none
        changed_here = False
        closing = ending.get(a)
        if closing is not None:  # members ending at `a`: their share is their cohort's so far
            k = len(given)
            for j in closing:
                c = cohort_of[j]
                if last_shared >= began[c]:  # a segment of its life had another member
                    if upto[c] < k:
                        running[c] = reduce(add, given[upto[c]:k], running[c])
                        upto[c] = k
                    m = ordered[j]
                    updates = changed.get(m[0])
                    if updates is None:
                        changed[m[0]] = [(m[1], running[c])]
                    else:
                        updates.append((m[1], running[c]))
            if b is None:
                break
            if len(closing) <= _FEW:
                for j in closing:  # found and removed in C
                    i = active.index(j)
                    del active[i], active_power[i]
            else:  # many at once: one pass, rather than a search and a move each
                gone = set(closing)
                active_power = [p for j, p in zip(active, active_power, strict=True) if j not in gone]
                active = [j for j in active if j not in gone]
            changed_here = True
        if nxt < n and ordered[nxt][2] == a:  # every start is a cut: members open exactly at theirs
            c = len(running)
            running.append(0.0)
            upto.append(len(given))
            began.append(len(given))
            first = nxt
            while nxt < n and ordered[nxt][2] == a:
                cohort_of[nxt] = c
                nxt += 1
            active.extend(range(first, nxt))
            active_power.extend(power[first:nxt])
            changed_here = True
        if not active:
            continue
        count = len(active)
        if changed_here:
            mean_w = sum(active_power) / count
        if count > 1:
            last_shared = len(given)
        given.append(mean_w * (b - a) / count)


def _apportioned(energy_kwh: float | None, uncertainty_kwh: float, kwh: float) -> tuple[float, float]:
    """(energy, uncertainty) of a reading apportioned `kwh`: its band scales with its figure."""
    ratio = kwh / energy_kwh if energy_kwh else 0.0
    return max(kwh, 0.0), uncertainty_kwh * ratio


def _apportion(comp: ComponentEnergy, kwh: float) -> ComponentEnergy:
    energy, uncertainty = _apportioned(comp.energy_kwh, comp.uncertainty_kwh, kwh)
    flags = comp.flags if APPORTIONED in comp.flags else (*comp.flags, APPORTIONED)
    return comp.model_copy(
        update={"energy_kwh": energy, "uncertainty_kwh": uncertainty, "shared": True, "flags": flags}
    )
