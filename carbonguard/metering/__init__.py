"""Energy metering: named windows over NVML GPUs, RAPL CPU/DRAM counters and process estimates.

`from carbonguard.metering import measure, Meter, get_meter, Measurement`. Importing this package
loads no GPU library, no pydantic and starts no thread: the names below resolve on first use, and
devices are discovered on the first window. The device modules (`nvml`, `rapl`, `sampler`) import
nothing beyond the standard library, so `scripts/gpu_check.py` runs with only nvidia-ml-py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carbonguard.metering.attribution import attribute_shared_devices
    from carbonguard.metering.meter import Measurement, Meter, WindowHandle, get_meter, measure

_EXPORTS = {
    "Measurement": "carbonguard.metering.meter",
    "Meter": "carbonguard.metering.meter",
    "WindowHandle": "carbonguard.metering.meter",
    "get_meter": "carbonguard.metering.meter",
    "measure": "carbonguard.metering.meter",
    "attribute_shared_devices": "carbonguard.metering.attribution",
}

__all__ = [
    "Measurement",
    "Meter",
    "WindowHandle",
    "attribute_shared_devices",
    "get_meter",
    "measure",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'carbonguard.metering' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
