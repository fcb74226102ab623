"""Named, nestable, concurrent measurement windows over every device this process can meter.

Why this design (after Zeus's begin/end windows): devices are discovered once, lazily, on the first
window; after that a window reads each device's cumulative energy at its start and end, so any
number of windows -- nested, concurrent, from any thread -- share the same devices and one sampler
thread, and opening or closing one starts nothing. A device that fails inside a window makes that
window's reading `unavailable` (never 0) and the job carries on.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from carbonguard.metering import nvml as nvml_mod
from carbonguard.metering import rapl as rapl_mod
from carbonguard.metering.cpu_power import CpuPower, resolve_cpu_power
from carbonguard.metering.devices import Device, DeviceReadError
from carbonguard.metering.process import (
    J_PER_KWH,
    ProcessEstimator,
    RawCpu,
    Scope,
    cgroup_memory_limit_bytes,
    host_memory_bytes,
    raw_cpu,
    snapshot_of,
)
from carbonguard.metering.sampler import Sampler
from carbonguard.models import ComponentEnergy, EnergyMethod, StageRecord

log = logging.getLogger("carbonguard.metering")


def _component(
    device: Device,
    begin_j: float | None,
    end_j: float | None,
    errors0: int,
    errors1: int,
    duration_s: float,
    flags: list[str],
) -> ComponentEnergy:
    """One device's reading over a window; `unavailable` (never 0) if a read failed or errored."""
    if begin_j is None or end_j is None or errors1 != errors0 or end_j < begin_j:
        flags.append(f"unavailable:{device.device_id}")
        return ComponentEnergy(
            component=device.component,
            device=device.device_id,
            method=EnergyMethod.UNAVAILABLE,
            energy_kwh=None,
            source=device.source,
            shared=device.shared,
            flags=(*device.flags, "read-error"),
        )
    dev_flags = device.flags
    uncertainty_kwh = 0.0
    if duration_s < device.update_period_s:
        dev_flags = (*dev_flags, "short-window")
        flags.append("short-window")
        if device.max_power_w is not None:
            # One counter step may be missing or extra: at most max power over one update period.
            uncertainty_kwh = device.max_power_w * device.update_period_s / J_PER_KWH
    return ComponentEnergy(
        component=device.component,
        device=device.device_id,
        method=device.method,
        energy_kwh=(end_j - begin_j) / J_PER_KWH,
        uncertainty_kwh=uncertainty_kwh,
        source=device.source,
        shared=device.shared,
        flags=dev_flags,
    )


@dataclass(slots=True)  # not frozen: its __init__ runs on every close, and nothing changes it after
class _Closed:
    """What a window's close captured: enough to build its components later, exactly as then."""

    meter_flags: tuple[str, ...]
    devices: tuple[Device, ...]
    begins: tuple[float | None, ...]
    ends: tuple[float | None, ...]
    errors0: tuple[int, ...]
    errors1: tuple[int, ...]  # device error counts at close: a later error must not touch this window
    estimator: ProcessEstimator | None
    cpu_power: CpuPower | None
    cpu0: RawCpu | None
    cpu1: RawCpu | None
    want_cpu: bool
    want_dram: bool

    def build(self, duration_s: float) -> tuple[tuple[ComponentEnergy, ...], tuple[str, ...]]:
        components: list[ComponentEnergy] = []
        flags: list[str] = list(self.meter_flags)
        rows = zip(self.devices, self.begins, self.ends, self.errors0, self.errors1, strict=True)
        for device, begin_j, end_j, errors0, errors1 in rows:
            components.append(_component(device, begin_j, end_j, errors0, errors1, duration_s, flags))
        if self.estimator is not None and self.cpu0 is not None and self.cpu1 is not None:
            components += self.estimator.components(
                snapshot_of(self.cpu0), snapshot_of(self.cpu1), duration_s,
                want_cpu=self.want_cpu, want_dram=self.want_dram, cpu_power=self.cpu_power,
            )
        return tuple(components), tuple(dict.fromkeys(flags))


