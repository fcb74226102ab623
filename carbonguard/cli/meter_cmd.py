"""`carbonguard meter -- CMD [ARGS]`: run any command, meter it, record a stage, keep its exit code.

Why a wrapper: the cheapest way to meter a training script nobody wants to edit. The child's CPU
time comes from the kernel's accounting of reaped children (so its whole process tree counts, not
this wrapper), GPUs are read through NVML like any window, and the command's exit status is passed
through so the wrapper can sit in a CI job or a Makefile unchanged. Exit codes of our own: 127
when the command is not found and 126 when it cannot be executed (as a POSIX shell does), 2 for
bad flags or when the record cannot be written.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from carbonguard.cli.output import add_output_arguments, emit, output_targets
from carbonguard.errors import EXIT_INPUT_ERROR, InputError, Problem
from carbonguard.formats.escape import text_safe

if TYPE_CHECKING:  # heavy imports stay inside the handler so `carbonguard --help` stays fast
    from carbonguard.metering import Meter

EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "meter",
        help="run a command and meter its energy as one stage",
        description=(
            "Run CMD, meter its energy (process tree CPU time or RAPL, NVML GPUs), record a stage "
            "record in the ledger and exit with CMD's exit code. The summary goes to stderr; with "
            "--json a JSON document is printed to stdout after CMD's own output."
        ),
    )
    parser.add_argument("--stage", help="stage name (default: the command's basename)")
    parser.add_argument("--run-id", help="run id to record under (default: a fresh random id)")
    parser.add_argument("--zone", help="grid zone of this machine, e.g. FR or US-CAL-CISO")
    parser.add_argument(
        "--ledger", metavar="URL", help="ledger to record into (default: the ledger's default)"
    )
    parser.add_argument("--no-record", action="store_true", help="meter and print only; write nothing")
    add_output_arguments(parser, "meter", default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS]")
    parser.set_defaults(handler=run)


def _resolve(command: list[str]) -> tuple[int, str] | None:
    """(exit code, message) when the command cannot be started, like a shell would report it."""
    program = command[0]
    path = program if os.sep in program else shutil.which(program)
    if path is None or not os.path.exists(path):
        return EXIT_NOT_FOUND, f"carbonguard meter: command not found: {program}"
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        return EXIT_NOT_EXECUTABLE, f"carbonguard meter: permission denied: {program}"
    return None


def run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise InputError(Problem("no command given; usage: carbonguard meter [options] -- CMD [ARGS]"))
    output_targets(args)  # bad -o values fail before the command runs
    from carbonguard.models import check_label

    for flag, value in (("--stage", args.stage), ("--run-id", args.run_id), ("--zone", args.zone)):
        if value is not None and not value.strip():
            raise InputError(Problem(f"{flag} must not be empty", source="command line"))
        if value is not None and flag != "--zone":
            check_label(value, flag, source="command line")
    if args.zone is not None and not _ZONE_CODE.match(args.zone.strip()):
        raise InputError(Problem(f"{args.zone!r} is not a grid zone code (e.g. FR, US-CAL-CISO, CA-ON)",
                                 source="command line", field_path="--zone"))
    problem = _resolve(command)
    if problem is not None:
        print(text_safe(problem[1]), file=sys.stderr)
        return problem[0]

    from carbonguard.metering import Meter

    meter = Meter(scope="children")  # the child's tree, not this wrapper
    meter.discover()  # a bad CARBONGUARD_CPU_W_PER_CORE fails here, before the command runs
    try:
        ledger = None if args.no_record else _open_ledger(args.ledger)
    except BaseException:
        meter.close()
        raise

    try:
        return _meter_and_record(args, command, meter, ledger)
    finally:
        meter.close()
        if ledger is not None:
            ledger.close()


_ZONE_CODE = re.compile(r"^[A-Za-z]{2}([-_][A-Za-z0-9]{1,12}){0,4}$")


def _open_ledger(url: str | None) -> Any:
    """Open the ledger before the command runs, so a bad URL costs nothing."""
    try:
        from carbonguard.ledger.preflight import open_checked_writable
    except ImportError as exc:
        raise InputError(
            Problem(f"the ledger is not available in this installation ({exc}); use --no-record")
        ) from exc

    return open_checked_writable(url)  # an unusable signing key must fail now, not after the command ran


def _meter_and_record(args: argparse.Namespace, command: list[str], meter: Meter, ledger: Any) -> int:
    from carbonguard.models import to_label

    stage = args.stage or to_label(os.path.basename(command[0]) or command[0])
    run_id = args.run_id or uuid.uuid4().hex
    handle = meter.begin_window(stage)
    try:
        returncode, child_pid = _run_child(command)
    except OSError as exc:  # found and executable, yet exec failed (e.g. no shebang, bad binary)
        meter.end_window(handle)
        code = EXIT_NOT_FOUND if exc.errno == errno.ENOENT else EXIT_NOT_EXECUTABLE
        print(f"carbonguard meter: cannot execute {text_safe(command[0])}: {text_safe(exc.strerror or exc)}",
              file=sys.stderr)
        return code
    measurement = meter.end_window(handle)
    exit_code = returncode if returncode >= 0 else 128 - returncode  # killed by a signal: 128 + N
    record = measurement.to_stage_record(
        run_id=run_id,
        flow_name="cli",
        stage=stage,
        zone=args.zone,
        pid=child_pid,
        flags=(f"exit-status:{exit_code}",),
    )
    from carbonguard.reporting.meter import LedgerRef, MeterReport

    report = MeterReport(
        command=tuple(command), record=record, duration_s=measurement.duration_s,
        energy_kwh=measurement.energy_kwh, uncertainty_kwh=measurement.uncertainty_kwh,
        exit_code=exit_code, measurement_flags=tuple(measurement.flags),
    )
    status = exit_code
    if ledger is not None:
        try:
            appended = ledger.append("stage", record.model_dump(mode="json"))
            report = replace(report, ledger=LedgerRef(appended.seq, appended.record_hash))
        except Exception as exc:  # the command already ran: keep its record visible, fail loudly
            print(f"carbonguard meter: could not record the stage: {text_safe(exc)}", file=sys.stderr)
            print(json.dumps(record.model_dump(mode="json")), file=sys.stderr)
            status = exit_code or EXIT_INPUT_ERROR
    from carbonguard.formats import render

    sys.stderr.write(render("text", report))  # the summary is an aside: stdout is the command's
    emit(output_targets(args), report)
    return status


def _default_sigint() -> None:
    """In the child, before exec: an ignored signal stays ignored across exec, so undo our SIG_IGN."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run_child(command: list[str]) -> tuple[int, int]:
    """Run the command in the foreground; Ctrl-C reaches it (same process group), not us."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        child = subprocess.Popen(command, preexec_fn=_default_sigint if main else None)
        forward = None
        if main:
            forward = signal.signal(signal.SIGTERM, lambda signum, _frame: child.send_signal(signum))
        try:
            returncode = child.wait()
        finally:
            if main:
                signal.signal(signal.SIGTERM, forward)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    return returncode, child.pid
