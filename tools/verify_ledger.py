"""Verify a carbonguard ledger export (`carbonguard audit export`) with only Python 3.8+ and `cryptography`.
Exit: 0 intact, 2 input error, 10 edited, 11 deleted, 12 reordered, 13 signature, 14 truncated, 15 key, 16 unsigned."""
import argparse
import hashlib
import json
import sys
from base64 import b64decode as b64d
from base64 import b64encode
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

CP_TYPES = {"format": str, "size": int, "head_hash": str, "time": str, "key_id": str, "signature": str}

def canon(v):  # RFC 8785 for what a ledger holds: strings, integers, booleans, null, arrays, objects
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(canon(k) + ":" + canon(v[k]) for k in keys) + "}"
    if isinstance(v, list):
        return "[" + ",".join(canon(i) for i in v) + "]"
    return json.dumps(v, ensure_ascii=False)  # minimal string escaping, as RFC 8785 asks

def signed(pub, sig, msg):
    try:
        return Ed25519PublicKey.from_public_bytes(b64d(pub)).verify(b64d(sig), msg) is None
    except Exception:  # any decoding or signature failure
        return False

def message(context, fields, p):
    return canon(dict({k: p.get(k) for k in fields}, context=context)).encode()

def cp_signed(pub, p):  # what a checkpoint's signature covers
    return signed(pub, p.get("signature"),
                  message("carbonguard-checkpoint/1", ("head_hash", "key_id", "size", "time"), p))

def key_record(p, key, prev, keys, retired, pins):
    genesis, new = p["action"] == "genesis", p["key_id"]
    if p["signed_by"] != key or hashlib.sha256(b64d(p["public_key"])).hexdigest()[:32] != new or new in keys \
            or (genesis and (keys or key != new)):
        return 13, "malformed key record (a genesis key comes first, once, self-signed)"
    if not genesis and (key not in keys or key in retired or p["action"] not in ("add", "rotate")):
        return 15, "signed by a key not trusted at this point"
    fields = ("action", "after_hash", "key_id", "public_key", "signed_by")  # a key record's signature covers these
    if not signed(keys.get(key, p["public_key"]), p["signature"],
                  message("carbonguard-key/1", fields, dict(p, after_hash=prev))):
        return 13, "key record signature does not verify"
    if genesis and pins and new not in pins:
        return 15, "the first key is not a pinned public key"
    keys[new] = p["public_key"]
    retired.update([key] if p["action"] == "rotate" else [])

def verify(lines, cp, pins):
    keys, retired, prev, hash_at, last_cp = {}, set(), "0" * 64, {}, 0
    for i, rec in enumerate(lines, 1):
        rh = rec.pop("record_hash", None)
        seq, kind, key, p = (rec.get(k) for k in ("seq", "record_type", "key_id", "payload"))
        where = f"record seq {i} (id {rec.get('record_id')}): "
        if seq != i:  # 12 when the record for this place sits further on, else 11
            return (12 if any(r.get("seq") == i for r in lines[i:]) else 11), where + "misplaced or missing"
        if hashlib.sha256(canon(rec).encode()).hexdigest() != rh:
            return 10, where + "its content does not match its record_hash"
        if rec["prev_hash"] != prev:
            return 11, where + "does not link to the record before it"
        problem = key_record(p, key, prev, keys, retired, pins) if kind == "key" else (
            (15, "written under a key that is not enrolled and active") if key not in keys or key in retired
            else None)
        if problem is None and kind == "checkpoint" and not (
                p.get("size") == seq - 1 and p.get("head_hash") == prev and p.get("key_id") == key
                and cp_signed(keys[key], p)):
            problem = 13, "checkpoint signature or contents do not verify"
        if problem:
            return problem[0], where + problem[1]
        prev = hash_at[seq] = rh
        last_cp = seq if kind == "checkpoint" else last_cp
    if pins and not keys:
        return 15, "no key record: no pinned key wrote it"
    if cp and not (keys.get(cp["key_id"]) or pins.get(cp["key_id"])):  # keys: vouched for from the pinned first
        return 15, "the checkpoint file is signed by a key that is not trusted"
    if cp and not cp_signed(keys.get(cp["key_id"]) or pins[cp["key_id"]], cp):
        return 13, "the checkpoint file's signature does not verify"
    if cp and hash_at.get(cp["size"]) != cp["head_hash"]:
        return 14, "truncated or diverged: the ledger does not extend the checkpoint"
    if len(lines) > last_cp:  # every write ends with a signed checkpoint, so nothing may follow the last one
        return 16, f"{len(lines) - last_cp} records after the last signed checkpoint"
    return 0, f"intact: {len(lines)} records"

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("export")
    ap.add_argument("--checkpoint")
    ap.add_argument("--pubkey", action="append", default=[])
    args, lines, n = ap.parse_args(), [], 0
    try:  # the export is read last, so a JSON error with n > 0 is about line n of the export
        cp = json.loads(Path(args.checkpoint).read_text("utf-8")) if args.checkpoint else None
        if args.checkpoint and not (isinstance(cp, dict) and all(type(cp.get(k)) is t for k, t in CP_TYPES.items())):
            raise ValueError(f"{args.checkpoint}: not a carbonguard checkpoint (needs {', '.join(CP_TYPES)})")
        pins = [b64encode(load_pem_public_key(Path(f).read_bytes()).public_bytes(
            Encoding.Raw, PublicFormat.Raw)).decode() for f in args.pubkey]
        for n, line in enumerate(Path(args.export).read_text("utf-8").splitlines(), 1):  # noqa: B007
            lines.extend([json.loads(line)] if line else [])
        code, text = verify(lines, cp, {hashlib.sha256(b64d(p)).hexdigest()[:32]: p for p in pins})
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        code, text = 2, f"cannot read input: {f'{args.export}:{n}: ' * (n > 0 and isinstance(exc, ValueError))}{exc}"
    print(text, file=sys.stdout if code == 0 else sys.stderr)
    return code

if __name__ == "__main__":
    sys.exit(main())
