"""`carbonguard policy validate FILE...` and `carbonguard policy schema`."""

from __future__ import annotations

import argparse
import sys

from carbonguard.cli.output import add_output_arguments, emit, output_targets, write_lines
from carbonguard.errors import EXIT_INPUT_ERROR, EXIT_OK, InputError


def _validate(args: argparse.Namespace) -> int:
    from carbonguard.formats.admin_text import policy_ok_line, policy_problem_lines
    from carbonguard.formats.registry import RenderOptions
    from carbonguard.policy import load_policy
    from carbonguard.reporting.policy_validation import PolicyCheck, PolicyValidation

    targets = output_targets(args)
    # Text on standard output keeps its two streams: ok lines on stdout, problems on stderr, as each
    # file is read. Every other target gets the whole result once all files are read.
    live = [t for t in targets if t.format == "text" and t.to_stdout]
    checks = []
    for path in args.files:
        try:
            loaded = load_policy(path)
        except InputError as error:
            check = PolicyCheck(path, problems=tuple(error.problems))
        else:
            check = PolicyCheck(path, loaded.name, loaded.version, loaded.content_hash)
        checks.append(check)
        if live and not check.ok:
            write_lines(policy_problem_lines(check), sys.stderr)
        elif live and not args.quiet:
            write_lines([policy_ok_line(check)], sys.stdout)
    result = PolicyValidation(tuple(checks))
    emit([t for t in targets if t not in live], result, RenderOptions(extra={"quiet": args.quiet}))
    return EXIT_OK if result.ok else EXIT_INPUT_ERROR


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
    validate.add_argument("-q", "--quiet", action="store_true", help="print only errors (text output)")
    add_output_arguments(validate, "policy-validation")
    validate.set_defaults(handler=_validate)
    schema = actions.add_parser("schema", help="print the JSON Schema generated from the policy models")
    schema.add_argument("--out", metavar="PATH", help="write to FILE instead of standard output")
    schema.set_defaults(handler=_schema)
