"""`StageRowParser` (the gate's fast path) accepts exactly what `StageRecord` accepts, with the same rows.

The fast path validates into plain dicts and checks the energy/method rule itself; a record it
refuses is validated again by `StageRecord`, so its errors are the model's. What must never
happen is the fast path accepting a record the model refuses: these tests hold it to that over
every field, removed or given a wrong value, and to the model's JSON schema.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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


# -- the ledger's form, read without pydantic (`stage_bytes`, `StageRowParser.canonical_rows`) --------

def _canonical(record: Any) -> bytes:
    """The payload's bytes as the ledger stores them."""
    from carbonguard.ledger.canonical import canonical_bytes, normalise

    return canonical_bytes(normalise(record)[0])


def _held_to_the_model(payloads: list[bytes]) -> list[Any]:
    """`canonical_rows` of the payloads, each checked against the model: a row only where the model
    accepts the payload, and then the model's row (None hands a payload to the full validation)."""
    rows = StageRowParser().canonical_rows(payloads)
    for payload, row in zip(payloads, rows, strict=True):
        try:
            expected = stage_row(StageRecord.model_validate_json(payload))
        except ValidationError:
            assert row is None, payload
            continue
        assert row is None or (row == expected and row.readings == expected.readings), payload
    return rows


@pytest.mark.parametrize("record", _payloads())
def test_the_ledger_form_is_read_only_where_the_model_accepts_it(record: dict[str, Any]) -> None:
    try:
        payload = _canonical(record)
    except Exception:  # not a value the ledger can record at all
        return
    _held_to_the_model([payload])


def test_the_ledger_form_of_valid_records_is_read_without_the_model() -> None:
    """Else the tests above would pass with a reader that reads nothing."""
    records = [stage_record(hour=h, energy_kwh=0.1 * h + 1e-9).model_dump(mode="json") for h in range(5)]
    unavailable = json.loads(json.dumps(records[0]))
    unavailable["components"][0].update(method="unavailable", energy_kwh=None)
    payloads = [_canonical(r) for r in [*records, unavailable, {**records[1], "components": []}]]
    assert None not in _held_to_the_model(payloads)


def test_one_refused_record_is_validated_in_full_with_its_neighbours() -> None:
    good = stage_record().model_dump(mode="json")
    bad = {**good, "stage": "a\x7fb"}  # not a label: the model refuses it
    rows = _held_to_the_model([_canonical(good), _canonical(bad), _canonical({**good, "components": []})])
    assert rows[1] is None and rows[2] is not None


_PLAIN = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=8)
_TEXT = st.one_of(*[_PLAIN] * 8, st.text(st.characters(max_codepoint=0x7F) | st.sampled_from("é€\u202e"), max_size=8))
_ODD_FIGURE = st.one_of(st.none(), st.sampled_from([5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e22,
                                                    "-1.0", "01.5", "1e3", "1.", ".5", "0x1", 1, True, -0.0]))
_FIGURE = st.one_of(st.floats(min_value=0.0, allow_nan=False, allow_infinity=False), st.floats(0.0, 10.0),
                    st.floats(0.0, 10.0), _ODD_FIGURE)
_TIME = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999),
                 timezones=st.just(timezone.utc)).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.datetimes(timezones=st.just(timezone.utc)).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.sampled_from(["2026-02-29T10:00:00Z", "2024-02-29T24:00:00Z", "2026-03-01T10:60:00Z",
                     "2026-03-01T10:00:59.1Z", "2026-03-01T10:00:00.1234567Z", "0000-01-01T00:00:00Z",
                     "2026-3-01T10:00:00Z", "2026-03-01t10:00:00Z", "2026-03-01T10:00:00+00:00"]))
_MOSTLY = 8  # a valid choice this many times as often as an invalid one


