"""Which keys a ledger trusts at each point of its chain, replayed from its `key` records.

Why replay: trust must come from the chain itself (plus what an auditor pins out of band), never
from the machine that reads it. Rules: the first key record is a self-signed `genesis`; `add`
enrols another writer's key and `rotate` replaces the signer's key, each signed by a key trusted
at that point; a rotated key signs nothing afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from carbonguard.ledger.keys import key_id_of, key_message, unb64, verify_signature

KEY_ACTIONS = ("genesis", "add", "rotate")


@dataclass
class KeyRing:
    public: dict[str, str] = field(default_factory=dict)  # key id -> base64 raw public key
    retired: set[str] = field(default_factory=set)
    genesis_key_id: str | None = None

    def active(self, key_id: str) -> bool:
        return key_id in self.public and key_id not in self.retired

    def apply(self, payload: dict[str, Any], envelope_key_id: str, prev_hash: str) -> str | None:
        """Apply one key record; return why it is invalid, or None. Invalid means a bad signature."""
        try:
            action, key_id = payload["action"], payload["key_id"]
            public_key, signed_by = payload["public_key"], payload["signed_by"]
            signature = payload["signature"]
            raw = unb64(public_key)
        except (KeyError, TypeError, ValueError):
            return "key record is malformed"
        if not all(type(v) is str for v in (action, key_id, signed_by, signature, envelope_key_id)):
            return "key record is malformed"  # text only: a list here was a crash (unhashable) in `active`
        if action not in KEY_ACTIONS:
            return f"unknown key action {action!r}"
        if len(raw) != 32 or key_id_of(raw) != key_id:
            return f"key id {key_id} is not the fingerprint of its public key"
        if signed_by != envelope_key_id:
            return "key record's signer differs from its envelope key id"
        if action == "genesis":
            if self.public:
                return "a second genesis key record"
            if signed_by != key_id:
                return "genesis key record must be self-signed"
            signer_public = public_key
        else:
            if not self.active(signed_by):
                return f"signed by key {signed_by}, which is not trusted at this point"
            if key_id in self.public:
                return f"key {key_id} is already enrolled"
            signer_public = self.public[signed_by]
        if not verify_signature(signer_public, signature, key_message(action, key_id, public_key,
                                                                       signed_by, prev_hash)):
            return "key record signature does not verify"
        self.public[key_id] = public_key
        if action == "genesis":
            self.genesis_key_id = key_id
        if action == "rotate":
            self.retired.add(signed_by)
        return None