class Measurement:
    """The energy of one closed window, one component per device, with provenance and flags.

    Immutable. Closing a window only stores its readings: the components (validated models), the
    flags and the start/end datetimes are built on first access, from values captured at the close,
    so a window whose result nobody reads costs no model building, and a late read gives the same
    figures as an early one.
    """

    __slots__ = ("_closed", "_components", "_devices", "_end", "_flags", "_start", "_wall0", "duration_s",
                 "host", "name", "parent", "pid")
    _FIELDS = ("name", "start", "end", "duration_s", "components", "host", "pid", "devices", "flags", "parent")

    name: str
    duration_s: float
    host: str
    pid: int
    parent: str | None

    def __init__(
        self,
        name: str,
        start: datetime,
        end: datetime,
        duration_s: float,
        components: tuple[ComponentEnergy, ...],
        host: str,
        pid: int,
        devices: tuple[str, ...],
        flags: tuple[str, ...],
        parent: str | None = None,
    ) -> None:
        set_ = object.__setattr__
        for key, value in (("name", name), ("duration_s", duration_s), ("host", host), ("pid", pid),
                           ("parent", parent), ("_start", start), ("_end", end), ("_wall0", None),
                           ("_closed", None),
                           ("_components", tuple(components)), ("_devices", tuple(devices)),
                           ("_flags", tuple(flags))):
            set_(self, key, value)

    @classmethod
    def _of_window(
        cls, name: str, wall0: float, duration_s: float, host: str, pid: int, parent: str | None, closed: _Closed
    ) -> Measurement:
        self = object.__new__(cls)
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "duration_s", duration_s)
        set_(self, "host", host)
        set_(self, "pid", pid)
        set_(self, "parent", parent)
        set_(self, "_wall0", wall0)
        set_(self, "_start", None)
        set_(self, "_end", None)
        set_(self, "_closed", closed)
        set_(self, "_components", None)
        set_(self, "_devices", None)
        set_(self, "_flags", None)
        return self

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"Measurement is immutable; cannot set {key!r}")

    def _built(self) -> None:
        closed = self._closed
        if closed is None:
            return
        components, flags = closed.build(self.duration_s)
        object.__setattr__(self, "_devices", tuple(dict.fromkeys(c.device for c in components)))
        object.__setattr__(self, "_flags", flags)
        object.__setattr__(self, "_components", components)
        object.__setattr__(self, "_closed", None)  # last: another thread reading meanwhile builds too

    @property
    def components(self) -> tuple[ComponentEnergy, ...]:
        self._built()
        assert self._components is not None
        return self._components

    @property
    def devices(self) -> tuple[str, ...]:
        self._built()
        assert self._devices is not None
        return self._devices

    @property
    def flags(self) -> tuple[str, ...]:
        self._built()
        assert self._flags is not None
        return self._flags

    @property
    def start(self) -> datetime:
        # Wall clock for where the window sits in time (other processes and hosts compare it);
        # the monotonic clock for how long it lasted, so a clock step cannot distort the energy.
        if self._start is None:
            object.__setattr__(self, "_start", datetime.fromtimestamp(self._wall0, timezone.utc))
        return self._start

    @property
    def end(self) -> datetime:
        if self._end is not None:  # as constructed
            return self._end
        return self.start + timedelta(seconds=self.duration_s)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Copy and pickle by value (Prefect persists task results by pickling), built first so
        no device or estimator object travels with it."""
        return (self.__class__, self._values())

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return "Measurement(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self._FIELDS) + ")"

    @property
    def energy_kwh(self) -> float:
        """Sum of the available readings; check `unavailable` before trusting it as complete."""
        return sum(c.energy_kwh for c in self.components if c.energy_kwh is not None)

    @property
    def uncertainty_kwh(self) -> float:
        return sum(c.uncertainty_kwh for c in self.components if c.energy_kwh is not None)

    @property
    def unavailable(self) -> tuple[ComponentEnergy, ...]:
        return tuple(c for c in self.components if c.method == EnergyMethod.UNAVAILABLE)

    def to_stage_record(
        self,
        *,
        run_id: str,
        flow_name: str,
        stage: str | None = None,
        task_run_id: str | None = None,
        attempt: int = 1,
        zone: str | None = None,
        pid: int | None = None,
        flags: Sequence[str] = (),
    ) -> StageRecord:
        """The ledger's view of this window (stage defaults to the window name)."""
        return StageRecord(
            run_id=run_id,
            flow_name=flow_name,
            stage=stage or self.name,
            task_run_id=task_run_id,
            attempt=attempt,
            start=self.start,
            end=self.end,
            zone=zone,
            host=self.host,
            pid=self.pid if pid is None else pid,
            components=self.components,
            flags=tuple(dict.fromkeys((*self.flags, *flags))),
        )


