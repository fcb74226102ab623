"""Verification checks the signature that covers each stretch of the chain, and judges any failure
exactly as checking every signature does (docs/ledger.md, "Verifying").

A ledger written by `append` is half checkpoints (every write is sealed), and an Ed25519
verification costs more than every other check of a record together: checking each one made a
million-record ledger verify at about 25,000 records/s. The last checkpoint of a stretch of linked
records covers, through the links, every record and checkpoint before it, so an edit anywhere
before it fails there; when it does, verification runs again checking every signature, which
names the first checkpoint that fails, as before.
"""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from carbonguard.ledger import Signer, open_ledger
from carbonguard.ledger import verify as verify_module
from carbonguard.ledger.keys import checkpoint_message
from carbonguard.ledger.record import hash_bytes
from carbonguard.ledger.verify import SignatureRecheck, VerifyResult, check_segment, combine

from . import verify_reference
from .conftest import stage_record
from .tamper import raw, rewrite_from, rows
from .test_guarantee import append_under_unenrolled_key, retired_key_writes_on
from .test_verify_equivalence import _batches, _locate, _tamper

Row = tuple[Any, ...]


def _stage(run_id: str = "run-1", hour: int = 0) -> dict:
    return stage_record(run_id=run_id, hour=hour).model_dump(mode="json")


@pytest.fixture(scope="module")
def sealed_rows(tmp_path_factory: pytest.TempPathFactory) -> list[Row]:
    """A ledger as `append` writes it: every stage sealed by its own checkpoint, a key rotation."""
    url = str(tmp_path_factory.mktemp("deferred") / "ledger.db")
    with open_ledger(url, signing_key=Signer.generate()) as led:
        for i in range(60):
            led.append("stage", _stage(f"run-{i // 7}"))
            if i == 30:
                led.rotate_key(Signer.generate())
        out = [tuple(r) for r in led.store.scan()]
    assert len(out) > 120
    return out


def _judged(result: VerifyResult) -> tuple:
    return (result.ok, result.exit_code, result.message.split("; ")[0], result.failure, result.seq,
            result.record_id, result.records, result.checkpoints)


def _deferred(rows: list[Row], cuts: list[int], seed: int, deep: bool = False) -> VerifyResult:
    """What `Ledger.verify` does: the stretches' last signatures, and every one if that fails."""
    bounds = [0, *cuts, len(rows)]

    def run(every: bool) -> VerifyResult:
        rng = random.Random(seed)
        segments = [check_segment(_batches(rows[a:b], rng), a + 1, locate_seq=_locate(rows), deep=deep,
                                  every_signature=every)
                    for a, b in itertools.pairwise(bounds)]
        return combine(segments, every_signature=every)

    try:
        return run(False)
    except SignatureRecheck:
        return run(True)


def _every(rows: list[Row], cuts: list[int], seed: int, deep: bool = False) -> VerifyResult:
    """The previous loop (tests/ledger/verify_reference.py), every signature checked."""
    rng = random.Random(seed)
    bounds = [0, *cuts, len(rows)]
    return combine([verify_reference.check_segment(_batches(rows[a:b], rng), a + 1, locate_seq=_locate(rows),
                                                   deep=deep)
                    for a, b in itertools.pairwise(bounds)])


def _rechain(rows: list[Row], at: int, attacker: Signer | None) -> list[Row]:
    """Edit record `at`'s payload and re-hash and re-link everything after it, as someone with
    write access does; checkpoints keep their signatures, or are signed again by `attacker`."""
    out, prev = list(rows[:at - 1]), rows[at - 2][3]
    for seq, rtype, run_id, _, env in rows[at - 1:]:
        doc = json.loads(env)
        if seq == at:
            doc["payload"]["stage"] = "edited"
        doc["prev_hash"] = prev
        if rtype == "checkpoint":
            doc["payload"]["head_hash"] = prev
            if attacker is not None:
                p = doc["payload"]
                p["signature"] = attacker.sign(checkpoint_message(p["size"], prev, p["time"], p["key_id"]))
        data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        prev = hash_bytes(data)
        out.append((seq, rtype, run_id, prev, data))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_any_tampering_is_judged_as_checking_every_signature_judges_it(sealed_rows: list[Row], seed: int) -> None:
    rng = random.Random(seed)
    for case in range(40):
        rows = _tamper(sealed_rows, rng)
        cuts = sorted(rng.sample(range(1, len(rows)), rng.choice([0, 1, 2]))) if len(rows) > 3 else []
        assert _judged(_deferred(rows, cuts, case)) == _judged(_every(rows, cuts, case)), (seed, case)


