"""What a metered device looks like to the windows: a cumulative energy reading in joules.

Why one shape: a window only needs "energy so far" at its start and at its end. A hardware counter
gives it directly (NVML total energy, RAPL energy_uj unwrapped); a power-sampled device gives it by
integrating samples. Either way the window subtracts two readings, so opening and closing a window
costs two reads and no thread, and concurrent or nested windows share the same device state.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger("carbonguard.metering")

Component = Literal["gpu", "cpu", "dram"]


class DeviceReadError(Exception):
    """A device could not be read; the window covering it reports `unavailable`, never 0."""


@dataclass
class Device:
    """Base of every metered device. Subclasses implement `_read_j` (and `_poll` if they need it)."""

    component: Component
    device_id: str
    method: str  # "counter" | "sampled" | "unavailable" (EnergyMethod values; kept a str so this
    # module imports nothing heavy and the GPU check runs with only nvidia-ml-py installed)
    source: str
    shared: bool = False
    flags: tuple[str, ...] = ()
    # Shortest window the reading resolves; shorter windows get the `short-window` flag.
    update_period_s: float = 0.0
    # Highest plausible power, for the band of a short window (one missed counter step).
    max_power_w: float | None = None
    # How often the shared sampler must poll this device (power sampling, wrap tracking); None: never.
    poll_period_s: float | None = None
    errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _logged: bool = field(default=False, repr=False)

    def read_j(self) -> float:
        """Cumulative energy in joules since an arbitrary origin. Raises DeviceReadError."""
        with self._lock:
            try:
                return self._read_j()
            except DeviceReadError as exc:
                self._record_error(exc)
                raise

    def poll(self) -> None:
        """Called by the sampler thread; never raises (an error is recorded against the device)."""
        with self._lock:
            try:
                self._poll()
            except DeviceReadError as exc:
                self._record_error(exc)

    def _read_j(self) -> float:
        raise NotImplementedError

    def _poll(self) -> None:
        self._read_j()

    def _record_error(self, exc: Exception) -> None:
        """Count the error (windows spanning it turn unavailable) and log it once per device."""
        self.errors += 1
        if not self._logged:
            self._logged = True
            log.warning(
                "carbonguard: %s %s could not be read (%s); windows covering this are reported "
                "as unavailable, the job continues",
                self.component,
                self.device_id,
                exc,
            )
        else:
            log.debug("carbonguard: %s %s read error again: %s", self.component, self.device_id, exc)


@dataclass
class UnavailableDevice(Device):
    """A device we know exists but cannot meter at all (e.g. a GPU with neither counter nor power)."""

    reason: str = ""

    def _read_j(self) -> float:
        raise DeviceReadError(self.reason or "no energy counter or power reading")

    def _poll(self) -> None:  # nothing to poll; do not inflate the error count
        return None

    def _record_error(self, exc: Exception) -> None:  # already explained once at discovery
        self.errors += 1
