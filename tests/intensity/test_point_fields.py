"""`PointFields`, the pydantic-free form of the embedded figures `carbonguard intensity` prints.

The CLI's default path renders these instead of `IntensityPoint`s so it starts without pydantic;
these tests hold them to the model: same fields and defaults, the same validated point, and the
same text and JSON output as the points every other path gets.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from carbonguard.formats.registry import render
from carbonguard.intensity.providers.embedded import EmbeddedSource
from carbonguard.intensity.timeseries import weighted_average
from carbonguard.models import IntensityPoint
from carbonguard.points import PointFields, as_model
from carbonguard.reporting.intensity import IntensityReport


def test_fields_and_defaults_are_the_models() -> None:
    model = IntensityPoint.model_fields
    assert set(PointFields._fields) == set(model)
    for name, default in PointFields._field_defaults.items():
        assert model[name].default == default, name
    required = set(PointFields._fields) - set(PointFields._field_defaults)
    assert required == {n for n, f in model.items() if f.is_required()}


def test_model_validates_like_the_constructor() -> None:
    fields = EmbeddedSource().annual_points("DE", datetime(2024, 5, 1, tzinfo=timezone.utc),
                                            datetime(2024, 5, 2, tzinfo=timezone.utc))[0]
    assert fields.model() == IntensityPoint(**fields._asdict())
    assert as_model(fields) == fields.model() and as_model(fields.model()) == fields.model()
    with pytest.raises(ValueError, match="greater than 0"):  # pydantic checks it when it becomes a model
        fields._replace(duration_s=0).model()


def _report(points: list, start: datetime, end: datetime) -> IntensityReport:
    avg = weighted_average(points, start, end)
    return IntensityReport(zone="DE", start=start, end=end, intensity_g_per_kwh=avg.intensity_g_per_kwh,
                           covered_s=avg.covered_s, window_s=avg.window_s, gaps=avg.gaps,
                           points=tuple(points), provider_errors=(), instant=False)


@pytest.mark.parametrize("zone", ["DE", "gcp:europe-west4", "aws:us-east-1", "US-CAL-CISO", "xx-unknown"])
@pytest.mark.parametrize("signal", ["average", "marginal"])
def test_fields_render_exactly_as_the_models_do(zone: str, signal: str) -> None:
    source = EmbeddedSource(unknown_zone="warn", signal=signal)  # type: ignore[arg-type]
    start, end = datetime(2023, 12, 31, 22, tzinfo=timezone.utc), datetime(2025, 1, 1, 2, tzinfo=timezone.utc)
    fields = source.annual_points(zone, start, end)
    models = source.series(zone, start, end)
    assert len(fields) == 3 and [f.model() for f in fields] == models
    light, full = _report(fields, start, end), _report(models, start, end)
    for name in ("text", "json"):
        assert render(name, light) == render(name, full)
