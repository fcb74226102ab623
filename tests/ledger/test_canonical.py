"""Canonical JSON matches RFC 8785 (checked against the reference `rfc8785` package) and the
float rule round-trips every finite float."""

from __future__ import annotations

import json
import math

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonguard.errors import InputError
from carbonguard.ledger.canonical import canonical_bytes, decimal_string, normalise


@pytest.mark.parametrize(("value", "text"), [
    (1e-7, "0.0000001"), (3.0, "3.0"), (1e22, "10000000000000000000000.0"), (0.1, "0.1"),
    (-0.0, "-0.0"), (1.2345, "1.2345"), (5e-324, "0." + "0" * 323 + "5"),
])
def test_decimal_string_rule(value: float, text: str) -> None:
    assert decimal_string(value) == text
    assert float(text) == value


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_decimal_string_round_trips(x: float) -> None:
    text = decimal_string(x)
    assert "e" not in text.lower()
    assert float(text) == x and math.copysign(1, float(text)) == math.copysign(1, x)


json_leaf = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text()
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20)


@settings(max_examples=300)
@given(json_value)
def test_canonical_matches_reference_rfc8785(value: object) -> None:
    try:
        reference = rfc8785.dumps(value)
    except Exception:  # lone surrogates: refused by both
        with pytest.raises(InputError):
            normalise({"v": value})
        return
    normalised, simple = normalise({"v": value})
    assert canonical_bytes(normalised, simple) == rfc8785.dumps(normalised)
    assert canonical_bytes(value, False) == reference


def test_keys_sorted_by_utf16_code_units() -> None:
    value = {"\U0001f600": 1, "\ufb01": 2, "a": 3}  # code point order differs from UTF-16 order
    normalised, simple = normalise(value)
    assert simple is False
    assert canonical_bytes(normalised, simple) == rfc8785.dumps(value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinity_refused(bad: float) -> None:
    with pytest.raises(InputError, match="energy_kwh"):
        normalise({"components": [{"energy_kwh": bad}]})


def test_unsafe_integer_and_unknown_type_refused() -> None:
    with pytest.raises(InputError, match=r"payload\.n"):
        normalise({"n": 2**53})
    with pytest.raises(InputError, match="set"):
        normalise({"s": {1, 2}})


@settings(max_examples=200)
@given(st.floats(min_value=0, allow_nan=False, allow_infinity=False),
       st.floats(min_value=0, allow_nan=False, allow_infinity=False))
def test_stage_record_survives_the_ledger_encoding(energy: float, uncertainty: float) -> None:
    import json

    from carbonguard.models import ComponentEnergy, EnergyMethod, StageRecord

    from .conftest import stage_record

    record = stage_record().model_copy(update={"components": (
        ComponentEnergy(component="gpu", device="GPU-0", method=EnergyMethod.SAMPLED, energy_kwh=energy,
                        uncertainty_kwh=uncertainty, source="nvml:power-sampling"),)})
    value, simple = normalise(record.model_dump(mode="json"))
    stored = json.loads(canonical_bytes(value, simple))
    assert isinstance(stored["components"][0]["energy_kwh"], str)
    assert StageRecord.model_validate(stored) == record


header_text = st.text() | st.sampled_from(["stage", "0" * 64, "carbonguard 1.0"])


@settings(max_examples=300)
@given(st.integers(1, 2**53 - 1), header_text, header_text, header_text, header_text,
       st.none() | header_text, header_text, json_value)
def test_envelope_bytes_is_the_canonical_envelope(seq: int, record_id: str, record_type: str, time: str,
                                                  key_id: str, run_id: str | None, prev_hash: str,
                                                  payload: object) -> None:
    # envelope_bytes writes the envelope as text around the canonical payload instead of sorting a
    # dict of it: it must give exactly the RFC 8785 bytes of that dict, whatever the strings hold.
    from carbonguard.ledger.record import SCHEMA_VERSION, Header, envelope_bytes

    header = Header(seq, record_id, record_type, time, "carbonguard 1.0", key_id, run_id, prev_hash)
    envelope = {"key_id": key_id, "payload": payload, "prev_hash": prev_hash, "producer": "carbonguard 1.0",
                "record_id": record_id, "record_type": record_type, "run_id": run_id,
                "schema": SCHEMA_VERSION, "seq": seq, "time": time}
    try:
        reference = rfc8785.dumps(envelope)
    except Exception:  # lone surrogates: refused by both
        with pytest.raises(UnicodeEncodeError):
            envelope_bytes(header, payload, False)
        return
    assert envelope_bytes(header, payload, False) == reference
    if all(ord(c) < 0xD800 for c in json.dumps(payload, ensure_ascii=False)):
        assert envelope_bytes(header, payload, True) == reference
