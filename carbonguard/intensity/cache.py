"""A small on-disk cache of provider answers, so repeated gates and CLI calls do not re-ask the API.

Keyed by provider, base URL, zone and window; entries older than the TTL are ignored. Figures served
from here carry origin `cache`. Writes are atomic (temp file + rename); a corrupt entry, or anything but a regular file
(a FIFO, a device), is a miss.
No credential is ever part of a key or an entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from carbonguard.errors import InputError
from carbonguard.intensity.timeseries import require_utc
from carbonguard.models import IntensityPoint, Origin
from carbonguard.safe_read import read_bytes

MAX_ENTRY_BYTES = 16 * 1024 * 1024  # a year of 5-minute points is ~30 MB of JSON; hourly, far less


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "carbonguard" / "intensity"


class FileCache:
    """JSON files under `directory`, one per query."""

    def __init__(
        self,
        directory: Path | str,
        ttl_s: float,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.directory = Path(directory)
        self.ttl_s = ttl_s
        self.clock = clock

    @staticmethod
    def key(*parts: str) -> str:
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    def get(self, key: str) -> list[IntensityPoint] | None:
        path = self.directory / f"{key}.json"
        try:
            entry = json.loads(read_bytes(path, max_bytes=MAX_ENTRY_BYTES, what="cache entry"))
            stored = datetime.fromisoformat(entry["stored_at"])
            if (self.clock() - stored).total_seconds() > self.ttl_s:
                return None
            points = [IntensityPoint.model_validate(p) for p in entry["points"]]
        except (InputError, OSError, ValueError, KeyError, TypeError, RecursionError):
            return None  # unreadable or from an older format: ask the provider again
        return [p.model_copy(update={"origin": Origin.CACHE}) for p in points]

    def put(self, key: str, points: list[IntensityPoint]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        entry = {"stored_at": self.clock().isoformat(), "points": [p.model_dump(mode="json") for p in points]}
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(entry, fh)
            os.replace(tmp, self.directory / f"{key}.json")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class CachedSource:
    """Wraps a live source: hour-aligned windows, answered from the cache while fresh."""

    def __init__(self, inner, cache: FileCache, *, identity: str) -> None:
        self.inner = inner
        self.cache = cache
        self.identity = identity
        self.name = inner.name

    def series(self, zone: str, start: datetime, end: datetime) -> list[IntensityPoint]:
        start = require_utc(start, "start")
        end = require_utc(end, "end")
        lo = start.replace(minute=0, second=0, microsecond=0)
        hi = end.replace(minute=0, second=0, microsecond=0)
        if hi < end:
            hi += timedelta(hours=1)
        key = self.cache.key(self.name, self.identity, zone.upper(), lo.isoformat(), hi.isoformat())
        cached = self.cache.get(key)
        if cached is None:
            fresh = self.inner.series(zone, lo, hi)
            self.cache.put(key, fresh)
            cached = fresh
        return [p for p in cached if p.start < end and p.start + timedelta(seconds=p.duration_s) > start]
