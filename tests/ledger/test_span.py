"""What a gate verifies (`Ledger.verify_span`, docs/ledger.md "What a gate verifies"), on both stores.

A gate verifies the chain from the judged run's first record to the head, and every key record to
the checkpoint that seals it, instead of the whole ledger. Each attack below touches the judged
records, a record between them and their checkpoint, the tail or the keys, and must be refused
with the exit code `audit verify` gives it; an edit before the span is left to `audit verify`.
"""

from __future__ import annotations

import json

import pytest

from carbonguard.ledger import Signer, open_ledger
from carbonguard.ledger.record import hash_bytes
from carbonguard.models import JudgedRecords

from .conftest import stage_record
from .tamper import append_raw, raw, rewrite_from, rows, signed_checkpoint


def _stage(run_id: str, hour: int = 0) -> dict:
    return stage_record(run_id=run_id, hour=hour).model_dump(mode="json")


@pytest.fixture
def built(ledger_url: str) -> dict:
    """Filler before the run (key, 120 records of other runs), the judged run `run-j` (two
    stages sealed alone, one sealed together with another run's record), then more filler."""
    signer = Signer.generate()
    with open_ledger(ledger_url, signing_key=signer, checkpoint_every=50) as led:
        with led.transaction() as tx:
            for i in range(120):
                tx.append("stage", _stage(f"before-{i % 3}"))
        first = led.append("stage", _stage("run-j", 1))
        led.append("stage", _stage("run-j", 2))
        with led.transaction() as tx:
            last = tx.append("stage", _stage("run-j", 3))
            between = tx.append("stage", _stage("after-0", 3))  # between run-j's record and its seal
        for i in range(3):
            led.append("stage", _stage(f"after-{i}", 4))
        judged = led.run_seqs(["run-j"], ["stage"])
    assert judged == [first.seq, first.seq + 2, last.seq]
    return {"url": ledger_url, "signer": signer, "first": first.seq, "last": last.seq, "between": between.seq}


def _span(url: str, first: int | None) -> tuple[int, int]:
    with open_ledger(url, create=False) as led:
        result = led.verify_span(first)
        full = led.verify(workers=1)
        if first is not None:  # the gate's one read of run-j's span: the same verdict, records only if intact
            gate, kept, _ = led.verified_run_payloads("run-j", "stage", list)
            assert (gate.exit_code, gate.message, gate.records) == (result.exit_code, result.message, result.records)
            assert len(kept) == (3 if result.ok else 0)
    return result.exit_code, full.exit_code


def _edit(url: str, seq: int) -> None:
    env = next(bytes(r[4]) for r in rows(url) if r[0] == seq)
    with raw(url) as run:
        run("UPDATE records SET envelope = ? WHERE seq = ?", (env.replace(b"host-a", b"host-b"), seq))


def test_an_intact_ledger_passes_reading_only_the_run_span_and_the_keys(built: dict) -> None:
    with open_ledger(built["url"], create=False) as led:
        result = led.verify_span(built["first"])
        head = led.verify(workers=1).head_seq
    assert result.ok, result.message
    assert result.head_seq == head
    # the span from the run's first record, plus the genesis key with the records up to its seal
    # (checkpoint_every=50: records 1..51, the first seal; none of 52..124)
    assert result.records == 51 + head - built["first"] + 1 < head


def test_an_edited_judged_record_is_refused(built: dict) -> None:
    _edit(built["url"], built["last"])
    assert _span(built["url"], built["first"]) == (10, 10)


def test_an_edited_record_between_a_judged_record_and_its_checkpoint_is_refused(built: dict) -> None:
    _edit(built["url"], built["between"])
    assert _span(built["url"], built["first"]) == (10, 10)


def test_a_judged_record_rewritten_and_relinked_to_its_checkpoint_is_refused(built: dict) -> None:
    rewrite_from(built["url"], built["first"], lambda p: p.update(host="host-b"), Signer.generate())
    assert _span(built["url"], built["first"]) == (13, 13)


def test_a_run_record_hidden_from_the_run_index_is_refused(built: dict) -> None:
    with raw(built["url"]) as run:
        run("UPDATE records SET run_id = 'elsewhere' WHERE seq = ?", (built["last"],))
    assert _span(built["url"], built["first"]) == (10, 10)


