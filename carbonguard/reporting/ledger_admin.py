"""Typed results of the ledger housekeeping commands: `audit verify`, `keys list`. Figures only;
`formats/` renders them (text keeps the old wording, JSON is new). `policy validate`'s result lives
apart in `policy_validation.py`, so that command does not build these classes.

Why typed results here rather than prints in the commands: a CI job reads `--json` instead of
parsing the text, and every command prints through the same `-o FORMAT[=PATH]` convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from carbonguard.ledger.keyring import KeyRing
    from carbonguard.ledger.verify import VerifyResult

VERIFY_SCHEMA = "carbonguard.verify-result/v1"
KEYS_SCHEMA = "carbonguard.key-list/v1"


@dataclass(frozen=True)
class VerifyReport:
    """`audit verify`: whether the chain holds and, if not, what failed where (exit codes 10-16)."""

    kind: ClassVar[str] = "verify"
    ledger_url: str
    ok: bool
    exit_code: int
    message: str
    failure: str | None = None
    seq: int | None = None
    record_id: str | None = None
    records: int = 0
    checkpoints: int = 0
    head_seq: int = 0
    head_hash: str = ""
    unsigned_tail: int = 0
    key_ids: tuple[str, ...] = ()
    signatures_verified: int = 0  # checkpoint signatures verified; the chain covers the others

    @classmethod
    def from_result(cls, ledger_url: str, result: VerifyResult) -> VerifyReport:
        return cls(ledger_url=ledger_url, ok=result.ok, exit_code=result.exit_code, message=result.message,
                   failure=result.failure, seq=result.seq, record_id=result.record_id, records=result.records,
                   checkpoints=result.checkpoints, head_seq=result.head_seq, head_hash=result.head_hash,
                   unsigned_tail=result.unsigned_tail, key_ids=tuple(result.key_ids),
                   signatures_verified=result.signatures)

    def json_document(self) -> dict[str, Any]:
        return {"schema": VERIFY_SCHEMA, "ledger": self.ledger_url, "ok": self.ok, "exit_code": self.exit_code,
                "failure": self.failure, "message": self.message, "seq": self.seq, "record_id": self.record_id,
                "records": self.records, "checkpoints": self.checkpoints, "head_seq": self.head_seq,
                "head_hash": self.head_hash, "unsigned_tail": self.unsigned_tail, "key_ids": list(self.key_ids),
                "signatures_verified": self.signatures_verified}


@dataclass(frozen=True)
class KeyEntry:
    key_id: str
    public_key: str
    state: str  # "active" or "retired"
    first_key: bool


@dataclass(frozen=True)
class KeyList:
    """`keys list`: the keys a ledger trusts, in enrolment order; the first key is what auditors pin."""

    kind: ClassVar[str] = "keys"
    ledger_url: str
    keys: tuple[KeyEntry, ...]

    @classmethod
    def from_ring(cls, ledger_url: str, ring: KeyRing) -> KeyList:
        return cls(ledger_url, tuple(
            KeyEntry(key_id, str(public), "retired" if key_id in ring.retired else "active",
                     key_id == ring.genesis_key_id)
            for key_id, public in ring.public.items()))

    def json_document(self) -> dict[str, Any]:
        return {"schema": KEYS_SCHEMA, "ledger": self.ledger_url,
                "keys": [{"key_id": k.key_id, "public_key": k.public_key, "state": k.state,
                          "first_key": k.first_key} for k in self.keys]}