_CHECKPOINT_EDITS = ("size", "head_hash", "key_id", "signature", "drop", "extra", "not-json", "to-stage",
                     "to-checkpoint", "payload-of-another")


def _checkpoint_tamper(rows: list[Row], rng: random.Random, attacker: Signer) -> list[Row]:
    """Edit one checkpoint (or make a stage claim to be one), re-hash it, then re-link the rows after
    it up to a random point, their checkpoints naming the new heads and signed again under the
    attacker's key or left with their signatures: what someone without the key can do to the
    checkpoints that verification no longer reads one by one."""
    rows = list(rows)
    edit = rng.choice(_CHECKPOINT_EDITS)
    kinds = "stage" if edit == "to-checkpoint" else "checkpoint"
    i = rng.choice([j for j, r in enumerate(rows) if r[1] == kinds])
    seq, rtype, run_id, _, env = rows[i]
    doc = json.loads(env)
    payload = doc["payload"]
    if edit in ("size", "head_hash", "key_id", "signature"):
        payload[edit] = (payload[edit] + rng.choice([1, -1]) if edit == "size" else
                         attacker.key_id if edit == "key_id" else payload[edit][::-1])
    elif edit == "drop":
        del payload[rng.choice(sorted(payload))]
    elif edit == "extra":
        payload["note"] = "x"
    elif edit == "payload-of-another":
        doc["payload"] = json.loads(rows[rng.choice([j for j, r in enumerate(rows) if r[1] == "checkpoint"])][4])[
            "payload"]
    elif edit in ("to-stage", "to-checkpoint"):
        rtype = doc["record_type"] = "stage" if edit == "to-stage" else "checkpoint"
    data = (env.replace(b'"size":', b'"size"::', 1) if edit == "not-json" else
            json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())
    rows[i] = (seq, rtype, run_id, hash_bytes(data), data)
    prev, resign = rows[i][3], rng.random() < 0.5
    for j in range(i + 1, rng.choice([i + 1, i + 2, i + rng.randrange(1, 30), len(rows)])):
        if j >= len(rows):
            break
        seq, rtype, run_id, _, env = rows[j]
        doc = json.loads(env)
        doc["prev_hash"] = prev
        if rtype == "checkpoint":
            p = doc["payload"]
            p["head_hash"] = prev
            if resign:
                p["signature"] = attacker.sign(checkpoint_message(p["size"], prev, p["time"], p["key_id"]))
        data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        prev = hash_bytes(data)
        rows[j] = (seq, rtype, run_id, prev, data)
    return rows


@pytest.mark.parametrize("seed", range(3))
def test_tampered_checkpoints_are_judged_as_reading_every_one_judges_them(sealed_rows: list[Row], seed: int) -> None:
    """Checkpoints inside a stretch are read only when they become events: whatever is done to one
    (re-hashed, the rows after it re-linked to any point, re-signed or not), the verdict, the head
    it reached and the unsigned tail are those of reading every one, in segments and with `deep`."""
    rng, attacker = random.Random(seed), Signer.generate()
    for case in range(50):
        rows = _checkpoint_tamper(sealed_rows, rng, attacker)
        cuts = sorted(rng.sample(range(1, len(rows)), rng.choice([0, 1, 2])))
        deep = rng.random() < 0.3
        fast, every = _deferred(rows, cuts, case, deep), _every(rows, cuts, case, deep)
        assert _judged(fast) == _judged(every), (seed, case)
        # the head each reached, against this loop reading every checkpoint (the previous loop did
        # not carry a key use's link, so a 15 there reported a stale head hash)
        rng_batches = random.Random(case)
        full = combine([check_segment(_batches(rows[a:b], rng_batches), a + 1, locate_seq=_locate(rows), deep=deep)
                        for a, b in itertools.pairwise([0, *cuts, len(rows)])])
        assert (fast.head_seq, fast.head_hash, fast.unsigned_tail) == \
            (full.head_seq, full.head_hash, full.unsigned_tail), (seed, case)