def test_a_record_deleted_inside_the_span_is_refused(built: dict) -> None:
    with raw(built["url"]) as run:
        run("DELETE FROM records WHERE seq = ?", (built["between"],))
    assert _span(built["url"], built["first"]) == (11, 11)


def test_unsigned_records_at_the_end_are_refused(built: dict) -> None:
    append_raw(built["url"], "stage", _stage("run-j", 5), built["signer"].key_id)
    assert _span(built["url"], built["first"]) == (16, 16)
    assert _span(built["url"], None) == (16, 16)  # the tail alone, as carbon_gate checks before writing


def test_a_fake_checkpoint_column_at_the_end_is_refused(built: dict) -> None:
    """An unsigned record labelled `checkpoint` in its index column, to pass as the last seal."""
    append_raw(built["url"], "stage", _stage("run-j", 5), built["signer"].key_id)
    with raw(built["url"]) as run:
        run("UPDATE records SET record_type = 'checkpoint' WHERE seq = (SELECT max(seq) FROM records)")
    assert _span(built["url"], built["first"]) == (10, 10)
    assert _span(built["url"], None) == (10, 10)


def test_records_under_a_key_rotated_out_are_refused(built: dict) -> None:
    with open_ledger(built["url"], signing_key=built["signer"]) as led:
        led.rotate_key(Signer.generate())
    append_raw(built["url"], "stage", _stage("run-j", 5), built["signer"].key_id)
    signed_checkpoint(built["url"], built["signer"])
    assert _span(built["url"], built["first"]) == (15, 15)


def test_a_forged_genesis_key_record_is_refused_though_it_lies_before_the_span(built: dict) -> None:
    """The key records are verified to their seals wherever they lie: a first key swapped for the
    attacker's own (re-hashed, so only the link after it breaks) is caught."""
    mine = Signer.generate()
    from carbonguard.ledger.keys import key_message
    from carbonguard.ledger.record import Header, envelope_bytes, hash_bytes

    env = json.loads(bytes(rows(built["url"])[0][4]))
    env["key_id"] = mine.key_id
    env["payload"].update(key_id=mine.key_id, public_key=mine.public_b64, signed_by=mine.key_id,
                          signature=mine.sign(key_message("genesis", mine.key_id, mine.public_b64, mine.key_id,
                                                          env["prev_hash"])))
    header = Header(1, env["record_id"], "key", env["time"], env["producer"], mine.key_id, None, env["prev_hash"])
    data = envelope_bytes(header, env["payload"], False)
    with raw(built["url"]) as run:
        run("UPDATE records SET envelope = ?, record_hash = ? WHERE seq = 1", (data, hash_bytes(data)))
    assert _span(built["url"], built["first"]) == (11, 11)


def test_an_edit_before_the_span_is_left_to_audit_verify(built: dict) -> None:
    """The documented boundary: records before the run's span that are not key records are not
    read by a gate; `audit verify` (the whole chain) still refuses the ledger."""
    _edit(built["url"], 80)  # after the genesis key's seal (51), before the run (125)
    assert _span(built["url"], built["first"]) == (0, 10)


def test_a_range_that_comes_back_short_is_refused(built: dict) -> None:
    """Rows that vanish between the index look-up and the read (e.g. a key record's seal deleted
    meanwhile) leave a range short of the seal it was meant to reach: refused, never skipped."""
    with open_ledger(built["url"], create=False) as led:
        scan = led.store.scan_ranges

        def short_first_range(ranges):
            pairs = list(scan(ranges))  # (range index, batch)
            end = max(i for i, (index, _) in enumerate(pairs) if index == 0)
            pairs[end] = (0, pairs[end][1][:-1])  # the first range's last row is gone
            yield from pairs

        led.store.scan_ranges = short_first_range
        result = led.verify_span(built["first"])
    assert result.exit_code == 11, result.message


