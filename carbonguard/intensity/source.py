"""The one interface every intensity provider implements (the shape of pip-audit's `_service/`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from carbonguard.models import IntensityPoint


@runtime_checkable
class IntensitySource(Protocol):
    """Grid carbon intensity for a zone over a UTC interval.

    `series` returns points that together cover [start, end) as far as the source can; it never
    invents a figure for a stretch it has no data for (callers see the gap and fill or flag it).
    It raises `ProviderError` when it cannot answer and `UnknownZoneError` for unknown zones.
    """

    name: str

    def series(self, zone: str, start: datetime, end: datetime) -> list[IntensityPoint]: ...