class WindowHandle:
    """An open window; pass it to `Meter.end_window`. Cheap: plain slots, no thread."""

    __slots__ = ("_meter", "cpu", "ended", "errors", "id", "name", "parent", "readings", "t0", "wall0")

    def __init__(self, meter: Meter, name: str, parent: str | None) -> None:
        self._meter = meter
        self.name = name
        self.parent = parent
        self.id = next(meter._ids)
        self.ended = False
        self.wall0 = time.time()
        self.t0 = time.perf_counter()
        self.cpu: RawCpu | None = None
        self.readings: list[float | None] = []
        self.errors: list[int] = []

    def __repr__(self) -> str:
        return f"WindowHandle(name={self.name!r}, id={self.id}, ended={self.ended})"


_stack: contextvars.ContextVar[tuple[WindowHandle, ...]] = contextvars.ContextVar(
    "carbonguard_windows", default=()
)


class Meter:
    """Meters windows over GPUs (NVML), CPU packages and DRAM (RAPL) and the process-tree estimate.

    Everything is discovered on the first window, not here, so constructing a Meter is free.
    """

    def __init__(
        self,
        *,
        nvml_backend: Any | None = None,
        powercap_root: Path = rapl_mod.DEFAULT_POWERCAP_ROOT,
        rapl_read_text: rapl_mod.ReadText | None = None,
        cpu_w_per_core: float | None = None,
        scope: Scope = "tree",
        sample_period_s: float = nvml_mod.DEFAULT_SAMPLE_PERIOD_S,
        force_gpu_sampling: bool = False,
        environ: dict[str, str] | None = None,
        cgroup_root: Path = Path("/sys/fs/cgroup"),
        proc_self_cgroup: Path = Path("/proc/self/cgroup"),
        extra_devices: Sequence[Device] = (),
        host: str | None = None,
    ) -> None:
        if not 0 < sample_period_s <= 0.1:
            raise ValueError("sample_period_s must be in (0, 0.1] seconds")
        self._nvml = nvml_mod.Nvml(nvml_backend)
        self._powercap_root = Path(powercap_root)
        self._rapl_read_text = rapl_read_text or rapl_mod._read_text
        self._cpu_w_per_core = cpu_w_per_core
        self._scope: Scope = scope
        self._sample_period_s = sample_period_s
        self._force_gpu_sampling = force_gpu_sampling
        self._environ = environ
        self._cgroup_root = cgroup_root
        self._proc_self_cgroup = proc_self_cgroup
        self._extra = list(extra_devices)
        self.host = host or socket.gethostname()
        self.pid = os.getpid()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._open: dict[int, WindowHandle] = {}
        self._ready = False
        self.devices: list[Device] = []
        self.flags: tuple[str, ...] = ()
        self.estimator: ProcessEstimator | None = None
        self.sampler: Sampler | None = None
        self._estimate_cpu = True
        self._estimate_dram = True
        self._sampled = False  # a device needs the sampler thread (set once devices are known)

    # ------------------------------------------------------------------ set-up

    def discover(self) -> None:
        """Discover devices now rather than on the first window (idempotent).

        Useful to surface configuration errors (an invalid CARBONGUARD_CPU_W_PER_CORE) before any
        work starts; a missing device never raises.
        """
        self._setup()

    def _setup(self) -> None:
        """Discover devices once. Never raises for a missing device; bad configuration raises."""
        with self._lock:
            if self._ready:
                return
            cpu_power: CpuPower = resolve_cpu_power(self._cpu_w_per_core, environ=self._environ)
            flags: list[str] = []
            gpus = nvml_mod.discover(
                self._nvml,
                environ=self._environ,
                sample_period_s=self._sample_period_s,
                force_sampling=self._force_gpu_sampling,
            )
            flags += gpus.flags
            rapl_devices, rapl_scan = rapl_mod.discover(self._powercap_root, self._rapl_read_text)
            if rapl_scan.permission_denied is not None:
                flags.append("rapl-permission-denied")
            if not rapl_scan.zones and rapl_scan.permission_denied is None:
                flags.append("rapl-unavailable")
            limit = cgroup_memory_limit_bytes(self._cgroup_root, self._proc_self_cgroup)
            host_total = host_memory_bytes()
            if limit is not None and host_total is not None and limit >= host_total:
                limit = None  # a limit above the host's memory bounds nothing; use the RSS peak
            self.estimator = ProcessEstimator(cpu_power, scope=self._scope, memory_limit_bytes=limit)
            self.devices = [*gpus.devices, *rapl_devices, *self._extra]
            self._estimate_cpu = not any(d.component == "cpu" for d in self.devices)
            self._estimate_dram = not any(d.component == "dram" for d in self.devices)
            if rapl_devices and rapl_scan.packages_without_dram:
                flags.append("rapl-dram-missing")
            self.flags = tuple(flags)
            self.sampler = Sampler(self.devices)
            self._sampled = bool(self.sampler.devices)
            self._ready = True

    def set_cpu_w_per_core(self, w_per_core: float) -> None:
        """Use an operator- or policy-supplied per-core figure for CPU estimates from now on."""
        self._setup()
        assert self.estimator is not None
        self.estimator.cpu_power = resolve_cpu_power(w_per_core, environ={})

    # ------------------------------------------------------------------ windows

    def begin_window(self, name: str) -> WindowHandle:
        """Open a window. Nested windows record the innermost open window of this context as parent."""
        if not self._ready:
            self._setup()
        stack = _stack.get()
        handle = WindowHandle(self, name, stack[-1].name if stack else None)
        if self._sampled:
            self.sampler.ensure_started()  # type: ignore[union-attr]
        for device in self.devices:
            handle.errors.append(device.errors)
            try:
                handle.readings.append(device.read_j())
            except DeviceReadError:
                handle.readings.append(None)
        handle.cpu = raw_cpu() if self.estimator is not None else None
        with self._lock:
            self._open[handle.id] = handle
        _stack.set((*stack, handle))
        return handle

    def end_window(self, handle: WindowHandle | str) -> Measurement:
        """Close a window (by handle, or by name: the most recently opened open window of that name).

        Reads the clocks and devices and captures what pricing the window needs; the components
        are built when the Measurement is first read (see Measurement).
        """
        if isinstance(handle, str):
            handle = self._find_open(handle)
        t1 = time.perf_counter()
        estimator = self.estimator
        cpu1 = raw_cpu() if estimator is not None else None
        devices = self.devices
        ends: list[float | None] = []
        for device in devices:
            try:
                ends.append(device.read_j())
            except DeviceReadError:
                ends.append(None)
        with self._lock:
            if handle.ended or self._open.pop(handle.id, None) is None:
                raise ValueError(f"window {handle.name!r} (id {handle.id}) is not open on this meter")
            handle.ended = True
        stack = _stack.get()
        if stack and stack[-1] is handle:  # the usual case: the innermost window closes first
            _stack.set(stack[:-1])
        elif handle in stack:
            _stack.set(tuple(h for h in stack if h is not handle))
        closed = _Closed(
            self.flags, tuple(devices), tuple(handle.readings), tuple(ends), tuple(handle.errors),
            tuple([d.errors for d in devices]), estimator, None if estimator is None else estimator.cpu_power,
            handle.cpu, cpu1, self._estimate_cpu, self._estimate_dram,
        )
        duration_s = max(t1 - handle.t0, 0.0)
        return Measurement._of_window(handle.name, handle.wall0, duration_s, self.host, os.getpid(),
                                      handle.parent, closed)

    def _find_open(self, name: str) -> WindowHandle:
        with self._lock:
            for handle in reversed(list(self._open.values())):
                if handle.name == name:
                    return handle
        raise ValueError(f"no open window named {name!r}")

    @property
    def open_windows(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(h.name for h in self._open.values())

    def close(self) -> None:
        """Stop the sampler and release NVML (safe to call twice)."""
        if self.sampler is not None:
            self.sampler.stop()
        if self._nvml.initialised:
            with contextlib.suppress(DeviceReadError):
                self._nvml.call("nvmlShutdown")
            self._nvml.initialised = False


class measure:
    """`with measure("train") as m: ...` -- after the block, `m.result` is the Measurement.

    The window closes even when the block raises, so a failed stage still reports its energy.
    """

    __slots__ = ("_handle", "_meter", "name", "result")

    def __init__(self, name: str, meter: Meter | None = None) -> None:
        self.name = name
        self._meter = meter
        self._handle: WindowHandle | None = None
        self.result: Measurement | None = None

    def __enter__(self) -> measure:
        meter = self._meter or get_meter()
        self._meter = meter
        self._handle = meter.begin_window(self.name)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._meter is not None and self._handle is not None
        self.result = self._meter.end_window(self._handle)


_METER: Meter | None = None
_METER_LOCK = threading.Lock()


def get_meter() -> Meter:
    """The process-wide meter, created on first use (devices are discovered on its first window)."""
    global _METER
    meter = _METER
    if meter is None:
        with _METER_LOCK:
            if _METER is None:
                _METER = Meter()
            meter = _METER
    return meter


def _forget_meter_in_child() -> None:
    """A forked child has no sampler thread and its own pid: give it a fresh meter."""
    global _METER
    _METER = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_meter_in_child)
