"""A reading's figure and its method agree: an unavailable reading has none, every other needs one.

Omitting the field counts too (the rule runs on the default): a counter reading without a figure
would otherwise be priced as 0 kWh and never counted as unavailable.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from carbonguard.models import ComponentEnergy, StageRecord


@pytest.mark.parametrize("method", ["counter", "sampled", "estimated"])
def test_a_reading_that_omits_its_figure_is_refused(method: str) -> None:
    with pytest.raises(ValidationError, match="needs energy_kwh"):
        ComponentEnergy(component="gpu", device="GPU-0", method=method, source="s")


def test_an_unavailable_reading_omits_its_figure() -> None:
    assert ComponentEnergy(component="gpu", device="GPU-0", method="unavailable", source="s").energy_kwh is None
    with pytest.raises(ValidationError, match="carries no energy figure"):
        ComponentEnergy(component="gpu", device="GPU-0", method="unavailable", energy_kwh=0.0, source="s")


def test_a_stage_record_with_such_a_reading_is_refused_from_json() -> None:
    payload = ('{"run_id":"r","flow_name":"f","stage":"s","host":"h","pid":1,'
               '"start":"2026-03-02T09:00:00Z","end":"2026-03-02T09:30:00Z",'
               '"components":[{"component":"gpu","device":"GPU-0","method":"counter","source":"s"}]}')
    with pytest.raises(ValidationError, match="needs energy_kwh"):
        StageRecord.model_validate_json(payload)
