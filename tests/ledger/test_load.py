"""Loading many records: one parse per record, the same values as the slow way."""

from __future__ import annotations

import gc
from datetime import datetime, timezone

import pytest

from carbonguard.assess import load_stage_records, load_stage_rows
from carbonguard.errors import InputError
from carbonguard.ledger import Signer, open_ledger
from carbonguard.ledger.record import format_time, parse_time, paused_gc, payload_bytes
from carbonguard.models import StageRecord, stage_rows

from .conftest import stage_record


def test_parse_time_reads_what_format_time_writes_and_refuses_other_forms() -> None:
    utc = timezone.utc
    for value in (datetime(2026, 3, 1, 10, 0, 0, 5, tzinfo=utc), datetime(1, 1, 1, tzinfo=utc),
                  datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=utc)):
        assert parse_time(format_time(value)) == value
    for bad in ("2026-03-01T10:00:00.000000+00:00", "2026-03-01 10:00:00.000000Z", "2026-03-01T10:00:00Z",
                "2026-13-01T10:00:00.000000Z", "2026-03-01T10:00:00.00000xZ"):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_payload_bytes_ends_at_the_envelopes_own_prev_hash() -> None:
    env = (b'{"key_id":"' + b"a" * 32 + b'","payload":{"n":{"prev_hash":"x"},"run_id":"r"},"prev_hash":"'
           + b"0" * 64 + b'","seq":1}')
    assert payload_bytes(env) == b'{"n":{"prev_hash":"x"},"run_id":"r"}'
    assert payload_bytes(b'{"payload":{},"key_id":"x"}') is None


def test_payloads_parse_to_the_same_records_as_records(ledger_url: str) -> None:
    with open_ledger(ledger_url, signing_key=Signer.generate()) as led:
        for i in range(3):
            led.append("stage", stage_record(run_id="run-1", hour=i, energy_kwh=0.1 * (i + 1)).model_dump(mode="json"))
        led.append("stage", stage_record(run_id="run-2").model_dump(mode="json"))
        slow = [(r.seq, r.record_hash, StageRecord.model_validate(r.payload))
                for r in led.records(run_id="run-1", record_type="stage")]
        fast = led.payloads("run-1", "stage", StageRecord.model_validate_json)
    assert fast == slow and len(fast) == 3


def test_stage_rows_are_the_records_rows_in_ledger_order(ledger_url: str) -> None:
    with open_ledger(ledger_url, signing_key=Signer.generate()) as led:
        for i in (2, 0, 1):
            led.append("stage", stage_record(run_id="run-1", hour=i, energy_kwh=0.1 * (i + 1)).model_dump(mode="json"))
        records, hashes = load_stage_records(led, "run-1", verify=True)
        rows, row_hashes = load_stage_rows(led, "run-1", verify=True)
    assert rows == stage_rows(records) and row_hashes == hashes and len(rows) == 3
    assert rows[0].host is rows[1].host  # repeated names are one object each


def test_a_signed_record_that_is_no_valid_stage_record_is_bad_input_naming_seq_and_field(ledger_url: str) -> None:
    """A faulty writer's record hashes and verifies all the same: loading it must say what is wrong
    and where (exit 2), never end in a traceback."""
    bad = stage_record(run_id="run-1", hour=1).model_dump(mode="json")
    bad["components"][0]["energy_kwh"] = "-1.0"
    with open_ledger(ledger_url, signing_key=Signer.generate()) as led:
        led.append("stage", stage_record(run_id="run-1").model_dump(mode="json"))
        seq = led.append("stage", bad).seq
        for load in (load_stage_rows, load_stage_records):
            with pytest.raises(InputError) as caught:
                load(led, "run-1", verify=True)
            text = str(caught.value)
            assert f"stage record seq {seq}" in text and "payload.components.0.energy_kwh" in text, text
            assert "greater than or equal to 0" in text


def test_paused_gc_restores_the_collector() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # off before: stays off
    finally:
        gc.enable()


def test_paused_gc_leaves_what_it_made_to_the_oldest_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The block's survivors are not walked again by the next young collections (they were a tenth
    of a 99,000-record gate): they are in the oldest generation when the block ends."""
    import carbonguard.ledger.record as record

    monkeypatch.setattr(record, "_MANY_YOUNG", 100)  # the 1,000 made here count as many
    assert gc.isenabled() and gc.get_freeze_count() == 0
    threshold = gc.get_threshold()
    gc.set_threshold(10**9)  # no collection of our own moves them meanwhile
    try:
        with paused_gc():
            kept = [(i, [i]) for i in range(1000)]
        young = {id(o) for generation in (0, 1) for o in gc.get_objects(generation)}
        assert id(kept[-1][1]) not in young and id(kept) not in young
        assert id(kept[-1][1]) in {id(o) for o in gc.get_objects(2)}
        assert gc.get_freeze_count() == 0  # moved to the oldest generation, not left frozen
    finally:
        gc.set_threshold(*threshold)


def test_paused_gc_never_thaws_what_the_application_froze() -> None:
    """A server that froze its heap before forking workers keeps it frozen."""
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with paused_gc():
            _ = [[i] for i in range(1000)]
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_paused_gc_leaves_a_small_block_to_the_young_collections() -> None:
    """Moving every young object of the process is worth it after a large read, not a small one."""
    threshold = gc.get_threshold()
    gc.collect()
    gc.set_threshold(10**9)
    try:
        with paused_gc():
            kept = [[i] for i in range(100)]
        assert id(kept[-1]) in {id(o) for o in gc.get_objects(0)}
    finally:
        gc.set_threshold(*threshold)
