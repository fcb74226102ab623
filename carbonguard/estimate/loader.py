"""Read a job spec file into a validated `JobSpec`; every problem is `file:line:col: field: message`.

Reading files lives here, beside the pure estimate code, never in it. The YAML reader is the
policies' located safe reader (no duplicate keys, no alias bombs, line numbers kept), and the
accelerator model is checked against the embedded table here, so a typo is reported at its line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path as FsPath

from pydantic import ValidationError

from carbonguard.errors import InputError, Problem
from carbonguard.estimate.accelerators import AcceleratorTable, load_table
from carbonguard.estimate.jobspec import JobSpec
from carbonguard.policy.loader import validation_problems
from carbonguard.policy.yamlsafe import MAX_BYTES, LocatedDocument, format_path, load_located


@dataclass(frozen=True)
class LoadedJobSpec:
    """A validated job spec with its source, content hash and line numbers (for findings that point at it)."""

    spec: JobSpec
    source: str
    content_hash: str
    document: LocatedDocument

    @property
    def name(self) -> str:
        return self.spec.metadata.name

    def line_of(self, *path: str | int) -> int | None:
        """Line of an element, e.g. `line_of("spec", "stages", 0)`."""
        line, _ = self.document.locate_key(tuple(path)) if path else self.document.locate(())
        return line

    def stage_line(self, name: str) -> int | None:
        for index, stage in enumerate(self.spec.spec.stages):
            if stage.name == name:
                return self.line_of("spec", "stages", index)
        return None


def _check_models(doc: LocatedDocument, spec: JobSpec, table: AcceleratorTable) -> list[Problem]:
    problems = []
    for index, stage in enumerate(spec.spec.stages):
        if stage.hardware.accelerator is None:
            continue
        path = ("spec", "stages", index, "hardware", "accelerator", "model")
        try:
            table.lookup(stage.hardware.accelerator.model)
        except InputError as error:
            line, column = doc.locate(path)
            problems += [Problem(p.message, doc.source, line, column, format_path(path)) for p in error.problems]
    return problems


def _check_locations(doc: LocatedDocument, spec: JobSpec) -> list[Problem]:
    """Cloud regions must be known to the embedded data, so a typo is caught at its line, not later."""
    from carbonguard.intensity.zones import cloud_region

    places = [(("spec", "location"), spec.spec.location)]
    places += [(("spec", "stages", i, "location"), s.location) for i, s in enumerate(spec.spec.stages) if s.location]
    problems = []
    for path, location in places:
        if location.cloud is None:
            continue
        try:
            cloud_region(location.cloud.provider, location.cloud.region)
        except InputError as error:
            where = (*path, "cloud", "region")
            line, column = doc.locate(where)
            problems += [Problem(p.message, doc.source, line, column, format_path(where)) for p in error.problems]
    return problems


def parse_jobspec(text: str | bytes, source: str, table: AcceleratorTable | None = None) -> LoadedJobSpec:
    """Validate job spec text; raises `InputError` with every problem found, each at file:line:col."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    doc = load_located(raw, source, what="job spec")
    if not isinstance(doc.data, dict):
        line, column = doc.locate(())
        raise InputError(Problem("a job spec must be a mapping with apiVersion, kind, metadata, spec",
                                 source, line, column))
    try:
        spec = JobSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise InputError(validation_problems(doc, exc)) from None
    problems = _check_models(doc, spec, table or load_table()) + _check_locations(doc, spec)
    if problems:
        raise InputError(problems)
    return LoadedJobSpec(spec, source, hashlib.sha256(raw).hexdigest(), doc)


def load_jobspec(path: str | FsPath, table: AcceleratorTable | None = None) -> LoadedJobSpec:
    """Read and validate a job spec file; unreadable files are `InputError`s too."""
    source = str(path)
    fs_path = FsPath(path)
    try:
        if fs_path.stat().st_size > MAX_BYTES:
            raise InputError(Problem(f"file is larger than {MAX_BYTES} bytes", source))
        raw = fs_path.read_bytes()
    except FileNotFoundError:
        raise InputError(Problem("no such file", source)) from None
    except IsADirectoryError:
        raise InputError(Problem("is a directory, not a job spec file", source)) from None
    except OSError as exc:
        raise InputError(Problem(f"cannot read: {exc.strerror or exc}", source)) from None
    return parse_jobspec(raw, source, table)
