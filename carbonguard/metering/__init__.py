"""Energy metering: named windows over NVML GPUs, RAPL CPU/DRAM counters and process estimates.

`from carbonguard.metering import measure, Meter, get_meter, Measurement`. Importing this package
loads no GPU library and starts no thread; both happen lazily on the first window that needs them.
"""

from carbonguard.metering.attribution import attribute_shared_devices
from carbonguard.metering.meter import Measurement, Meter, WindowHandle, get_meter, measure

__all__ = ["Measurement", "Meter", "WindowHandle", "attribute_shared_devices", "get_meter", "measure"]
