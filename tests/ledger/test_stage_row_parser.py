"""`StageRowParser` (the gate's fast path) accepts exactly what `StageRecord` accepts, with the same rows.

The fast path validates into plain dicts and checks the energy/method rule itself; a record it
refuses is validated again by `StageRecord`, so its errors are the model's. What must never
happen is the fast path accepting a record the model refuses: these tests hold it to that over
every field, removed or given a wrong value, and to the model's JSON schema.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from carbonguard.models import StageRecord, StageRowParser, _StageFields, stage_row

from .conftest import stage_record

WRONG = (None, 0, -1, 1.5, "x", "", True, [], {}, "-1.0", "inf", "NaN", "1e400", "2026-03-01T10:00:00",
         "2026-03-01T12:00:00+02:00", "a\nb", "x" * 201, "unavailable", "counter", "dram")


def _payloads() -> list[dict[str, Any]]:
    base = stage_record().model_dump(mode="json")
    out = [base]
    for key in [*base, "extra"]:
        for value in (*WRONG, "<removed>"):
            record = json.loads(json.dumps(base))
            if value == "<removed>":
                record.pop(key, None)
            else:
                record[key] = value
            out.append(record)
    for i in (0, 1):
        for key in [*base["components"][i], "extra"]:
            for value in (*WRONG, "<removed>"):
                record = json.loads(json.dumps(base))
                if value == "<removed>":
                    record["components"][i].pop(key, None)
                else:
                    record["components"][i][key] = value
                out.append(record)
    unavailable = json.loads(json.dumps(base))
    unavailable["components"][0].update(method="unavailable")
    del unavailable["components"][0]["energy_kwh"]
    out.append(unavailable)  # valid: unavailable, no figure
    with_figure = json.loads(json.dumps(unavailable))
    with_figure["components"][0]["energy_kwh"] = "0.5"
    out.append(with_figure)  # refused: unavailable with a figure
    no_figure = json.loads(json.dumps(base))
    no_figure["components"][1]["energy_kwh"] = None
    out.append(no_figure)  # refused: estimated without a figure
    out.append({**base, "components": []})
    out.append({**base, "components": base["components"] * 3, "cached": True, "zone": None})
    return out


def _outcome(parse: Any, payload: bytes) -> Any:
    try:
        return parse(payload)
    except ValidationError as exc:
        return [(e["loc"], e["msg"], e["type"]) for e in exc.errors()]


@pytest.mark.parametrize("record", _payloads())
def test_fast_path_accepts_and_refuses_as_the_model_does(record: dict[str, Any]) -> None:
    payload = json.dumps(record).encode()
    model = _outcome(lambda b: stage_row(StageRecord.model_validate_json(b)), payload)
    fast = _outcome(StageRowParser(), payload)
    assert fast == model


def test_a_refused_record_was_refused_by_the_model_and_not_only_by_the_fast_path() -> None:
    """The energy/method rule lives in the row builder: without it the fast path would pass this."""
    record = stage_record().model_dump(mode="json")
    record["components"][0].update(method="unavailable", energy_kwh="0.5")
    with pytest.raises(ValidationError, match="unavailable reading carries no energy figure"):
        StageRowParser()(json.dumps(record).encode())


def _constraints(schema: Any) -> Any:
    """A JSON schema without its prose and defaults (a dict has no defaults; the parser fills them)."""
    if isinstance(schema, dict):
        return {("ComponentEnergy" if k == "_ComponentFields" else k): _constraints(v) for k, v in schema.items()
                if k not in ("title", "description", "default")}
    if isinstance(schema, list):
        return [_constraints(v) for v in schema]
    if isinstance(schema, str):
        return schema.replace("_ComponentFields", "ComponentEnergy")
    return schema


def test_the_fast_path_schema_is_the_models() -> None:
    """A field or constraint added to `StageRecord` or `ComponentEnergy` must be added to
    `_StageFields` too (or the gate would judge records the model refuses)."""
    assert _constraints(TypeAdapter(_StageFields).json_schema()) == _constraints(StageRecord.model_json_schema())


def test_defaults_are_the_models() -> None:
    """The parser fills the fields a record may omit with the model's defaults."""
    record = stage_record().model_dump(mode="json")
    for key in ("cached", "zone", "components", "attempt", "task_run_id", "flags", "kind"):
        del record[key]
    payload = json.dumps(record).encode()
    assert StageRowParser()(payload) == stage_row(StageRecord.model_validate_json(payload))
    component = stage_record().model_dump(mode="json")
    for c in component["components"]:
        del c["uncertainty_kwh"], c["shared"], c["flags"]
    payload = json.dumps(component).encode()
    assert StageRowParser()(payload) == stage_row(StageRecord.model_validate_json(payload))
