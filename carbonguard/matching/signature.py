"""Is a certificate export what its registry published? A detached Ed25519 signature says so.

The signature file beside an export (`EXPORT.sig`) holds the base64 of the 64-byte Ed25519
signature over the export's exact bytes. The policy pins each trusted registry's raw 32-byte public
key (`spec.matching.registries`). A row counts only when the file's signature verifies under the
key pinned for the row's own `registry`, so a registry can vouch for its own certificates and no
one else's. Pure: bytes and keys in, a verdict out.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SIGNATURE_SUFFIX = ".sig"
SignatureState = Literal["verified", "unsigned", "malformed", "bad-signature", "unpinned"]


@dataclass(frozen=True)
class SignatureCheck:
    """Verdict for one file: which registries' rows it may vouch for, and why others are refused."""

    state: SignatureState
    verified_registries: frozenset[str]
    reasons: Mapping[str, str]  # registry -> why its rows are unverified

    def reason(self, registry: str) -> str | None:
        """None when rows of `registry` are verified, else the reason they are not."""
        if registry in self.verified_registries:
            return None
        return self.reasons.get(registry, f"registry {registry!r} is not pinned in spec.matching.registries")


def decode_signature(signature_text: bytes) -> bytes | None:
    """The 64 signature bytes from a `.sig` file (base64, surrounding whitespace allowed), or None."""
    try:
        raw = base64.b64decode(signature_text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 64 else None


def check_signature(data: bytes, signature_text: bytes | None, registries: Iterable[str],
                    pinned: Mapping[str, str], *, signature_name: str = "EXPORT.sig") -> SignatureCheck:
    """Verify `data` against `signature_text` with every pinned key; rows of a registry count only
    when that registry's own key verifies (`SignatureCheck.reason`)."""
    names = sorted(set(registries))
    if signature_text is None:
        why = f"no signature: {signature_name} is missing, so the file cannot be shown to come from its registry"
        return SignatureCheck("unsigned", frozenset(), dict.fromkeys(names, why))
    signature = decode_signature(signature_text)
    if signature is None:
        why = f"{signature_name} is not the base64 of a 64-byte Ed25519 signature"
        return SignatureCheck("malformed", frozenset(), dict.fromkeys(names, why))
    verified: set[str] = set()
    reasons: dict[str, str] = {}
    for name in sorted(set(names) | set(pinned)):  # every pinned key: offsets in a file name no registry
        key = pinned.get(name)
        if key is None:
            reasons[name] = f"registry {name!r} is not pinned in spec.matching.registries (no public key)"
            continue
        try:
            Ed25519PublicKey.from_public_bytes(base64.b64decode(key, validate=True)).verify(signature, data)
        except (InvalidSignature, ValueError, binascii.Error):
            if name in names:
                reasons[name] = f"{signature_name} does not verify with the key pinned for registry {name!r}"
            continue
        verified.add(name)
    unpinned = [n for n in names if n not in pinned]
    state: SignatureState = ("verified" if verified else
                             "unpinned" if names and len(unpinned) == len(names) else "bad-signature")
    return SignatureCheck(state, frozenset(verified), reasons)
