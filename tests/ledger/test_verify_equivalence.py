"""The verifier's per-record loop judges every row as the loop before it did (tests/ledger/verify_reference.py).

Random tamperings of a ledger's 336 rows (a key rotation among them) (columns retyped or swapped, seqs moved, rows
deleted, duplicated or swapped, envelope bytes flipped with or without a new hash, the seq inside
the envelope rewritten), each checked in one segment and split into segments at random, in random
batch sizes, with and without `deep`: the segments (failure, message, events, link, hashes) and the
verdicts must be equal, or both must raise the same exception. The ledger crosses seq 100, 200 and
300, where the rewritten loop switches the seq's leading digits.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from carbonguard.ledger import open_ledger
from carbonguard.ledger.record import hash_bytes
from carbonguard.ledger.verify import EXIT_EDITED, EXIT_REORDERED, check_segment, combine

from . import verify_reference
from .conftest import stage_record

Row = tuple[Any, ...]


@pytest.fixture(scope="module")
def ledger_rows(tmp_path_factory: pytest.TempPathFactory) -> list[Row]:
    from carbonguard.ledger import Signer

    url = str(tmp_path_factory.mktemp("equivalence") / "ledger.db")
    with open_ledger(url, signing_key=Signer.generate()) as led:
        for t in range(11):  # the key, 11 x 29 stages, checkpoints, a rotation: 336 records
            with led.transaction() as tx:
                for i in range(29):
                    tx.append("stage", stage_record(run_id=f"run-{(t * 29 + i) // 40}").model_dump(mode="json"))
            if t == 6:  # a key record in mid-ledger, then another key writes
                led.rotate_key(Signer.generate())
        rows = [tuple(r) for r in led.store.scan()]
    assert len(rows) > 310
    return rows


def _tamper(rows: list[Row], rng: random.Random) -> list[Row]:
    rows = list(rows)
    i = rng.randrange(len(rows))
    seq, rtype, run_id, rhash, env = rows[i]
    kind = rng.choice(["column", "column", "seq", "swap", "delete", "duplicate", "flip", "flip-rehash",
                       "seq-inside", "envelope-type", "truncate", "run-of-another", "renumber"])
    if kind == "column":
        col = rng.choice([1, 2, 3])
        other = rows[rng.randrange(len(rows))][col]
        value = rng.choice([other, None, 5, 5.0, b"stage", "", "checkpoint", "key", "run-1", "run-\u00e9", 'a"b'])
        rows[i] = (*rows[i][:col], value, *rows[i][col + 1:])
    elif kind == "seq":
        value = rng.choice([seq + 1, seq - 1, float(seq), str(seq), 0, 10**6, True])
        rows[i] = (value, *rows[i][1:])
    elif kind == "swap" and i + 1 < len(rows):
        rows[i], rows[i + 1] = (seq, *rows[i + 1][1:]), (rows[i + 1][0], *rows[i][1:])
    elif kind == "delete":
        del rows[i]
    elif kind == "duplicate":
        rows.insert(i, rows[i])
    elif kind in ("flip", "flip-rehash"):
        at = rng.choice([rng.randrange(len(env)), len(env) - rng.randrange(1, 120)])
        new = env[:at] + bytes([env[at] ^ (1 << rng.randrange(7))]) + env[at + 1:]
        rows[i] = (seq, rtype, run_id, hash_bytes(new) if kind == "flip-rehash" else rhash, new)
    elif kind == "seq-inside":
        new = env.replace(b'"seq":%d,' % seq, b'"seq":%d,' % rng.choice([seq + 1, seq - 1, seq + 100, seq * 10]))
        rows[i] = (seq, rtype, run_id, hash_bytes(new), new)
    elif kind == "envelope-type":
        rows[i] = (seq, rtype, run_id, rhash, rng.choice([env.decode(), bytearray(env), None, 7]))
    elif kind == "truncate":
        rows = rows[:i]
    elif kind == "run-of-another":
        rows[i] = (seq, rtype, rows[rng.randrange(len(rows))][2], rhash, env)
    elif kind == "renumber" and i > 0 and all(type(r[4]) is bytes for r in rows[i - 1:]):
        # rows from i on moved one seq up and chained again, as an attacker without the key can: a gap
        new_prev = old_prev = rows[i - 1][3]
        for j in range(i, len(rows)):
            s, t, r, h, e = rows[j]
            e = e.replace(b'"seq":%d,' % s, b'"seq":%d,' % (s + 1)).replace(
                b'"prev_hash":"' + str(old_prev).encode(), b'"prev_hash":"' + str(new_prev).encode())
            old_prev, new_prev = h, hash_bytes(e)
            rows[j] = (s + 1, t, r, new_prev, e)
    return rows


def _locate(rows: list[Row]) -> Callable[[int], bool]:
    def locate(seq: int) -> bool:
        for r in rows:
            try:
                if json.loads(bytes(r[4])).get("seq") == seq:
                    return True
            except (TypeError, ValueError, AttributeError):
                continue
        return False

    return locate


def _batches(rows: list[Row], rng: random.Random) -> list[list[Row]]:
    out, at = [], 0
    while at < len(rows):
        size = rng.choice([1, 7, 64, 4096])
        out.append(rows[at:at + size])
        at += size
    return out


def _judge(check: Callable, rows: list[Row], cuts: list[int], deep: bool, seed: int) -> Any:
    """Both loops' segments and verdict, with one difference taken out: a key use's event now
    carries its checked link, the hash a failure there reports as the head (the previous loop left
    it out, and a 15 at a key use reported the hash before the segment: all zeros in one process).
    That link is checked here instead: it is the hash of the row before, or the segment's first."""
    rng = random.Random(seed)  # the same batches for both loops
    try:
        bounds = [0, *cuts, len(rows)]
        segments = [check(_batches(rows[a:b], rng), a + 1, deep=deep, locate_seq=_locate(rows),
                          want_hash_at=len(rows) // 2) for a, b in itertools.pairwise(bounds)]
    except Exception as exc:  # the same crash (if any) on both sides
        return type(exc).__name__
    for a, seg in zip(bounds, segments, strict=False):
        for event in seg.events:
            if event[1] == "uses" and check is check_segment:
                seq = event[0]
                assert event[4] == (seg.first_link if seq == seg.first_seq else rows[a + seq - seg.first_seq - 1][3])
        seg.events = [(*e[:4], None, e[5]) if e[1] == "uses" else e for e in seg.events]
    return segments, combine(segments)


@pytest.mark.parametrize("seed", range(8))
def test_the_loop_judges_tampered_rows_as_before(ledger_rows: list[Row], seed: int) -> None:
    rng = random.Random(seed)
    for case in range(60):
        rows = _tamper(ledger_rows, rng)
        if rng.random() < 0.3:
            rows = _tamper(rows, rng)
        cuts = sorted(rng.sample(range(1, len(rows)), rng.choice([0, 1, 2]))) if len(rows) > 3 else []
        deep = rng.random() < 0.2
        now = _judge(check_segment, rows, cuts, deep, case)
        before = _judge(verify_reference.check_segment, rows, cuts, deep, case)
        assert now == before, (seed, case)


def test_intact_and_every_hundred_boundary(ledger_rows: list[Row]) -> None:
    """Intact, and a column edit or a swap on each side of seq 100, 200 and 300, is judged there."""
    assert combine([check_segment([ledger_rows])]).ok
    for seq in (99, 100, 101, 199, 200, 201, 299, 300, 301):
        rows = list(ledger_rows)
        rows[seq - 1] = (*rows[seq - 1][:2], "run-elsewhere", *rows[seq - 1][3:])
        result = combine([check_segment([rows], locate_seq=_locate(rows))])
        assert (result.exit_code, result.seq) == (EXIT_EDITED, seq)
        rows = list(ledger_rows)
        rows[seq - 1], rows[seq] = (seq, *rows[seq][1:]), (seq + 1, *rows[seq - 1][1:])
        result = combine([check_segment([rows], locate_seq=_locate(rows))])
        assert (result.exit_code, result.seq) == (EXIT_REORDERED, seq)
    for first in (95, 100, 150, 200, 250):  # a segment starting anywhere (a worker's range)
        seg = check_segment([ledger_rows[first - 1:]], first)
        assert seg.failure is None and seg.last_seq == len(ledger_rows)


def test_the_reference_is_the_previous_loop() -> None:
    """Guard against the reference being edited along with the loop: it still builds the bytes
    per record with an f-string, as the loop did before."""
    source = Path(verify_reference.__file__).read_text()
    assert 'mid = (f\',"record_type":{rtype_q},"run_id":{run_q},"schema":{SCHEMA_VERSION},"seq":{seq},\'' in source
