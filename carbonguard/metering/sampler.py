"""One background thread per process that polls the devices that need it.

Why one shared thread: windows are cheap only if opening one starts nothing. Devices that must be
watched between windows (power-sampled GPUs at <= 100 ms, RAPL counters every few seconds so a
wrap is never missed) are polled by a single daemon thread, started lazily by the first window
that has such a device. It never raises into the job: device errors are recorded per device.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Sequence

from carbonguard.metering.devices import Device

log = logging.getLogger("carbonguard.metering")


class Sampler:
    """Polls each device at its own `poll_period_s`; stop() joins the thread."""

    def __init__(self, devices: Sequence[Device]) -> None:
        self.devices = [d for d in devices if d.poll_period_s is not None]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._pid = os.getpid()
        self.polls = 0
        # Threads do not survive fork: a child that inherited a started sampler starts its own.
        # A weak reference, so the fork hook does not keep every sampler alive.
        hook = weakref.WeakMethod(self._after_fork)
        os.register_at_fork(after_in_child=lambda: (method := hook()) and method())

    def _after_fork(self) -> None:
        if self._pid != os.getpid() and not self._stop.is_set():
            self._pid = os.getpid()
            self._thread = None
            self._start_lock = threading.Lock()

    @property
    def needed(self) -> bool:
        return bool(self.devices)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def ensure_started(self) -> None:
        """Start the thread once; cheap to call on every window (one attribute check)."""
        if self._thread is not None or not self.devices:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="carbonguard-sampler", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        due = {id(d): time.monotonic() + (d.poll_period_s or 0.0) for d in self.devices}
        while not self._stop.is_set():
            now = time.monotonic()
            for device in self.devices:
                if now >= due[id(device)]:
                    try:
                        device.poll()
                    except Exception:  # a bug in one device must never take the thread down
                        log.exception("carbonguard: sampler poll of %s failed", device.device_id)
                    self.polls += 1
                    period = device.poll_period_s or 1.0
                    # Keep the cadence; after a stall, resume from now rather than bursting.
                    due[id(device)] = max(due[id(device)] + period, now + period / 2)
            wait = min(due.values()) - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)