@st.composite
def _component(draw: st.DrawFn) -> dict[str, Any]:
    method = draw(st.sampled_from(["counter", "sampled", "estimated", "unavailable"] * _MOSTLY + ["guess"]))
    figure = draw(st.one_of(*[st.none() if method == "unavailable" else _FIGURE] * _MOSTLY, _ODD_FIGURE))
    return {"component": draw(st.sampled_from(["gpu", "cpu", "dram"] * _MOSTLY + ["tpu"])), "device": draw(_TEXT),
            "energy_kwh": figure, "flags": draw(st.lists(_TEXT, max_size=2)), "method": method,
            "shared": draw(st.booleans()), "source": draw(_TEXT), "uncertainty_kwh": draw(_FIGURE)}


@st.composite
def _stage(draw: st.DrawFn) -> dict[str, Any]:
    label = st.one_of(*[_PLAIN] * _MOSTLY, _TEXT, st.sampled_from(["x" * 200, "x" * 201, "a\x7fb", ""]))
    return {"attempt": draw(st.sampled_from([1, 2, 99_999_999] * _MOSTLY + [0, -1, 10**9])),
            "cached": draw(st.booleans()),
            "components": draw(st.lists(_component(), max_size=3)), "end": draw(_TIME),
            "flags": draw(st.lists(_TEXT, max_size=2)), "flow_name": draw(_TEXT), "host": draw(_TEXT),
            "kind": draw(st.sampled_from(["stage"] * _MOSTLY + ["other"])),
            "pid": draw(st.sampled_from([0, 4242, -7, 10**18, 2**63])), "run_id": draw(label),
            "stage": draw(label), "start": draw(_TIME), "task_run_id": draw(st.one_of(st.none(), _TEXT)),
            "zone": draw(st.one_of(st.none(), _TEXT))}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_stage(), min_size=1, max_size=6))
def test_random_records_in_the_ledger_form_are_read_as_the_model_reads_them(records: list[dict[str, Any]]) -> None:
    payloads = []
    for record in records:
        try:
            payloads.append(_canonical(record))
        except Exception:  # not a value the ledger can record
            continue
    _held_to_the_model(payloads)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_stage())
def test_a_random_record_in_the_ledger_form_is_read_as_the_model_reads_it(record: dict[str, Any]) -> None:
    test_random_records_in_the_ledger_form_are_read_as_the_model_reads_them.hypothesis.inner_test([record])


@pytest.mark.parametrize("field", ["energy_kwh", "uncertainty_kwh"])
def test_a_decimal_too_large_for_a_float_is_refused_as_the_model_refuses_it(field: str) -> None:
    record = stage_record().model_dump(mode="json")
    record["components"][0][field] = "1" + "0" * 400 + ".0"  # the ledger's decimal form, yet infinite as a float
    with pytest.raises(ValidationError):
        StageRecord.model_validate_json(_canonical(record))
    assert _held_to_the_model([_canonical(record)]) == [None]


def test_the_ledger_form_reader_compiles_on_the_oldest_supported_python() -> None:
    """`pyproject.toml` says Python >= 3.10, whose `re` has no possessive quantifiers (`*+`): the
    reader's expressions are compiled there too (they compile lazily, at a gate's first read)."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    oldest = shutil.which("python3.10")
    env = {**os.environ, "PYENV_VERSION": "3.10"}  # where python3.10 is a pyenv shim: pick that version
    if oldest is None or subprocess.run([oldest, "-c", "pass"], env=env, capture_output=True).returncode:
        pytest.skip("no working python3.10 on PATH to compile the expressions with")
    repo = Path(__file__).resolve().parents[2]
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "from carbonguard.stage_bytes import StageBytes\n"
            "reader = StageBytes(tuple, tuple, {}, None, r'.+', {})\n"
            "for count in range(4):\n"
            "    reader._matcher(count)\n"
            "print(sys.version_info[:2])\n")
    out = subprocess.run([oldest, "-c", code, str(repo)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(3, 10)", sys.version
