"""The stage records a decision (or footprint) judged, derived again from the ledger and checked.

Why derive rather than read a list: a decision carries only the digest of what it judged
(`judged_records: {count, sha256, through_seq}`, docs/ledger.md "Judged records"), so its size
does not grow with the run. The ledger holds the records: the run's stage records and those of
its subflow runs (from `subflow` records) up to `through_seq`. `audit judged` prints that list,
and a digest that does not match it is reported with `EXIT_JUDGED_MISMATCH`. Records written
before the digest existed list every hash; those are checked to be stage records of the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from carbonguard.errors import InputError, Problem
from carbonguard.judged import FORM, judged_sha256, shape_problem

if TYPE_CHECKING:
    from carbonguard.ledger.ledger import Ledger
    from carbonguard.ledger.record import LedgerRecord

JUDGED_SCHEMA = "carbonguard.judged-records/v1"
EXIT_JUDGED_MISMATCH = 17  # beside verify's 10-16: the chain holds, but a digest names other records


@dataclass(frozen=True)
class JudgedEntry:
    seq: int
    run_id: str
    record_hash: str


@dataclass(frozen=True)
class JudgedListing:
    """`audit judged`: the records a decision judged, re-derived, and whether its digest matches."""

    kind: ClassVar[str] = "judged"
    ledger_url: str
    record_hash: str  # the decision's (or footprint's) own hash
    record_type: str
    seq: int
    run_id: str
    form: str  # "digest", or "list" for records written before the digest
    count: int  # as recorded
    sha256: str  # as recorded (for the list form: the digest of the list)
    through_seq: int | None
    entries: tuple[JudgedEntry, ...]
    derived_sha256: str
    missing: tuple[str, ...] = ()  # list form: named hashes that are no stage record of the run
    malformed: str | None = None  # what is wrong with a recorded digest that has not its shape

    @property
    def matches(self) -> bool:
        return (self.malformed is None and not self.missing and self.count == len(self.entries)
                and self.sha256 == self.derived_sha256)

    @property
    def exit_code(self) -> int:
        return 0 if self.matches else EXIT_JUDGED_MISMATCH

    @property
    def message(self) -> str:
        if self.matches:
            return (f"{self.record_type} seq {self.seq} of run {self.run_id} judged {self.count} stage records; "
                    "its digest matches the ledger")
        if self.malformed is not None:
            return f"{self.record_type} seq {self.seq} of run {self.run_id}: {self.malformed}"
        if self.missing:
            return (f"{self.record_type} seq {self.seq} names {len(self.missing)} records that are not stage "
                    f"records of run {self.run_id}")
        return (f"{self.record_type} seq {self.seq} says {self.count} stage records (sha256 {self.sha256}), but "
                f"the ledger holds {len(self.entries)} for run {self.run_id} through seq {self.through_seq} "
                f"(sha256 {self.derived_sha256})")

    def summary(self) -> dict[str, Any]:
        """The digest as recorded, with the check's result (for reports that do not list records)."""
        return {"count": self.count, "sha256": self.sha256, "through_seq": self.through_seq, "form": self.form,
                "matches_ledger": self.matches, "list_with": f"carbonguard audit judged {self.record_hash}"}

    def json_document(self) -> dict[str, Any]:
        return {"schema": JUDGED_SCHEMA, "ledger": self.ledger_url, "record_hash": self.record_hash,
                "record_type": self.record_type, "seq": self.seq, "run_id": self.run_id, "form": self.form,
                "canonical_form": FORM, "judged_records": {"count": self.count, "sha256": self.sha256,
                                                           "through_seq": self.through_seq},
                "derived": {"count": len(self.entries), "sha256": self.derived_sha256},
                "matches": self.matches, "exit_code": self.exit_code, "message": self.message,
                "missing": list(self.missing),
                "records": [{"seq": e.seq, "run_id": e.run_id, "record_hash": e.record_hash} for e in self.entries]}


def find_record(ledger: Ledger, record_hash: str, record_types: tuple[str, ...] = ("decision",)) -> LedgerRecord:
    """The decision (or footprint) with this hash; exit 2 when the ledger holds none."""
    for record_type in record_types:
        for record in ledger.records(record_type=record_type):
            if record.record_hash == record_hash:
                return record
    raise InputError(Problem(f"ledger {ledger.url} holds no {' or '.join(record_types)} record with hash "
                             f"{record_hash!r}", field_path="DECISION_HASH"))


def judged_listing(ledger: Ledger, record: LedgerRecord) -> JudgedListing:
    """Derive the records `record` (a decision or footprint) judged and check its digest or list."""
    payload = record.payload
    run_id = str(payload.get("run_id") or record.run_id or "")
    judged = payload.get("judged_records")
    common = {"ledger_url": ledger.url, "record_hash": record.record_hash, "record_type": record.record_type,
              "seq": record.seq, "run_id": run_id}
    if isinstance(judged, dict):
        problem = shape_problem(judged)
        if problem is not None:  # only decisions are shape-checked on append; a footprint may not be
            field, what = problem
            return JudgedListing(**common, form="digest", count=0, sha256=str(judged.get("sha256")),
                                 through_seq=None, entries=(), derived_sha256=judged_sha256(()),
                                 malformed=f"its judged_records.{field} {what} ({judged.get(field)!r})")
        through = judged["through_seq"]
        entries = tuple(JudgedEntry(*e) for e in ledger.judged_hashes(run_id, through))
        return JudgedListing(**common, form="digest", count=int(judged["count"]), sha256=str(judged["sha256"]),
                             through_seq=through, entries=entries,
                             derived_sha256=judged_sha256(e.record_hash for e in entries))
    named = payload.get("evaluated_record_hashes", payload.get("record_hashes")) or ()
    if not isinstance(named, (list, tuple)):
        return JudgedListing(**common, form="list", count=0, sha256=judged_sha256(()), through_seq=None,
                             entries=(), derived_sha256=judged_sha256(()),
                             malformed="its list of judged record hashes is not a list")
    listed = [str(h) for h in named]
    # Written before the digest: the records were in the ledger before the decision itself.
    held = {h: JudgedEntry(seq, rid, h) for seq, rid, h in ledger.judged_hashes(run_id, record.seq)}
    entries = tuple(sorted((held[h] for h in dict.fromkeys(listed) if h in held), key=lambda e: e.seq))
    digest = judged_sha256(listed)
    return JudgedListing(**common, form="list", count=len(listed), sha256=digest, through_seq=None,
                         entries=entries, derived_sha256=judged_sha256(e.record_hash for e in entries),
                         missing=tuple(h for h in listed if h not in held))