@pytest.mark.parametrize("at", [3, 40, 64, 65, 100])
def test_an_edit_re_linked_to_the_end_fails_at_the_next_checkpoint(sealed_rows: list[Row], at: int) -> None:
    """Without the key, the re-linked chain breaks every later signature: the first is named."""
    for attacker in (None, Signer.generate()):
        rows = _rechain(sealed_rows, at, attacker)
        for cuts in ([], [len(rows) // 2]):
            deferred, every = _deferred(rows, cuts, 0), _every(rows, cuts, 0)
            assert _judged(deferred) == _judged(every)
            assert deferred.exit_code in (13, 15) and deferred.seq is not None and deferred.seq >= at


def test_an_intact_ledger_checks_one_signature_per_stretch(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = str(tmp_path / "ledger.db")
    with open_ledger(url, signing_key=Signer.generate()) as led:
        for i in range(40):
            led.append("stage", _stage(hour=i % 5))
    calls = []
    real = verify_module.verify_signature
    monkeypatch.setattr(verify_module, "verify_signature", lambda *a: calls.append(a) or real(*a))
    with open_ledger(url, create=False) as led:
        fast = led.verify(workers=1)
        assert fast.ok and fast.checkpoints == 40 and fast.signatures == 1 and len(calls) == 1
        assert "1 checkpoint signature verified, the last of each stretch" in fast.message
        calls.clear()
        every = led.verify(workers=1, every_signature=True)
        assert every.ok and every.signatures == 40 and len(calls) == 40
        assert led.verify(workers=2).signatures == 1  # two contiguous ranges in two processes: one stretch
        assert "every checkpoint signature verified" in every.message
        span = led.verify_span(led.run_seqs(["run-1"], ["stage"])[-1])
        assert span.ok and span.signatures <= 2  # the key record's seal, and the head's checkpoint


def _bad_signature_at(url: str, seq: int, signer: Signer, field: str = "signature") -> None:
    """Record `seq` (a checkpoint) gets a signature over other bytes (or a `size` one too large),
    and every record after it is re-linked and every later checkpoint signed again with the
    writer's own key: what a writer with a bug could leave, not what an attacker without the key
    can."""
    env = next(json.loads(bytes(r[4])) for r in rows(url) if r[0] == seq)
    assert env["record_type"] == "checkpoint"
    if field == "signature":
        env["payload"]["signature"] = signer.sign(b"not this checkpoint")
    else:
        env["payload"]["size"] += 1
    data = json.dumps(env, sort_keys=True, separators=(",", ":")).encode()
    with raw(url) as run:
        run("UPDATE records SET envelope = ?, record_hash = ? WHERE seq = ?", (data, hash_bytes(data), seq))
    rewrite_from(url, seq + 1, lambda payload: None, signer)


@pytest.mark.parametrize(("field", "why"), [("signature", "signature does not verify"),
                                           ("size", "does not describe the records before it")])
def test_a_bad_checkpoint_a_trusted_writer_wrote_mid_ledger_needs_every_signature(tmp_path, field: str,
                                                                                  why: str) -> None:
    """The one thing checking the covering signature does not catch, as documented: a checkpoint
    with a bad signature, or one that misstates its place, followed by good ones from the same
    trusted key (the checkpoints between a stretch's ends are not read). `--every-signature` does."""
    url, signer = str(tmp_path / "ledger.db"), Signer.generate()
    with open_ledger(url, signing_key=signer) as led:
        for i in range(6):
            led.append("stage", _stage(hour=i))
    _bad_signature_at(url, 7, signer, field)  # key, stage, checkpoint, stage, checkpoint, stage, checkpoint 7
    with open_ledger(url, create=False) as led:
        assert led.verify(workers=1).ok
        every = led.verify(workers=1, every_signature=True)
        assert (every.exit_code, every.seq) == (13, 7) and why in every.message
    cli = [sys.executable, "-m", "carbonguard", "audit", "verify", "--ledger", url]
    assert subprocess.run(cli, capture_output=True, timeout=60).returncode == 0
    out = subprocess.run([*cli, "--every-signature", "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 13 and json.loads(out.stdout)["seq"] == 7


def test_a_gate_checks_the_seal_of_each_stretch_it_reads(tmp_path) -> None:
    """A span (what a gate verifies) is made of stretches that are not linked to each other (a key
    record and its seal, then the run to the head): each stretch's last signature is checked, so a
    seal edited and re-hashed, its next link left broken in the part a gate does not read, fails."""
    url = str(tmp_path / "ledger.db")
    with open_ledger(url, signing_key=Signer.generate()) as led:
        for i in range(60):  # 120 records: more than a span reads through to join two ranges
            led.append("stage", _stage("before", hour=i % 5))
        judged = led.append("stage", _stage("run-j"))
    seal = 3  # the genesis key (1), the first stage (2), its seal (3)
    env = next(json.loads(bytes(r[4])) for r in rows(url) if r[0] == seal)
    assert env["record_type"] == "checkpoint"
    env["payload"]["signature"] = env["payload"]["signature"][::-1]
    data = json.dumps(env, sort_keys=True, separators=(",", ":")).encode()
    with raw(url) as run:
        run("UPDATE records SET envelope = ?, record_hash = ? WHERE seq = ?", (data, hash_bytes(data), seal))
    with open_ledger(url, create=False) as led:
        span = led.verify_span(judged.seq)
        assert (span.exit_code, span.seq) == (13, seal)
        assert span.records < 10  # two stretches, not the chain between them
        assert (led.verify(workers=2).exit_code, led.verify(workers=2).seq) == (13, seal)  # in worker processes
        full = led.verify(workers=1)  # the whole chain: its signature comes before the broken link after it
        assert (full.exit_code, full.seq) == (13, seal) == (led.verify(workers=1, every_signature=True).exit_code, seal)


def _decoy(url: str) -> int:
    """An attacker without the key edits the first stage and re-links everything after it; each
    checkpoint keeps its genuine signed payload and its original top-level `prev_hash`, while the
    link the bytes hold is a `prev_hash` nested after it, in an object put where `producer` stands.
    Returns the edited stage's seq."""
    all_rows = rows(url)
    target = next(r[0] for r in all_rows if r[1] == "stage")
    original = {r[0]: r[3] for r in all_rows}
    with raw(url) as run:
        link = original[target - 1]
        for seq, rtype, _, _, env in all_rows:
            if seq < target:
                continue
            doc = json.loads(bytes(env))
            if seq == target:
                doc["payload"]["stage"] = "edited"
            if rtype == "checkpoint":
                doc["prev_hash"] = original[seq - 1]
                doc["producer"] = {"a": doc["producer"], "prev_hash": link}
            else:
                doc["prev_hash"] = link
            data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
            link = hash_bytes(data)
            run("UPDATE records SET envelope = ?, record_hash = ? WHERE seq = ?", (data, link, seq))
    return target


def test_a_prev_hash_nested_after_the_real_one_is_not_the_link(ledger_url: str) -> None:
    """The link the bytes are checked for and the link a signature covers are one field: a decoy
    `prev_hash` after the real one passed every verification and handed the gate the edited stage."""
    with open_ledger(ledger_url, signing_key=Signer.generate()) as led:
        for i in range(6):
            led.append("stage", _stage("run-x", hour=i))
    target = _decoy(ledger_url)
    with open_ledger(ledger_url, create=False) as led:
        for result in (led.verify(workers=1), led.verify(workers=1, every_signature=True),
                       led.verify(workers=1, deep=True), led.verify_span(target)):
            assert (result.exit_code, result.seq) == (11, target + 1), result.message
        gate = led.verified_run_payloads("run-x", "stage", list)
        assert gate.result.exit_code == 11 and gate.entries == []


def test_a_second_key_id_is_refused_not_a_crash(tmp_path) -> None:
    """A checkpoint with a second top-level `key_id` that is not text was a TypeError (exit 70)."""
    url = str(tmp_path / "ledger.db")
    with open_ledger(url, signing_key=Signer.generate()) as led:
        for i in range(4):
            led.append("stage", _stage(hour=i))
    seq, _, _, _, env = rows(url)[-1]
    doc = json.loads(bytes(env))
    doc["payload"]["key_id"] = ["x"]
    data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    at = data.index(b'},"prev_hash":') + 1
    data = data[:at] + b',"key_id":["x"]' + data[at:]
    with raw(url) as run:
        run("UPDATE records SET envelope = ?, record_hash = ? WHERE seq = ?", (data, hash_bytes(data), seq))
    with open_ledger(url, create=False) as led:
        for result in (led.verify(workers=1), led.verify(workers=1, every_signature=True), led.verify_span(None)):
            assert (result.exit_code, result.seq) == (10, seq), result.message


def test_a_checkpoint_of_the_wrong_size_reports_the_same_head_either_way(tmp_path) -> None:
    url = str(tmp_path / "ledger.db")
    with open_ledger(url, signing_key=Signer.generate()) as led:
        for i in range(4):
            led.append("stage", _stage(hour=i))
    seq, _, _, _, env = rows(url)[4]  # the second stage's seal
    doc = json.loads(bytes(env))
    doc["payload"]["size"] += 1
    data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    with raw(url) as run:
        run("UPDATE records SET envelope = ?, record_hash = ? WHERE seq = ?", (data, hash_bytes(data), seq))
    with open_ledger(url, create=False) as led:
        fast, every = led.verify(workers=1), led.verify(workers=1, every_signature=True)
        assert (fast.exit_code, fast.seq) == (every.exit_code, every.seq) == (13, seq)
        assert fast.head_hash == every.head_hash == rows(url)[seq - 2][3]


@pytest.mark.parametrize("edit", ["size", "head_hash", "not-json", "key_id"])
def test_a_bad_last_checkpoint_is_judged_with_every_checkpoint_before_it_read(tmp_path, edit: str) -> None:
    """The checkpoints inside a stretch are read only when one becomes an event. When the one at
    its end turns out wrong (edited and re-hashed: nothing after it to break), the failure is
    judged again with every checkpoint read and every signature checked, so what is reported,
    the count of checkpoints before it included, is what checking every one reports."""
    url = str(tmp_path / "ledger.db")
    with open_ledger(url, signing_key=Signer.generate()) as led:
        for i in range(8):
            led.append("stage", _stage(hour=i))
    seq, _, _, _, env = rows(url)[-1]  # the head: the last stage's seal
    doc = json.loads(bytes(env))
    if edit == "not-json":  # its frame (start, columns, link, time) as it was
        data = bytes(env).replace(b'"size":', b'"size"::', 1)
    else:
        doc["payload"][edit] = (doc["payload"][edit] + 1 if edit == "size" else "0" * len(doc["payload"][edit]))
        data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    with raw(url) as run:
        run("UPDATE records SET envelope = ?, record_hash = ? WHERE seq = ?", (data, hash_bytes(data), seq))
    with open_ledger(url, create=False) as led:
        fast, every = led.verify(workers=1), led.verify(workers=1, every_signature=True)
    assert not every.ok and every.seq == seq and every.checkpoints == 7
    assert _judged(fast) == _judged(every)


def _nest(env: bytes, depth: int = 200_000) -> bytes:
    """The envelope with a value nested deeper than the JSON parser can follow, its frame kept."""
    return env.replace(b'"payload":{', b'"payload":{"x":' + b"[" * depth + b"]" * depth + b",", 1)


def test_json_nested_too_deeply_is_an_edit_not_a_crash(tmp_path) -> None:
    """Found in review: a checkpoint re-hashed with 200,000 nested brackets raised RecursionError
    out of every verification (`audit verify` exited 70, an internal error). It is an edit (10),
    named at its record, in both modes, and so is a stage edited so (not re-hashed)."""
    url = str(tmp_path / "ledger.db")
    with open_ledger(url, signing_key=Signer.generate()) as led:
        for i in range(4):
            led.append("stage", _stage(hour=i))
    table = rows(url)
    head_seq, stage_seq = table[-1][0], table[-2][0]
    data = _nest(bytes(table[-1][4]))
    with raw(url) as run:
        run("UPDATE records SET envelope = ?, record_hash = ? WHERE seq = ?", (data, hash_bytes(data), head_seq))
        run("UPDATE records SET envelope = ? WHERE seq = ?", (_nest(bytes(table[-2][4])), stage_seq))
    with open_ledger(url, create=False) as led:
        for every in (False, True):
            result = led.verify(workers=1, every_signature=every)
            assert (result.exit_code, result.seq) == (10, stage_seq), result.message
    with raw(url) as run:
        run("UPDATE records SET envelope = ? WHERE seq = ?", (bytes(table[-2][4]), stage_seq))
    with open_ledger(url, create=False) as led:
        for every in (False, True):
            result = led.verify(workers=1, every_signature=every)
            assert (result.exit_code, result.seq) == (10, head_seq) and "not JSON" in result.message


def test_a_subflow_record_nested_too_deeply_fails_the_gate_read_not_the_command(tmp_path) -> None:
    """The run tree is read before the span is verified: a subflow record that cannot be read names
    no child, and the span's verification, which covers it, reports the edit."""
    from carbonguard.runtree import subflow_payload

    url = str(tmp_path / "ledger.db")
    with open_ledger(url, signing_key=Signer.generate()) as led:
        led.append("stage", _stage("run-1"))
        sub = led.append("subflow", subflow_payload("run-1", "run-2"))
        led.append("stage", _stage("run-2"))
    seq = next(r[0] for r in rows(url) if r[3] == sub.record_hash)
    data = _nest(bytes(next(r[4] for r in rows(url) if r[0] == seq)))
    with raw(url) as run:
        run("UPDATE records SET envelope = ?, record_hash = ? WHERE seq = ?", (data, hash_bytes(data), seq))
    with open_ledger(url, create=False) as led:
        assert led.run_tree("run-1") == ["run-1"]
        read = led.verified_run_payloads("run-1", "stage", lambda payloads: payloads)
    assert not read.result.ok and read.result.exit_code == 11 and read.result.seq == seq + 1
    assert read.entries == []


@pytest.mark.parametrize("attack", [append_under_unenrolled_key, retired_key_writes_on])
def test_a_record_under_an_untrusted_key_reports_the_head_before_it(ledger_url: str, tmp_path: Path,
                                                                    attack: Callable) -> None:
    """A 15 at a record written under a key not trusted there reports, as the last good record, the
    one before it and that record's hash (it reported the hash before the whole segment: all zeros
    in `audit verify`, whatever the seq), in both modes, on both stores."""
    signer = Signer.generate()
    with open_ledger(ledger_url, signing_key=signer) as led:
        for i in range(5):
            led.append("stage", _stage(f"run-{i % 2}", hour=i))
    attack(ledger_url, {"signer": signer, "head": 11, "tmp": tmp_path})
    with open_ledger(ledger_url, create=False) as led:
        hashes = {r[0]: r[3] for r in led.store.scan()}
        for every in (False, True):
            result = led.verify(workers=1, every_signature=every)
            assert result.exit_code == 15 and result.head_seq == result.seq - 1, result.message
            assert result.head_hash == hashes[result.head_seq]


def test_a_key_record_with_a_field_that_is_not_text_is_refused_not_a_crash(tmp_path) -> None:
    url = str(tmp_path / "ledger.db")
    with open_ledger(url, signing_key=Signer.generate()) as led:
        led.append("stage", _stage())
    seq, _, _, _, env = rows(url)[0]  # the genesis key record
    doc = json.loads(bytes(env))
    doc["payload"]["action"] = ["genesis"]
    data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    with raw(url) as run:
        run("UPDATE records SET envelope = ?, record_hash = ? WHERE seq = ?", (data, hash_bytes(data), seq))
    with open_ledger(url, create=False) as led:
        for result in (led.verify(workers=1), led.verify_span(None)):
            assert (result.exit_code, result.seq) == (13, seq) and "malformed" in result.message


def test_a_gate_never_judges_on_a_re_check_that_passes(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a failed covering signature the re-check reads no records to judge; should it ever
    pass (it cannot: the signature that failed is checked again), the gate refuses rather than
    judge a run of no records."""
    import carbonguard.ledger.ledger as ledger_mod
    from carbonguard.ledger.store import LedgerError

    url = str(tmp_path / "ledger.db")
    with open_ledger(url, signing_key=Signer.generate()) as led:
        led.append("stage", _stage())
    real = ledger_mod.combine

    def flaky(*args, every_signature: bool = True, **kwargs):
        if not every_signature:
            raise SignatureRecheck(0)
        return real(*args, every_signature=every_signature, **kwargs)

    monkeypatch.setattr(ledger_mod, "combine", flaky)
    with open_ledger(url, create=False) as led, pytest.raises(LedgerError, match="failed, then verified"):
        led.verified_run_payloads("run-1", "stage", list)
