"""Judged records: the digest's canonical form, the ledger's check of a decision's digest on append
(both stores), old decisions and footprints with the full list, and the listing derived again."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import pytest

from carbonguard.errors import InputError
from carbonguard.judged import judged_sha256
from carbonguard.ledger import open_ledger
from carbonguard.models import Decision, JudgedRecords, Outcome, RunFootprint
from carbonguard.reporting.judged import judged_listing
from carbonguard.runtree import subflow_payload

from .conftest import stage_record
from .tamper import raw

H1, H2, H3 = "1" * 64, "a" * 64, "0f" * 32


def _decision(run_id: str = "run-1", judged: JudgedRecords | None = None, hashes: tuple[str, ...] = ()) -> dict:
    return Decision(outcome=Outcome.ALLOW, run_id=run_id, policy_name="team", policy_version="3",
                    policy_hash="a" * 64, evaluated_at=datetime(2026, 3, 1, 2, tzinfo=timezone.utc),
                    judged_records=judged, evaluated_record_hashes=hashes).model_dump(mode="json")


def test_the_digest_is_sha256_of_the_sorted_hashes_one_per_line() -> None:
    expected = hashlib.sha256(f"{H3}\n{H1}\n{H2}\n".encode()).hexdigest()  # what `sort | sha256sum` prints
    assert judged_sha256([H2, H1, H3]) == expected
    assert judged_sha256([H3, H2, H1]) == judged_sha256(h for h in (H1, H3, H2)) == expected  # any order
    assert judged_sha256([]) == hashlib.sha256(b"").hexdigest()
    assert judged_sha256([H1, H2]) != judged_sha256([H1, H3])
    expected = {"count": 2, "sha256": judged_sha256([H1, H2]), "through_seq": 12}
    assert JudgedRecords.of([H2, H1], 12).model_dump() == expected
    assert JudgedRecords.of([H1, H2], 12).model_dump() == expected


def test_new_payloads_carry_the_digest_and_old_ones_with_the_list_still_load() -> None:
    new = _decision(judged=JudgedRecords.of([H1, H2], 5))
    assert "evaluated_record_hashes" not in new and new["judged_records"]["count"] == 2
    old = dict(new, evaluated_record_hashes=[H1, H2])
    del old["judged_records"]
    decision = Decision.model_validate(old)
    assert decision.evaluated_record_hashes == (H1, H2) and decision.judged_records is None
    assert decision.model_dump(mode="json")["evaluated_record_hashes"] == [H1, H2]  # kept when read back
    footprint = RunFootprint(run_id="r", zone="DE", pue=1.2, it_energy_kwh=1, energy_kwh=1.2, energy_upper_kwh=1.2,
                             record_hashes=(H1,))
    again = RunFootprint.model_validate(footprint.model_dump(mode="json"))
    assert again.record_hashes == (H1,) and again.judged_records is None
    assert "record_hashes" not in RunFootprint(run_id="r", zone="DE", pue=1.2, it_energy_kwh=1, energy_kwh=1.2,
                                               energy_upper_kwh=1.2).model_dump(mode="json")


def _run_with_subflow(led) -> tuple[list[str], int]:
    """run-1 with one stage, a subflow run-2 with two; returns the stage hashes and the head."""
    hashes = [led.append("stage", stage_record("run-1").model_dump(mode="json")).record_hash]
    led.append("subflow", subflow_payload("run-1", "run-2"))
    hashes += [led.append("stage", stage_record("run-2", stage=s).model_dump(mode="json")).record_hash
               for s in ("a", "b")]
    led.append("stage", stage_record("run-9").model_dump(mode="json"))  # another run: never judged
    return hashes, led.head_seq()


def test_a_matching_digest_is_appended_and_listed_again(ledger_url: str, key_file: Path) -> None:
    with open_ledger(ledger_url, signing_key=key_file) as led:
        hashes, head = _run_with_subflow(led)
        record = led.append("decision", _decision(judged=JudgedRecords.of(hashes, head)))
        listing = judged_listing(led, record)
        assert listing.matches and listing.exit_code == 0 and listing.form == "digest"
        assert [e.record_hash for e in listing.entries] == hashes
        assert [e.run_id for e in listing.entries] == ["run-1", "run-2", "run-2"]
        # Appended later: a stage of the run, a new subflow with a stage. Not what it judged.
        led.append("stage", stage_record("run-1", stage="late").model_dump(mode="json"))
        led.append("subflow", subflow_payload("run-1", "run-9"))
        assert judged_listing(led, record).matches
        assert led.verify().ok


@pytest.mark.parametrize("wrong", ["sha256", "count", "through_seq", "beyond_head"])
def test_a_digest_that_does_not_match_the_run_is_refused(ledger_url: str, key_file: Path, wrong: str) -> None:
    with open_ledger(ledger_url, signing_key=key_file) as led:
        hashes, head = _run_with_subflow(led)
        judged = {"sha256": JudgedRecords.of(hashes[:2], head),  # one record left out
                  "count": JudgedRecords(count=2, sha256=judged_sha256(hashes), through_seq=head),
                  "through_seq": JudgedRecords.of(hashes, 2),  # run-2's stages came later
                  "beyond_head": JudgedRecords.of(hashes, head + 50)}[wrong]
        field = "through_seq" if wrong == "beyond_head" else ""
        with pytest.raises(InputError, match=f"judged_records{'.' + field if field else ''}"):
            led.append("decision", _decision(judged=judged))
        assert led.records(record_type="decision") == []
        assert led.verify().ok


def test_a_decision_needs_a_well_formed_digest_or_the_old_list(ledger_url: str, key_file: Path) -> None:
    with open_ledger(ledger_url, signing_key=key_file) as led:
        hashes, head = _run_with_subflow(led)
        good = _decision(judged=JudgedRecords.of(hashes, head))
        for bad, where in [({k: v for k, v in good.items() if k != "judged_records"}, "payload.judged_records"),
                           (dict(good, judged_records={**good["judged_records"], "sha256": "X"}), "sha256"),
                           (dict(good, judged_records={**good["judged_records"], "count": -1}), "count"),
                           (dict(good, evaluated_record_hashes=hashes), "not both")]:
            with pytest.raises(InputError, match=where):
                led.append("decision", bad)
        # The form written before the digest is still accepted when every named record exists.
        old = led.append("decision", _decision(hashes=tuple(hashes)))
        assert judged_listing(led, old).matches and judged_listing(led, old).form == "list"
        with pytest.raises(InputError, match="does not hold"):
            led.append("decision", _decision(hashes=(H1,)))


def test_an_old_decision_naming_records_outside_its_run_is_reported(ledger_url: str, key_file: Path) -> None:
    with open_ledger(ledger_url, signing_key=key_file) as led:
        hashes, _ = _run_with_subflow(led)
        stranger = led.records(run_id="run-9")[0].record_hash
        record = led.append("decision", _decision(hashes=(hashes[0], stranger)))  # both exist: accepted then
        listing = judged_listing(led, record)
        assert not listing.matches and listing.exit_code == 17 and listing.missing == (stranger,)


def _read_run(led, run_id: str = "run-1") -> int:
    """What a gate does first: verify the run's span and read its stage records; returns the head."""
    result, _, _ = led.verified_run_payloads(run_id, "stage", lambda payloads: payloads)
    assert result.ok
    return result.head_seq


