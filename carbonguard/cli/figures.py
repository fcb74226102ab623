"""Read one side of a comparison (`check --baseline`, `diff --base/--head`) into a `FigureSet`.

A side is a job spec (estimated with the embedded data, as `carbonguard estimate` does), a JSON file
written by `carbonguard estimate`, `check` or `gate` (or a bare footprint), or a run id in the ledger.
A path that exists is a file; anything else is a run id. Ledgers are only read: verified first,
never written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from carbonguard.errors import InputError, Problem
from carbonguard.models import ComponentEnergy, FigureSet, RunFootprint, StageRecord, to_label

# (records, run_id) -> footprint: how `check` prices a baseline's estimated records like its head.
Repricer = Callable[[Sequence[StageRecord], str], RunFootprint]


def _json_problem(source: str, exc: Exception, prefix: str = "") -> InputError:
    if isinstance(exc, json.JSONDecodeError):
        return InputError(Problem(f"not valid JSON: {exc.msg}", source, exc.lineno, exc.colno))
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        problems = [Problem(e["msg"], source, field_path=".".join([prefix, *map(str, e["loc"])]).strip(".") or None)
                    for e in exc.errors()[:10]]
        return InputError(problems)
    return InputError(Problem(str(exc), source))


def footprints_of_document(doc: Any, source: str) -> list[RunFootprint]:
    """The footprints in a JSON document of `estimate`, `check`, `gate`, or a bare footprint."""
    if not isinstance(doc, dict):
        raise InputError(Problem("expected a JSON object (carbonguard estimate/check/gate output)", source, 1))
    try:
        if doc.get("kind") == "estimate":
            return [RunFootprint.model_validate(f) for f in doc.get("footprints") or []]
        if doc.get("kind") == "check":
            return [RunFootprint.model_validate(s["footprint"]) for s in doc.get("subjects") or []]
        if str(doc.get("schema", "")).startswith("carbonguard.gate-result/") and doc.get("footprint"):
            return [RunFootprint.model_validate(doc["footprint"])]
        if "run_id" in doc and "zone" in doc and "pue" in doc:
            return [RunFootprint.model_validate(doc)]
    except (KeyError, TypeError) as exc:
        raise InputError(Problem(f"malformed document: missing {exc}", source)) from None
    except Exception as exc:  # pydantic's ValidationError, imported lazily
        raise _json_problem(source, exc) from None
    raise InputError(Problem("not a carbonguard estimate, check, gate or footprint JSON document "
                             "(write one with `carbonguard estimate JOBSPEC -o json=FILE`)", source, 1))


def _read(path: Path, source: str) -> bytes:
    from carbonguard.policy.yamlsafe import MAX_BYTES

    if path.is_dir():
        raise InputError(Problem("is a directory, not a job spec or JSON file", source))
    if path.stat().st_size > MAX_BYTES:
        raise InputError(Problem(f"file is larger than {MAX_BYTES} bytes", source))
    return path.read_bytes()


def records_of_estimate_document(doc: dict[str, Any], source: str) -> list[StageRecord]:
    """The estimated stage records inside `carbonguard estimate -o json` output (to price them again)."""
    where = ""
    try:
        records = []
        for i, s in enumerate(doc["stages"]):
            components = []
            for j, c in enumerate(s["components"]):
                where = f"stages.{i}.components.{j}"
                components.append(ComponentEnergy.model_validate(c))
            where = f"stages.{i}"
            records.append(StageRecord(run_id=doc["run_id"], flow_name=doc["job"], stage=s["stage"],
                                       start=s["start"], end=s["end"], zone=s["location"], host="estimate", pid=0,
                                       components=tuple(components)))
        return records
    except (KeyError, TypeError) as exc:
        raise InputError(Problem(f"malformed estimate document: missing {exc}", source, field_path=where or None)
                         ) from None
    except Exception as exc:  # pydantic's ValidationError, imported lazily
        raise _json_problem(source, exc, where) from None


def figures_of_file(path: str, *, label: str, start: datetime, reprice: Repricer | None = None) -> FigureSet:
    """A job spec (YAML) or an estimate/check/gate/footprint JSON file.

    With `reprice`, estimated records (a job spec, or estimate JSON) are priced by it rather than as
    `carbonguard estimate` priced them, so a baseline is priced exactly like the head it is compared with.
    """
    fs_path = Path(path)
    raw = _read(fs_path, path)
    if fs_path.suffix.lower() == ".json" or raw.lstrip()[:1] in (b"{", b"["):
        try:
            doc = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise InputError(Problem("not UTF-8 text", path)) from None
        except json.JSONDecodeError as exc:
            raise _json_problem(path, exc) from None
        if reprice is not None and isinstance(doc, dict) and doc.get("kind") == "estimate":
            records = records_of_estimate_document(doc, path)
            return FigureSet.of([reprice(records, str(doc.get("run_id")))], label=label, source=path)
        footprints = footprints_of_document(doc, path)
        if not footprints:
            raise InputError(Problem("the document holds no footprint", path))
        return FigureSet.of(footprints, label=label, source=path)
    from carbonguard.cli.estimate_cmd import estimate_file

    report = estimate_file(path, start=start)
    if reprice is not None:
        return FigureSet.of([reprice([s.record for s in report.stages], report.run_id)], label=label, source=path)
    return FigureSet.of(report.footprints, label=label, source=path)


def figures_of_run(run_id: str, *, label: str, ledger_url: str | None, loaded_policy: Any = None,
                   as_of: datetime | None = None) -> FigureSet:
    """A recorded run: priced under `loaded_policy` when given, else its latest recorded footprint.

    Only the span read is verified (`Ledger.verify_span`, docs/ledger.md "What a gate verifies"):
    the run's stage records as a gate reads them, or the latest footprint record to the head (so a
    later footprint cannot be hidden from the run index). Figures are computed from those records
    alone, so verifying the whole chain would cost time that grows with the ledger for nothing;
    `audit verify` judges the rest.
    """
    from carbonguard.assess import fetch_points, load_stage_rows, verified_span
    from carbonguard.ledger import open_ledger

    with open_ledger(ledger_url, create=False) as ledger:
        if loaded_policy is not None:
            from carbonguard.pipeline import judge

            records, judged = load_stage_rows(ledger, run_id, verify=True)
            from carbonguard.cli.check_cmd import intensity_source

            points = fetch_points(loaded_policy, records, source=intensity_source(loaded_policy))
            assert as_of is not None
            footprint = judge(loaded_policy, records, points, run_id=run_id, as_of=as_of,
                              judged=judged).footprint
        else:
            seqs = ledger.run_seqs([run_id], ("footprint",))
            if not seqs:
                raise InputError(Problem(f"run {run_id!r} has no recorded footprint in ledger {ledger.url}; "
                                         "judge it first (carbonguard gate) or compare job specs", "--run"))
            head = verified_span(ledger, seqs[-1])
            entries = [e for e in ledger.records(run_id=run_id, record_type="footprint") if e.seq <= head]
            footprint = RunFootprint.model_validate(max(entries, key=lambda e: e.seq).payload)
    return FigureSet.of([footprint], label=label, source=f"run {run_id}")


def load_side(spec: str, *, label: str | None, start: datetime, ledger_url: str | None = None,
              loaded_policy: Any = None, as_of: datetime | None = None, reprice: Repricer | None = None) -> FigureSet:
    """A file when `spec` names one, else a run id in the ledger."""
    name = to_label(label or spec)
    if Path(spec).exists():
        return figures_of_file(spec, label=name, start=start, reprice=reprice)
    if spec.endswith((".json", ".yaml", ".yml")) or "/" in spec:
        raise InputError(Problem("no such file (and it does not look like a run id)", spec))
    return figures_of_run(spec, label=name, ledger_url=ledger_url, loaded_policy=loaded_policy, as_of=as_of)
