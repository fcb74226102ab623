"""Ed25519 signing keys: generation, loading, fingerprints and the messages they sign.

Why Ed25519: small keys, deterministic signatures, fast verification, and `cryptography` ships it.
A key id is the first 16 bytes (32 hex digits) of SHA-256 over the 32-byte raw public key: short
enough to print, long enough that a collision is not a practical attack.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from carbonguard.errors import InputError, Problem
from carbonguard.ledger.canonical import canonical_bytes
from carbonguard.safe_read import read_bytes

SIGNING_KEY_ENV = "CARBONGUARD_SIGNING_KEY"
CHECKPOINT_CONTEXT = "carbonguard-checkpoint/1"
KEY_CONTEXT = "carbonguard-key/1"
MAX_KEY_BYTES = 16_384  # an Ed25519 PEM is ~120 bytes; anything far larger is not a key


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(raw: bytes) -> str:
    """Fingerprint: hex of the first 16 bytes of SHA-256(raw 32-byte public key)."""
    return hashlib.sha256(raw).hexdigest()[:32]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True)
class Signer:
    """A private key with its fingerprint; signs checkpoint and key messages."""

    private: Ed25519PrivateKey
    path: Path | None = None

    @functools.cached_property
    def public_raw(self) -> bytes:  # cached: read twice per append, and a key never changes
        return raw_public(self.private.public_key())

    @functools.cached_property
    def key_id(self) -> str:
        return key_id_of(self.public_raw)

    @property
    def public_b64(self) -> str:
        return b64(self.public_raw)

    def sign(self, message: bytes) -> str:
        return b64(self.private.sign(message))

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())


def verify_signature(public_b64: str, signature_b64: str, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(unb64(public_b64)).verify(unb64(signature_b64), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def checkpoint_message(size: int, head_hash: str, time: str, key_id: str) -> bytes:
    """What a checkpoint signature covers: the ledger's size and head hash at a time, by a key."""
    return canonical_bytes({"context": CHECKPOINT_CONTEXT, "head_hash": head_hash, "key_id": key_id,
                            "size": size, "time": time})


def key_message(action: str, key_id: str, public_key: str, signed_by: str, after_hash: str) -> bytes:
    """What a key record's signature covers; `after_hash` binds it to its place in the chain."""
    return canonical_bytes({"action": action, "after_hash": after_hash, "context": KEY_CONTEXT,
                            "key_id": key_id, "public_key": public_key, "signed_by": signed_by})


def pin_path(directory: Path, key_id: str) -> Path:
    """The key's own public-key file, named by its id: what an auditor pins. Rotation renames
    `<stem>.pub` (it always holds the current key) but never this file, so a pin stays valid."""
    return directory / f"pubkey-{key_id[:16]}.pub"


def write_key_pair(signer: Signer, directory: Path, stem: str = "signing-key") -> tuple[Path, Path]:
    """Write `<stem>.pem` (PKCS#8, mode 0600, created exclusively), `<stem>.pub` (PEM), and the
    same public key under its id-named pin file (`pin_path`)."""
    directory.mkdir(parents=True, exist_ok=True)
    private_path = directory / f"{stem}.pem"
    public_path = directory / f"{stem}.pub"
    pem = signer.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
    # Write a private temporary file, then hard-link it into place: the link fails if the key
    # exists, and a reader never sees a half-written key.
    tmp = directory / f".{stem}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, private_path)
    finally:
        tmp.unlink()
    public_pem = signer.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    public_path.write_bytes(public_pem)
    pin_path(directory, signer.key_id).write_bytes(public_pem)
    return private_path, public_path


def load_signer(path: Path) -> Signer:
    """Read an Ed25519 private key (PEM); bad files are input errors naming the file."""
    data = read_bytes(path, max_bytes=MAX_KEY_BYTES, what="signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(Problem(f"not an unencrypted PEM private key: {exc}", source=str(path))) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(Problem("signing key must be Ed25519", source=str(path)))
    return Signer(key, path)


def load_public_key(path: Path) -> str:
    """Read a public key file (PEM, or a base64 raw key on one line); return base64 raw bytes."""
    data = read_bytes(path, max_bytes=MAX_KEY_BYTES, what="public key")
    if b"BEGIN" in data:
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise InputError(Problem(f"not a PEM public key: {exc}", source=str(path))) from exc
        if not isinstance(key, Ed25519PublicKey):
            raise InputError(Problem("public key must be Ed25519", source=str(path)))
        return b64(raw_public(key))
    try:
        raw = unb64(data.decode("ascii").strip())
    except ValueError as exc:
        raise InputError(Problem("not a PEM or base64 Ed25519 public key", source=str(path))) from exc
    if len(raw) != 32:
        raise InputError(Problem("an Ed25519 public key has 32 bytes", source=str(path)))
    return b64(raw)


def _backfill_pin(signer: Signer) -> None:
    """Give a key generated before pin files existed its `pubkey-<id>.pub`, so the file an auditor
    is told to pin exists for every default key. Best effort: a read-only key directory keeps
    working as before, and an existing pin is never overwritten (it may be the one pinned)."""
    if signer.path is None:
        return
    pin = pin_path(signer.path.parent, signer.key_id)
    if pin.exists():
        return
    public_pem = signer.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    # Whole or not at all: written aside, then linked into place (the link fails if the pin exists),
    # so a full disk never leaves a partial pin that, never overwritten, auditors would be sent to.
    tmp = pin.with_name(f".{pin.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_bytes(public_pem)
        os.link(tmp, pin)
    except OSError:  # read-only directory, a full disk, or another writer made it first
        pass
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def resolve_signer(default_path: Path, *, generate: bool = True) -> Signer | None:
    """The writer's key: `$CARBONGUARD_SIGNING_KEY`, else `default_path`, generated on first use.

    A generated key is announced once on stderr, because an auditor should pin its public key out
    of band; a key that lives beside the ledger protects against accidents, not against whoever
    can write that directory.
    """
    env = os.environ.get(SIGNING_KEY_ENV)
    if env:
        return load_signer(Path(env))
    if default_path.exists():
        signer = load_signer(default_path)
        _backfill_pin(signer)
        return signer
    if not generate:  # e.g. a ledger that already has keys: a new key could not write to it
        return None
    signer = Signer.generate()
    try:
        _, public_path = write_key_pair(signer, default_path.parent, default_path.stem)
    except FileExistsError:  # another process generated it first: use theirs
        return load_signer(default_path)
    signer = Signer(signer.private, default_path)
    print(
        f"carbonguard: generated ledger signing key {signer.key_id} at {default_path} "
        f"(public key {public_path}); give {pin_path(public_path.parent, signer.key_id)} to your auditor "
        "to pin with --pubkey: that file keeps its name when keys rotate",
        file=sys.stderr,
    )
    return signer