def test_a_run_just_verified_is_not_derived_again_for_its_decision(
        ledger_url: str, key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The digest of the records the ledger itself verified for the run is what the decision is
    checked against: a run of 99,000 records is not read a third time."""
    with open_ledger(ledger_url, signing_key=key_file) as led:
        hashes, _ = _run_with_subflow(led)
        head = _read_run(led)

        def derive_again(*_args: object) -> None:
            raise AssertionError("the judged records were derived again")

        monkeypatch.setattr(led, "judged_hashes", derive_again)
        with pytest.raises(InputError, match="does not match the ledger"):  # still checked, against the read
            led.append("decision", _decision(judged=JudgedRecords.of(hashes[:2], head)))
        with pytest.raises(InputError, match="does not match the ledger"):
            led.append("decision", _decision(judged=JudgedRecords(count=2, sha256=judged_sha256(hashes),
                                                                  through_seq=head)))
        led.append("decision", _decision(judged=JudgedRecords.of(hashes, head)))
        with pytest.raises(AssertionError, match="derived again"):  # another run: derived, as before
            led.append("decision", _decision(run_id="run-9", judged=JudgedRecords.of([], head)))


def test_a_ledger_rewritten_after_the_read_is_derived_again(ledger_url: str, key_file: Path) -> None:
    """Cut back and rewritten by another writer between the gate's read and its decision: the record
    at the head read is another one now, so the kept digest is not used, and the decision, which
    names records this ledger no longer holds, is refused."""
    with open_ledger(ledger_url, signing_key=key_file) as led:
        hashes, _ = _run_with_subflow(led)
        head = _read_run(led)
        cut = led.records(run_id="run-2")[-1].seq  # run-2's last stage and all after it go
        with raw(ledger_url) as run:
            run("DELETE FROM records WHERE seq >= ?", (cut,))
        with open_ledger(ledger_url, signing_key=key_file) as other:
            while other.head_seq() < head:
                other.append("stage", stage_record("run-9", stage=f"s{other.head_seq()}").model_dump(mode="json"))
        with pytest.raises(InputError, match="has 2 stage records"):
            led.append("decision", _decision(judged=JudgedRecords.of(hashes, head)))
