"""An estimate priced: each (location, PUE) group through the same accounting as measured runs. Pure.

The caller fetches the intensity points (`intensity_requests` says which) from whatever source the
policy or the command chose; nothing here reads a source, a file or the clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from carbonguard.accounting import compute_footprint, intensity_span
from carbonguard.estimate.estimator import JobEstimate
from carbonguard.models import IntensityPoint
from carbonguard.reporting.estimate import EstimatedStage, EstimateReport


def intensity_requests(estimate: JobEstimate) -> list[tuple[str, datetime, datetime]]:
    """(location, start, end) per location of the estimate: the points `price` needs."""
    spans: dict[str, tuple[datetime, datetime]] = {}
    for (location, _pue), records in estimate.groups().items():
        span = intensity_span(records)
        if span is None:
            continue
        lo, hi = spans.get(location, span)
        spans[location] = (min(lo, span[0]), max(hi, span[1]))
    return [(location, lo, hi) for location, (lo, hi) in spans.items()]


def price(estimate: JobEstimate, points: Mapping[str, Sequence[IntensityPoint]], *,
          jobspec_source: str | None = None, jobspec_hash: str | None = None) -> EstimateReport:
    """Footprints of every (location, PUE) group, with `points[location]` as the grid figures."""
    footprints = tuple(
        compute_footprint(records, run_id=estimate.run_id, zone=location, pue=pue, points=points.get(location, ()))
        for (location, pue), records in estimate.groups().items()
    )
    return EstimateReport(
        job=estimate.job,
        run_id=estimate.run_id,
        stages=tuple(EstimatedStage(s.record, s.location, s.pue) for s in estimate.stages),
        footprints=footprints,
        jobspec_source=jobspec_source,
        jobspec_hash=jobspec_hash,
        table_sha256=estimate.table_sha256,
    )
