"""`carbonguard audit`: verify, checkpoint, export, list judged records and report on the ledger.

Why a distinct exit code per failure kind: an auditor's script must tell "someone edited a
record" from "the tail was cut off" without parsing messages.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from carbonguard.cli.output import add_output_arguments, emit, output_targets
from carbonguard.cli.progress import progress_bar

VERIFY_EPILOG = """exit codes:
  0   intact
  2   usage or input error (bad flag, unreadable ledger, checkpoint or key file)
  10  edited: a record's content or columns do not match its hash
  11  deleted: a sequence number is missing or a record does not link to the one before it
  12  reordered: records were moved to other positions
  13  bad signature: a checkpoint or key record signature does not verify
  14  truncated: the ledger holds fewer records than, or diverges from, the --checkpoint file
  15  untrusted key: signed by a key that is not enrolled, rotated out, or not the pinned --pubkey
  16  unsigned: records after the last signed checkpoint (every write ends with one)
"""

JUDGED_EPILOG = """exit codes:
  0   the records derived from the ledger match the decision's digest (or its listed hashes)
  2   usage or input error (no decision with that hash, unreadable ledger)
  10-16  the run's span of the ledger fails verification (as `audit verify`)
  17  the digest does not match: the decision names other records than the ledger holds for its run
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audit", help="verify, checkpoint, export and report on the ledger",
                                   description="Work with the hash-chained, signed compliance ledger.")
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION", parser_class=type(parser))
    parser.set_defaults(handler=lambda args: _usage(parser))

    ledger_help = "ledger path or URL (default: $CARBONGUARD_LEDGER, else .carbonguard/ledger.db)"

    verify = sub.add_parser("verify", help="verify the hash chain, signatures and an exported checkpoint",
                            description="Verify the ledger and exit with a code naming what failed.",
                            epilog=VERIFY_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    verify.add_argument("--ledger", metavar="URL", help=ledger_help)
    verify.add_argument("--checkpoint", type=Path, metavar="FILE",
                        help="a checkpoint exported earlier with `audit checkpoint`; detects truncation")
    verify.add_argument("--pubkey", type=Path, action="append", default=[], metavar="FILE",
                        help="pin the ledger's first signing key (public key file); repeatable")
    verify.add_argument("--deep", action="store_true",
                        help="also parse every record and check it is canonical JSON (slower)")
    verify.add_argument("--every-signature", action="store_true",
                        help="read every checkpoint and verify its signature, not only the last of each "
                        "stretch of the chain (which covers the others through the hash links); catches "
                        "a bad checkpoint a trusted writer itself wrote mid-ledger")
    verify.add_argument("--workers", type=int, metavar="N",
                        help="processes that verify ranges side by side (default: one per CPU, up to 4, "
                        "for ledgers of 200,000 records or more)")
    verify.add_argument("--progress", action="store_true",
                        help="show a progress bar on stderr even when it is not a terminal")
    add_output_arguments(verify, "verify")
    verify.set_defaults(handler=_verify)

    checkpoint = sub.add_parser("checkpoint", help="sign a checkpoint of the head and export it",
                                description="Write a signed checkpoint of the ledger's head now and save "
                                "it to FILE; keep FILE outside the ledger to detect a truncated tail.")
    checkpoint.add_argument("--ledger", metavar="URL", help=ledger_help)
    checkpoint.add_argument("--out", type=Path, metavar="PATH", help="where to write it (default: stdout)")
    checkpoint.add_argument("--latest", action="store_true",
                            help="export the latest existing checkpoint instead of signing a new one")
    checkpoint.add_argument("--seal-unsigned-tail", action="store_true",
                            help="verify the whole ledger first and, if its only fault is records after the last "
                            "checkpoint (exit 16: a ledger written by a carbonguard that did not seal every "
                            "write), seal them; any other fault is reported and nothing is written")
    checkpoint.set_defaults(handler=_checkpoint)

    export = sub.add_parser("export", help="export every record as JSON lines or CSV, or runs as CodeCarbon CSV")
    export.add_argument("--ledger", metavar="URL", help=ledger_help)
    export.add_argument("--format", choices=("jsonl", "csv", "codecarbon-csv"), default="jsonl", metavar="FORMAT",
                        help="jsonl or csv (every record, default: jsonl), or codecarbon-csv (one row per gated "
                        "run in CodeCarbon's emissions.csv columns, from a verified ledger)")
    export.add_argument("--out", type=Path, metavar="PATH", help="where to write it (default: stdout)")
    export.set_defaults(handler=_export)

    judged = sub.add_parser("judged", help="list the stage records a decision judged, checked against its digest",
                            description="Derive again from the ledger the stage records a decision judged "
                            "(its run and subflow runs up to the seq it read), check them against the "
                            "decision's judged_records digest, and print them.",
                            epilog=JUDGED_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    judged.add_argument("decision", metavar="DECISION_HASH",
                        help="the decision record's hash (64 hex digits); a footprint record's hash works too")
    judged.add_argument("--ledger", metavar="URL", help=ledger_help)
    add_output_arguments(judged, "judged")
    judged.set_defaults(handler=_judged)

    report = sub.add_parser("report", help="compliance report per run and period",
                            description="Energy (measured vs estimated), compute, Scope 2 location- and "
                            "market-based CO2e, renewable share and SCI, per run and for the period.")
    report.add_argument("--ledger", metavar="URL", help=ledger_help)
    report.add_argument("--run", metavar="RUN_ID", help="only this run")
    report.add_argument("--since", metavar="TIME", help="start of the period (ISO date or time, UTC)")
    report.add_argument("--until", metavar="TIME", help="end of the period, exclusive (ISO date or time)")
    add_output_arguments(report, "compliance", default="markdown")
    report.add_argument("--out", metavar="PATH", help="write the --format (or default) output to PATH")
    report.add_argument("--progress", action="store_true",
                        help="show a progress bar on stderr even when it is not a terminal")
    report.set_defaults(handler=_report)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _open(args: argparse.Namespace, *, create: bool = False):
    from carbonguard.ledger import open_ledger

    return open_ledger(args.ledger, create=create)


def _verify(args: argparse.Namespace) -> int:
    from carbonguard.errors import InputError, Problem
    from carbonguard.ledger.keys import load_public_key
    from carbonguard.ledger.verify import load_checkpoint_file
    from carbonguard.reporting.ledger_admin import VerifyReport

    targets = output_targets(args)
    if args.workers is not None and args.workers < 1:
        raise InputError(Problem("must be at least 1", field_path="--workers"))
    checkpoint = load_checkpoint_file(args.checkpoint) if args.checkpoint else None
    pubkeys = [load_public_key(p) for p in args.pubkey]
    with _open(args) as led, progress_bar("verifying", force=args.progress) as progress:
        result = led.verify(checkpoint=checkpoint, pubkeys=pubkeys, progress=progress, deep=args.deep,
                            workers=args.workers, every_signature=args.every_signature)
        where = led.url
    report = VerifyReport.from_result(where, result)
    # A failure's text line goes to standard error, as it always has; its JSON to wherever it was asked.
    text_out = [t for t in targets if t.format == "text" and t.to_stdout and not result.ok]
    emit([t for t in targets if t not in text_out], report)
    emit(text_out, report, stream=sys.stderr)
    return result.exit_code


def _write_out(path: Path | None, text: str) -> None:
    if path is None:
        sys.stdout.write(text)
    else:
        path.write_text(text, encoding="utf-8")


def _checkpoint(args: argparse.Namespace) -> int:
    import json

    from carbonguard.errors import InputError

    with _open(args) as led:
        if args.seal_unsigned_tail and not args.latest:
            from carbonguard.formats.escape import text_safe
            from carbonguard.ledger.verify import EXIT_UNSIGNED

            result = led.verify()
            if not result.ok and result.exit_code != EXIT_UNSIGNED:
                print(f"carbonguard: {text_safe(led.url)}: {text_safe(result.message)}; nothing was sealed",
                      file=sys.stderr)
                return result.exit_code
            if not result.ok:  # nothing vouches for these records but this seal: say which they are
                print(f"carbonguard: sealing {result.unsigned_tail} records after the last checkpoint "
                      f"(seq {result.head_seq - result.unsigned_tail + 1} to {result.head_seq}), which no "
                      "signature covered", file=sys.stderr)
        record = (led.latest_checkpoint() if args.latest
                  else led.checkpoint(seal_unsigned_tail=args.seal_unsigned_tail))
        if record is None:
            raise InputError(f"{led.url}: the ledger holds no checkpoint yet")
        exported = led.export_checkpoint(record)
    _write_out(args.out, json.dumps(exported, indent=2, sort_keys=True) + "\n")
    if args.out is not None:
        from carbonguard.formats.escape import text_safe

        # `--latest` exports what the store holds, unverified: its fields are hostile text here
        print(f"checkpoint of {text_safe(exported['size'])} records (head {text_safe(exported['head_hash'])}) "
              f"written to {text_safe(args.out)}", file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    from carbonguard.ledger.export import write_csv, write_jsonl

    with _open(args) as led:
        if args.format == "codecarbon-csv":
            text, count = _codecarbon_rows(led)  # read and checked before the output file is opened
        out = sys.stdout if args.out is None else args.out.open("w", encoding="utf-8", newline="")
        try:
            if args.format == "codecarbon-csv":
                out.write(text)
            else:
                count = (write_jsonl if args.format == "jsonl" else write_csv)(led, out)
        finally:
            if args.out is not None:
                out.close()
    if args.out is not None:
        from carbonguard.formats.escape import text_safe

        print(f"{count} records written to {text_safe(args.out)}", file=sys.stderr)
    return 0


def _codecarbon_rows(led: object) -> tuple[str, int]:
    """Each gated run's latest footprint with the stage records it was computed from, as CodeCarbon CSV.

    Derived figures come from a verified ledger only: a tampered one stops with verify's exit code.
    """
    from carbonguard.assess import LedgerIntegrityError, verified
    from carbonguard.errors import InputError, Problem
    from carbonguard.formats.codecarbon_csv import render
    from carbonguard.intensity.dataset import country_names
    from carbonguard.models import RunFootprint, StageRecord
    from carbonguard.reporting.judged import EXIT_JUDGED_MISMATCH, judged_listing

    verified(led)
    stages = {r.record_hash: r for r in led.records(record_type="stage")}
    latest: dict[str, object] = {}
    for rec in led.records(record_type="footprint"):
        latest[rec.run_id or ""] = rec
    runs = []
    for rec in latest.values():
        listing = judged_listing(led, rec)  # the records it judged, derived again and checked
        if listing.malformed is not None:
            raise LedgerIntegrityError(f"footprint record {rec.record_hash}: {listing.message}",
                                       EXIT_JUDGED_MISMATCH)
        try:
            footprint = RunFootprint.model_validate(rec.payload)
        except ValueError as exc:  # a faulty writer's footprint: name it, never a traceback
            raise InputError(Problem(f"not a valid footprint record: {exc}".splitlines()[0],
                                     f"ledger {led.url}, footprint record seq {rec.seq}", "payload")) from exc
        if listing.form == "list" and listing.malformed is None:
            # Written before the digest: its list may name records of other runs (`include_runs`
            # judged those with the run), so use every listed stage record the ledger holds.
            used = [StageRecord.model_validate(stages[h].payload) for h in footprint.record_hashes if h in stages]
        elif not listing.matches:
            raise LedgerIntegrityError(f"footprint record {rec.record_hash}: {listing.message}",
                                       EXIT_JUDGED_MISMATCH)
        else:
            used = [StageRecord.model_validate(stages[e.record_hash].payload) for e in listing.entries]
        runs.append((footprint, used))
    return render(runs, countries=country_names()), len(runs)


def _judged(args: argparse.Namespace) -> int:
    import re

    from carbonguard.assess import verified_span
    from carbonguard.errors import InputError, Problem
    from carbonguard.reporting.judged import find_record, judged_listing

    targets = output_targets(args)
    if not re.fullmatch(r"[0-9a-f]{64}", args.decision):
        raise InputError(Problem("not a record hash (64 lowercase hex digits)", source="command line",
                                 field_path="DECISION_HASH"))
    with _open(args) as led:
        record = find_record(led, args.decision, ("decision", "footprint"))
        run_id = str(record.payload.get("run_id") or record.run_id or "")
        first = led.first_seq(led.run_tree(run_id), ("stage", "subflow"))
        # the judged records and the decision, as a gate verifies them
        verified_span(led, record.seq if first is None else min(first, record.seq))
        listing = judged_listing(led, record)
    emit(targets, listing)
    return listing.exit_code


def _report(args: argparse.Namespace) -> int:
    from carbonguard.errors import InputError
    from carbonguard.reporting.compliance import build_report, parse_period_bound

    targets = output_targets(args, default_path=args.out)
    if args.run and (args.since or args.until):
        raise InputError("--run cannot be combined with --since/--until", source="command line")
    since = parse_period_bound(args.since, "--since") if args.since else None
    until = parse_period_bound(args.until, "--until") if args.until else None
    if since is not None and until is not None and until <= since:
        raise InputError(f"--until ({args.until}) must be after --since ({args.since})", source="command line")
    with _open(args) as led, progress_bar("verifying before the report", force=args.progress) as progress:
        report = build_report(led, run_id=args.run, since=since, until=until, progress=progress)
    emit(targets, report)
    # The report is still written (it says FAILED VERIFICATION), but a pipeline must not take a
    # report of a tampered ledger for a clean one: exit with the verify command's code.
    return 0 if report.ledger.verified else report.ledger.verification_exit_code
