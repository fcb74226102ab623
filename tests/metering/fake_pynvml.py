"""A scripted stand-in for the `pynvml` module: same function names, the real NVMLError classes.

Only the GPU cannot exist on the test machine, so only the pynvml call boundary is replaced; the
metering code under test is exactly the code that runs against a real driver.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace

import pynvml


@dataclass
class FakeGpu:
    uuid: str
    name: str = "NVIDIA Fake A100"
    energy_mj: int = 0
    power_mw: int = 100_000
    counter_supported: bool = True
    power_supported: bool = True
    power_limit_mw: int = 400_000
    mig_enabled: bool = False
    fail: int | None = None  # an NVML error value raised by every energy/power call while set


@dataclass
class FakeMig:
    uuid: str
    parent: FakeGpu


@dataclass
class FakeNvmlState:
    gpus: list[FakeGpu] = field(default_factory=list)
    migs: list[FakeMig] = field(default_factory=list)
    init_error: int | None = None
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def make_fake_pynvml(state: FakeNvmlState) -> SimpleNamespace:
    """Build a module-like object exposing the pynvml functions the meter calls."""
    err = pynvml.NVMLError

    def log(name: str) -> None:
        with state.lock:
            state.calls.append(name)

    def nvmlInit() -> None:
        log("nvmlInit")
        if state.init_error is not None:
            raise err(state.init_error)

    def nvmlShutdown() -> None:
        log("nvmlShutdown")

    def nvmlDeviceGetCount() -> int:
        return len(state.gpus)

    def nvmlDeviceGetHandleByIndex(i: int) -> FakeGpu:
        if i >= len(state.gpus):
            raise err(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return state.gpus[i]

    def nvmlDeviceGetHandleByUUID(uuid: str) -> FakeGpu | FakeMig:
        for dev in [*state.gpus, *state.migs]:
            if dev.uuid == uuid:
                return dev
        raise err(pynvml.NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetUUID(handle: FakeGpu | FakeMig) -> str:
        return handle.uuid

    def nvmlDeviceGetName(handle: FakeGpu | FakeMig) -> str:
        return handle.parent.name if isinstance(handle, FakeMig) else handle.name

    def nvmlDeviceIsMigDeviceHandle(handle: FakeGpu | FakeMig) -> bool:
        return isinstance(handle, FakeMig)

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(handle: FakeMig) -> FakeGpu:
        return handle.parent

    def nvmlDeviceGetMigMode(handle: FakeGpu) -> list[int]:
        mode = pynvml.NVML_DEVICE_MIG_ENABLE if handle.mig_enabled else pynvml.NVML_DEVICE_MIG_DISABLE
        return [mode, mode]

    def nvmlDeviceGetEnforcedPowerLimit(handle: FakeGpu) -> int:
        return handle.power_limit_mw

    def _guard(handle: FakeGpu | FakeMig) -> FakeGpu:
        if isinstance(handle, FakeMig):  # MIG handles have no energy or power of their own
            raise err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        if handle.fail is not None:
            raise err(handle.fail)
        return handle

    def nvmlDeviceGetTotalEnergyConsumption(handle: FakeGpu) -> int:
        log("nvmlDeviceGetTotalEnergyConsumption")
        gpu = _guard(handle)
        if not gpu.counter_supported:
            raise err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu.energy_mj

    def nvmlDeviceGetPowerUsage(handle: FakeGpu) -> int:
        log("nvmlDeviceGetPowerUsage")
        gpu = _guard(handle)
        if not gpu.power_supported:
            raise err(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu.power_mw

    names = {k: v for k, v in locals().items() if k.startswith("nvml")}
    constants = {k: getattr(pynvml, k) for k in dir(pynvml) if k.startswith("NVML_")}
    return SimpleNamespace(NVMLError=err, **constants, **names)
