"""`carbonguard policy validate FILE...` and `carbonguard policy schema`."""

from __future__ import annotations

import argparse
import sys

from carbonguard.errors import EXIT_INPUT_ERROR, EXIT_OK, InputError


def _validate(args: argparse.Namespace) -> int:
    from carbonguard.policy import load_policy

    failed = False
    for path in args.files:
        try:
            loaded = load_policy(path)
        except InputError as error:
            failed = True
            for problem in error.problems:
                print(problem, file=sys.stderr)
            continue
        if not args.quiet:
            print(f"{path}: ok ({loaded.name} v{loaded.version}, sha256 {loaded.content_hash[:12]})")
    return EXIT_INPUT_ERROR if failed else EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    from carbonguard.policy.schema import policy_schema_text

    text = policy_schema_text()
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    policy = subparsers.add_parser("policy", help="validate policies, print the policy JSON Schema")
    actions = policy.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    validate = actions.add_parser("validate", help="validate policy files (exit 2 if any is invalid)")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    validate.set_defaults(handler=_validate)
    schema = actions.add_parser("schema", help="print the JSON Schema generated from the policy models")
    schema.add_argument("--out", metavar="PATH", help="write to FILE instead of standard output")
    schema.set_defaults(handler=_schema)
