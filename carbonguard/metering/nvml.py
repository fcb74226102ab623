"""GPU energy through NVML: the total-energy counter first, power sampling only where it is missing.

Why a facade: every NVML call goes through `Nvml`, whose backend is the `pynvml` module (from
nvidia-ml-py), imported lazily on first use so `import carbonguard.metering` never loads the driver.
Tests hand in a scripted module with the same function names and `NVMLError` values, so the code
that runs in tests is the code that runs on a real GPU.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from carbonguard.metering.devices import Device, DeviceReadError, UnavailableDevice

log = logging.getLogger("carbonguard.metering")

# The counter is refreshed by the driver at its own pace; windows shorter than this get flagged.
NVML_COUNTER_UPDATE_PERIOD_S = 0.1
DEFAULT_SAMPLE_PERIOD_S = 0.1


class NvmlUnavailable(Exception):
    """NVML cannot be used on this machine (no library, no driver, no GPU): no GPU components."""


class Nvml:
    """Thin facade over the pynvml function boundary; converts NVMLError into our exceptions."""

    def __init__(self, backend: ModuleType | Any | None = None) -> None:
        self._backend = backend
        self.initialised = False

    @property
    def backend(self) -> Any:
        if self._backend is None:
            try:
                self._backend = importlib.import_module("pynvml")
            except ImportError as exc:  # nvidia-ml-py not installed
                raise NvmlUnavailable(f"pynvml not importable: {exc}") from exc
        return self._backend

    def init(self) -> None:
        if self.initialised:
            return
        b = self.backend
        try:
            b.nvmlInit()
        except b.NVMLError as exc:
            raise NvmlUnavailable(f"nvmlInit failed: {exc}") from exc
        except OSError as exc:
            raise NvmlUnavailable(f"nvmlInit failed: {exc}") from exc
        self.initialised = True

    def is_not_supported(self, exc: BaseException) -> bool:
        return getattr(exc, "value", None) == self.backend.NVML_ERROR_NOT_SUPPORTED

    def call(self, name: str, *args: Any) -> Any:
        """Call one NVML function; NVMLError becomes DeviceReadError carrying the NVML value."""
        b = self.backend
        try:
            return getattr(b, name)(*args)
        except b.NVMLError as exc:
            err = DeviceReadError(f"{name}: {exc}")
            err.nvml_value = getattr(exc, "value", None)  # type: ignore[attr-defined]
            raise err from exc

    def supported(self, name: str, *args: Any) -> tuple[bool, Any]:
        """(True, value) when the call works; (False, None) when NVML says NOT_SUPPORTED."""
        try:
            return True, self.call(name, *args)
        except DeviceReadError as exc:
            if getattr(exc, "nvml_value", None) == self.backend.NVML_ERROR_NOT_SUPPORTED:
                return False, None
            raise


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# ---------------------------------------------------------------- CUDA_VISIBLE_DEVICES


@dataclass(frozen=True)
class VisibleEntry:
    kind: str  # "index" | "gpu-uuid" | "mig-uuid" | "mig-legacy"
    value: str


def parse_cuda_visible_devices(text: str | None) -> list[VisibleEntry] | None:
    """Entries of CUDA_VISIBLE_DEVICES, or None when unset (all GPUs visible).

    Like the CUDA runtime, parsing stops at the first invalid entry: the devices before it are
    visible and the rest are not ("0,1,-1,2" exposes 0 and 1; "-1" or "" exposes none).
    """
    if text is None:
        return None
    out: list[VisibleEntry] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            break
        if item.isdigit():
            out.append(VisibleEntry("index", str(int(item))))
        elif item.startswith("MIG-GPU-"):
            out.append(VisibleEntry("mig-legacy", item[len("MIG-") :].split("/", 1)[0]))
        elif item.startswith("MIG-"):
            out.append(VisibleEntry("mig-uuid", item))
        elif item.startswith("GPU-"):
            out.append(VisibleEntry("gpu-uuid", item))
        else:
            break
    return out


# ---------------------------------------------------------------- devices


@dataclass
class NvmlCounterDevice(Device):
    """A GPU whose driver exposes the total-energy counter (mJ since driver load, 64-bit)."""

    nvml: Nvml | None = None
    handle: Any = None

    def _read_j(self) -> float:
        assert self.nvml is not None
        return self.nvml.call("nvmlDeviceGetTotalEnergyConsumption", self.handle) / 1000.0


@dataclass
class NvmlSampledDevice(Device):
    """A GPU without the counter: integrate power samples (mW) with the trapezoid rule.

    The shared sampler polls at `poll_period_s` (<= 100 ms); windows also take a sample at their
    start and end, so their boundaries are exact and only the interior is sampled.
    """

    nvml: Nvml | None = None
    handle: Any = None
    clock: Any = time.monotonic
    _last_t: float | None = None
    _last_w: float = 0.0
    _total_j: float = 0.0
    samples: int = 0

    def _read_j(self) -> float:
        assert self.nvml is not None
        try:
            power_w = self.nvml.call("nvmlDeviceGetPowerUsage", self.handle) / 1000.0
        except DeviceReadError:
            self._last_t = None  # never integrate across a gap
            raise
        now = self.clock()
        if self._last_t is not None and now > self._last_t:
            self._total_j += (now - self._last_t) * (power_w + self._last_w) / 2.0
        self._last_t, self._last_w = now, power_w
        self.samples += 1
        return self._total_j


@dataclass
class GpuDiscovery:
    devices: list[Device] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


def _resolve_visible(nvml: Nvml, entries: list[VisibleEntry] | None) -> list[tuple[Any, bool]]:
    """(handle, is_mig) for each visible GPU, in CUDA order, duplicates removed later."""
    count = nvml.call("nvmlDeviceGetCount")
    all_handles = [nvml.call("nvmlDeviceGetHandleByIndex", i) for i in range(count)]
    if entries is None:
        return [(h, False) for h in all_handles]
    uuids = [_text(nvml.call("nvmlDeviceGetUUID", h)) for h in all_handles]
    out: list[tuple[Any, bool]] = []
    for entry in entries:
        if entry.kind == "index":
            i = int(entry.value)
            if i >= count:
                break  # CUDA stops at the first invalid entry
            out.append((all_handles[i], False))
        elif entry.kind in ("gpu-uuid", "mig-legacy"):
            matches = [h for h, u in zip(all_handles, uuids, strict=True) if u.startswith(entry.value)]
            if len(matches) != 1:  # unknown or ambiguous prefix: invalid, stop like CUDA
                break
            out.append((matches[0], entry.kind == "mig-legacy"))
        else:  # a MIG instance UUID: NVML hands out the MIG handle, we meter its parent
            try:
                handle = nvml.call("nvmlDeviceGetHandleByUUID", entry.value)
            except DeviceReadError:
                break
            out.append((handle, True))
    return out


def _parent_of_mig(nvml: Nvml, handle: Any) -> Any:
    try:
        is_mig = nvml.call("nvmlDeviceIsMigDeviceHandle", handle)
    except DeviceReadError:
        return handle
    if is_mig:
        return nvml.call("nvmlDeviceGetDeviceHandleFromMigDeviceHandle", handle)
    return handle


def _mig_enabled(nvml: Nvml, handle: Any) -> bool:
    try:
        current, _pending = nvml.call("nvmlDeviceGetMigMode", handle)
    except DeviceReadError:
        return False
    return current == getattr(nvml.backend, "NVML_DEVICE_MIG_ENABLE", 1)


def discover(
    nvml: Nvml,
    *,
    environ: dict[str, str] | None = None,
    sample_period_s: float = DEFAULT_SAMPLE_PERIOD_S,
    force_sampling: bool = False,
) -> GpuDiscovery:
    """GPU devices visible to this process. Never raises: a machine without NVML gets a flag."""
    env = os.environ if environ is None else environ
    result = GpuDiscovery()
    try:
        nvml.init()
    except NvmlUnavailable as exc:
        log.debug("carbonguard: no GPU metering: %s", exc)
        result.flags.append("nvml-unavailable")
        return result
    try:
        visible = _resolve_visible(nvml, parse_cuda_visible_devices(env.get("CUDA_VISIBLE_DEVICES")))
    except DeviceReadError as exc:
        log.warning("carbonguard: NVML could not list GPUs (%s); no GPU metering", exc)
        result.flags.append("nvml-enumeration-failed")
        return result
    if not visible:
        log.debug("carbonguard: NVML works but no GPU is visible to this process")
        result.flags.append("no-visible-gpu")
        return result
    seen: set[str] = set()
    names: set[str] = set()
    for handle, via_mig in visible:
        try:
            parent = _parent_of_mig(nvml, handle)
            uuid = _text(nvml.call("nvmlDeviceGetUUID", parent))
            name = _text(nvml.call("nvmlDeviceGetName", parent))
        except DeviceReadError as exc:
            log.warning("carbonguard: skipping a GPU NVML cannot describe (%s)", exc)
            result.flags.append("gpu-skipped")
            continue
        names.add(name)
        if uuid in seen:  # two MIG instances of one parent: meter the parent once
            continue
        seen.add(uuid)
        mig = via_mig or parent is not handle or _mig_enabled(nvml, parent)
        result.devices.append(_make_device(nvml, parent, uuid, name, mig, sample_period_s, force_sampling))
    if len(names) > 1 and env.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID":
        # CUDA numbers GPUs fastest-first by default, NVML by PCI bus: indices may not line up.
        result.flags.append("cuda-device-order-assumed-pci")
    return result


def _make_device(
    nvml: Nvml, handle: Any, uuid: str, name: str, mig: bool, sample_period_s: float, force_sampling: bool
) -> Device:
    flags: tuple[str, ...] = ("host-wide",)
    if mig:
        flags += ("mig-parent-energy",)
    try:
        max_w: float | None = nvml.call("nvmlDeviceGetEnforcedPowerLimit", handle) / 1000.0
    except DeviceReadError:
        max_w = None
    common = dict(component="gpu", device_id=uuid, shared=mig, max_power_w=max_w, nvml=nvml, handle=handle)
    try:
        has_counter, _ = nvml.supported("nvmlDeviceGetTotalEnergyConsumption", handle)
    except DeviceReadError:
        has_counter = False
    if has_counter and not force_sampling:
        return NvmlCounterDevice(
            method="counter",
            source=f"nvml:total-energy-counter ({name})",
            flags=flags,
            update_period_s=NVML_COUNTER_UPDATE_PERIOD_S,
            **common,
        )
    try:
        has_power, _ = nvml.supported("nvmlDeviceGetPowerUsage", handle)
    except DeviceReadError:
        has_power = False
    if has_power:
        why = "forced" if has_counter else "no energy counter"
        return NvmlSampledDevice(
            method="sampled",
            source=f"nvml:power-usage sampled every {sample_period_s:g} s, trapezoid ({name}; {why})",
            flags=(*flags, "power-sampled"),
            update_period_s=sample_period_s,
            poll_period_s=sample_period_s,
            **common,
        )
    log.warning(
        "carbonguard: GPU %s (%s) offers neither the energy counter nor power readings; "
        "its energy is reported as unavailable",
        uuid,
        name,
    )
    return UnavailableDevice(
        component="gpu",
        device_id=uuid,
        method="unavailable",
        source=f"nvml:none ({name})",
        shared=mig,
        flags=(*flags, "no-energy-or-power"),
        reason="neither nvmlDeviceGetTotalEnergyConsumption nor nvmlDeviceGetPowerUsage is supported",
    )
