"""The fallback chain: ask providers in the policy's order; fill what one leaves uncovered from the next.

A provider that fails is skipped and every figure taken from a later one records `fallback_from`
(the first provider that failed). A provider that answers with holes keeps its figures; each hole is
filled from the next providers, and those filling figures are clipped to the hole and flagged
`intensity-gap-filled` with `fallback_from` naming the provider whose data had the hole. What no
provider can fill stays a gap for the caller to flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from carbonguard.errors import InputError
from carbonguard.intensity.errors import UnknownZoneError
from carbonguard.intensity.redact import Secrets
from carbonguard.intensity.source import IntensitySource
from carbonguard.intensity.timeseries import find_gaps, require_utc, segments
from carbonguard.models import IntensityPoint


class FallbackChain:
    """Several sources behind one `IntensitySource`."""

    def __init__(self, sources: Sequence[IntensitySource], *, secrets: Secrets | None = None) -> None:
        if not sources:
            raise ValueError("a chain needs at least one source")
        self.sources = list(sources)
        self.secrets = secrets or Secrets()  # redacts every error kept or raised, whatever the source
        self.name = ">".join(s.name for s in self.sources)
        self.errors: list[InputError] = []  # what failed during the last call, for reports

    def series(self, zone: str, start: datetime, end: datetime) -> list[IntensityPoint]:
        start = require_utc(start, "start")
        end = require_utc(end, "end")
        self.errors = []
        points: list[IntensityPoint] = []
        failed_from: str | None = None
        primary: str | None = None
        unknown: UnknownZoneError | None = None
        for source in self.sources:
            try:
                got = source.series(zone, start, end)
            except UnknownZoneError as err:
                unknown = unknown or err
                self.errors.append(self.secrets.redact_error(err))
                continue
            except InputError as err:
                self.errors.append(self.secrets.redact_error(err))
                failed_from = failed_from or source.name
                continue
            if not got:
                failed_from = failed_from or source.name
                continue
            if primary is None:
                primary = source.name
                points = [
                    p.model_copy(update={"fallback_from": failed_from}) if failed_from else p for p in got
                ]
            else:
                points += _fill(got, find_gaps(points, start, end), primary)
            if not find_gaps(points, start, end):
                break
        if not points:
            if unknown is not None:
                raise unknown
            if self.errors:
                raise InputError([p for e in self.errors for p in e.problems])
            raise InputError(f"no intensity source had figures for zone {zone!r}", source="spec.intensity")
        return points


def _fill(candidates: list[IntensityPoint], gaps, primary: str) -> list[IntensityPoint]:
    """Figures of a later source, clipped to each gap, recorded as filling the primary's hole."""
    out: list[IntensityPoint] = []
    segs = segments(candidates)
    for gap in gaps:
        for seg in segs:
            lo, hi = max(seg.start, gap.start), min(seg.end, gap.end)
            seconds = int((hi - lo).total_seconds())
            if seconds <= 0:
                continue
            p = seg.point
            out.append(
                p.model_copy(
                    update={
                        "start": lo,
                        "duration_s": seconds,
                        "fallback_from": p.fallback_from or primary,
                        "flags": (*p.flags, "intensity-gap-filled"),
                    }
                )
            )
    return out