def test_records_appended_after_the_verified_head_are_not_judged(tmp_path) -> None:
    """A stage of the run committed by another writer while a gate reads waits for the next gate:
    the head, the run's rows and their verification come from one snapshot."""
    from carbonguard.assess import load_stage_records

    url, signer = str(tmp_path / "ledger.db"), Signer.generate()
    with open_ledger(url, signing_key=signer) as led, open_ledger(url, signing_key=signer) as other:
        first = led.append("stage", _stage("run-j", 1))
        head = led.head_seq()
        scan = led.store.scan_ranges

        def scan_after_a_commit(ranges):
            other.append("stage", _stage("run-j", 2))  # just after this gate's snapshot began
            yield from scan(ranges)

        led.store.scan_ranges = scan_after_a_commit
        records, judged = load_stage_records(led, "run-j", verify=True)
        assert led.head_seq() > head  # the other writer's record (and its seal) did land
        assert judged == JudgedRecords.of([first.record_hash], head) and len(records) == 1
        assert len(load_stage_records(led, "run-j")[0]) == 2  # unverified read: both


def test_a_span_read_in_small_batches_is_judged_as_one_read(built: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """A gate checks and parses its span batch by batch, letting rows go once checked: in batches
    of three rows, the run's records and an edit in a late batch are judged as in one batch."""
    import carbonguard.ledger.postgres_store as postgres_store
    import carbonguard.ledger.sqlite_store as sqlite_store

    with open_ledger(built["url"], create=False) as led:
        whole = led.verified_run_payloads("run-j", "stage", list)
    for module in (sqlite_store, postgres_store):
        monkeypatch.setattr(module, "RANGE_BATCH_ROWS", 3)
    with open_ledger(built["url"], create=False) as led:
        pairs = list(led.store.scan_ranges([(1, 7), (9, 9), (20, 21)]))
        assert [(i, len(b)) for i, b in pairs] == [(0, 3), (0, 3), (0, 1), (1, 1), (2, 2)]
        small = led.verified_run_payloads("run-j", "stage", list)
    assert small.result.ok and small.entries == whole.entries and small.judged == whole.judged
    _edit(built["url"], built["last"])
    with open_ledger(built["url"], create=False) as led:
        assert led.verified_run_payloads("run-j", "stage", list).result.exit_code == 10


def test_a_range_left_unread_is_skipped_by_the_next() -> None:
    """A check that stops early leaves the rest of its range unread: the next range starts at its own rows."""
    from carbonguard.ledger.ledger import _per_range

    pairs = [(0, ["a"]), (0, ["b"]), (1, ["c"]), (2, []), (3, ["d"])]
    first, second, third, fourth = _per_range(iter(pairs), 4)
    assert next(first) == ["a"]  # stops here, as a failed check does
    assert list(second) == [["c"]] and list(third) == [[]] and list(fourth) == [["d"]]


def test_a_parser_that_raises_waits_for_the_verdict(built: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """A gate parses each batch once checked, before the whole span is: what the parser raises on
    an edited record is not reported while the span fails; on an intact span it is raised."""
    import carbonguard.ledger.postgres_store as postgres_store
    import carbonguard.ledger.sqlite_store as sqlite_store

    for module in (sqlite_store, postgres_store):  # one row a batch: the edited one is parsed
        monkeypatch.setattr(module, "RANGE_BATCH_ROWS", 1)  # before the broken link after it is read

    def fussy(payloads: list[bytes]) -> list:
        if any(b'"stage":"fit-edited"' in p for p in payloads):
            raise RuntimeError("the parser broke")
        return payloads

    def broken(payloads: list[bytes]) -> list:
        raise RuntimeError("the parser broke")

    with open_ledger(built["url"], create=False) as led:
        assert led.verified_run_payloads("run-j", "stage", fussy).result.ok
        with pytest.raises(RuntimeError, match="the parser broke"):
            led.verified_run_payloads("run-j", "stage", broken)
    env = next(json.loads(bytes(r[4])) for r in rows(built["url"]) if r[0] == built["first"])
    env["payload"]["stage"] = "fit-edited"
    data = json.dumps(env, sort_keys=True, separators=(",", ":")).encode()
    with raw(built["url"]) as run:  # edited and re-hashed: the next record's link is what fails
        run("UPDATE records SET envelope = ?, record_hash = ? WHERE seq = ?",
            (data, hash_bytes(data), built["first"]))
    with open_ledger(built["url"], create=False) as led:
        assert led.verified_run_payloads("run-j", "stage", fussy).result.exit_code == 11
