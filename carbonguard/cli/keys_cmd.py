"""`carbonguard keys`: create, enrol and rotate the Ed25519 keys that sign the ledger.

Why rotation is a ledger record: an auditor replays the chain of key records from the pinned
first key, so each new key must be vouched for by a key already trusted at that point.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from carbonguard.cli.output import add_output_arguments, emit, output_targets
from carbonguard.formats.escape import text_safe


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keys", help="create, enrol and rotate ledger signing keys",
                                   description="Manage the Ed25519 keys that sign ledger checkpoints.")
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", parser_class=type(parser))
    parser.set_defaults(handler=lambda args: (parser.print_help(sys.stderr), 2)[1])
    ledger_help = "ledger path or URL (default: $CARBONGUARD_LEDGER, else .carbonguard/ledger.db)"

    generate = sub.add_parser("generate", help="write a new key pair (private PEM 0600, public PEM)")
    generate.add_argument("--out", type=Path, default=Path(".carbonguard"), metavar="PATH",
                          help="directory for signing-key.pem and signing-key.pub (default: .carbonguard)")
    generate.add_argument("--name", default="signing-key", help="file name stem (default: signing-key)")
    generate.set_defaults(handler=_generate)

    add = sub.add_parser("add", help="enrol another writer's public key, signed by your enrolled key")
    add.add_argument("--ledger", metavar="URL", help=ledger_help)
    add.add_argument("--pubkey", type=Path, required=True, metavar="FILE", help="the public key to enrol")
    add.set_defaults(handler=_add)

    rotate = sub.add_parser("rotate", help="replace your signing key; the old key signs the new one")
    rotate.add_argument("--ledger", metavar="URL", help=ledger_help)
    rotate.add_argument("--new-key", type=Path, metavar="PEM",
                        help="the new private key (default: generate one in --out)")
    rotate.add_argument("--out", type=Path, metavar="PATH",
                        help="where to write a generated new key (default: beside the current key)")
    rotate.set_defaults(handler=_rotate)

    show = sub.add_parser("list", help="list the keys a ledger trusts")
    show.add_argument("--ledger", metavar="URL", help=ledger_help)
    add_output_arguments(show, "keys")
    show.set_defaults(handler=_list)

    registry = sub.add_parser("registry-generate",
                              help="write a certificate registry's key pair (for signing exports: tests, demos)")
    registry.add_argument("--out", type=Path, default=Path("."), metavar="PATH",
                          help="directory for NAME.pem and NAME.pub (default: current directory)")
    registry.add_argument("--name", default="registry-key", help="file name stem (default: registry-key)")
    registry.set_defaults(handler=_registry_generate)

    sign = sub.add_parser("sign", help="write FILE.sig: a detached Ed25519 signature over FILE's exact bytes")
    sign.add_argument("file", type=Path, metavar="FILE", help="the certificate export to sign")
    sign.add_argument("--key", type=Path, required=True, metavar="PEM", help="the registry's private key")
    sign.set_defaults(handler=_sign)


KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def _generate(args: argparse.Namespace) -> int:
    from carbonguard.errors import InputError, Problem
    from carbonguard.ledger.keys import Signer, pin_path, write_key_pair

    if not KEY_NAME.match(args.name):
        raise InputError(Problem(f"{args.name!r} is not a key name: use 1-64 letters, digits, '-' or '_', "
                                 "starting with a letter or digit", source="--name"))
    if args.out.exists() and not args.out.is_dir():
        raise InputError(Problem("is a file; --out names the directory to write the key pair into",
                                 source=str(args.out)))
    signer = Signer.generate()
    try:
        private, public = write_key_pair(signer, args.out, args.name)
    except FileExistsError as exc:
        raise InputError(Problem("a key already exists; refusing to overwrite it (choose --out or --name)",
                                 source=str(args.out / (args.name + ".pem")))) from exc
    except OSError as exc:
        raise InputError(Problem(f"cannot write keys: {exc.strerror}", source=str(args.out))) from exc
    pin = pin_path(args.out, signer.key_id)
    private, public, pin = text_safe(private), text_safe(public), text_safe(pin)  # paths the user typed
    print(f"key id {signer.key_id}\nprivate key {private} (keep secret; mode 0600)\n"
          f"public key  {public}\n"
          f"auditor pin {pin} (if this key starts a ledger, give this file to auditors: audit verify "
          f"--pubkey {pin}; it keeps its name when keys rotate)")
    return 0


def _add(args: argparse.Namespace) -> int:
    from carbonguard.ledger import open_ledger
    from carbonguard.ledger.keys import load_public_key

    public = load_public_key(args.pubkey)
    with open_ledger(args.ledger) as led:
        record = led.add_key(public)
    print(f"enrolled key {record.payload['key_id']} (record seq {record.seq}), "
          f"signed by {record.payload['signed_by']}")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    import os

    from carbonguard.ledger import open_ledger
    from carbonguard.ledger.keys import SIGNING_KEY_ENV, Signer, load_signer, pin_path, write_key_pair

    with open_ledger(args.ledger) as led:
        old = led.signer
        if args.new_key is not None:
            new = load_signer(args.new_key)
            new_path = args.new_key
        else:
            directory = args.out or (old.path.parent if old.path else Path(".carbonguard"))
            new = Signer.generate()
            new_path, _ = write_key_pair(new, directory, f"signing-key-{new.key_id[:8]}")
        record = led.rotate_key(new)
        genesis = led.keyring().genesis_key_id
        if args.new_key is None and args.out is None and not os.environ.get(SIGNING_KEY_ENV) \
                and old.path is not None and old.path == led.key_path:
            new_path = _replace_default_key(old.path, new_path, old.key_id)
    print(f"rotated {old.key_id} -> {new.key_id} (record seq {record.seq}); key {old.key_id} signs nothing "
          "from now on")
    if genesis is not None:
        where = pin_path(old.path.parent, genesis) if old.path is not None else None
        shown = f" ({text_safe(where)})" if where is not None and where.exists() else ""
        print(f"auditors keep pinning the ledger's first key {genesis}{shown}, not the new signing-key.pub")
    if os.environ.get(SIGNING_KEY_ENV) or old.path != new_path:
        print(f"set {SIGNING_KEY_ENV}={text_safe(new_path)} for every writer of this ledger", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    from carbonguard.ledger import open_ledger
    from carbonguard.reporting.ledger_admin import KeyList

    targets = output_targets(args)
    with open_ledger(args.ledger, create=False) as led:
        keys = KeyList.from_ring(led.url, led.keyring())
    emit(targets, keys)
    return 0


def _replace_default_key(default: Path, new_path: Path, old_id: str) -> Path:
    """Keep the old default key as `*.retired-<id>.pem` and put the new one in its place, so
    writers that use the default key path pick up the new key without any setting."""
    for suffix in (".pem", ".pub"):
        current = default.with_suffix(suffix)
        if current.exists():
            current.rename(default.with_name(f"{default.stem}.retired-{old_id[:8]}{suffix}"))
        new_path.with_suffix(suffix).rename(current)
    return default


def _registry_generate(args: argparse.Namespace) -> int:
    from carbonguard.errors import InputError
    from carbonguard.ledger.keys import Signer, write_key_pair

    signer = Signer.generate()
    try:
        private, public = write_key_pair(signer, args.out, args.name)
    except FileExistsError as exc:
        raise InputError(f"{args.out / (args.name + '.pem')}: a key already exists; refusing to overwrite "
                         "it (choose --out or --name)") from exc
    except OSError as exc:
        raise InputError(f"{args.out}: cannot write keys: {exc.strerror}") from exc
    print(f"private key {text_safe(private)} (keep secret; mode 0600)\npublic key  {text_safe(public)}\n"
          f"pin it in the policy:\n  spec:\n    matching:\n      registries:\n"
          f"        - name: REGISTRY\n          public_key: {signer.public_b64}")
    return 0


def _sign(args: argparse.Namespace) -> int:
    from carbonguard.errors import InputError
    from carbonguard.ledger.keys import load_signer
    from carbonguard.matching.loader import signature_path

    signer = load_signer(args.key)
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise InputError(f"{args.file}: cannot read: {exc.strerror}") from exc
    target = signature_path(args.file)
    try:
        target.write_text(signer.sign(data) + "\n", encoding="ascii")
    except OSError as exc:
        raise InputError(f"{target}: cannot write: {exc.strerror}") from exc
    print(f"signed {text_safe(args.file)} ({len(data)} bytes) -> {text_safe(target)} with public key "
          f"{signer.public_b64}")
    return 0
