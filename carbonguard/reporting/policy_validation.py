"""Typed result of `policy validate`: each file's identity when valid, its located problems when not.

Apart from `ledger_admin.py` so that `carbonguard policy validate`, which has a start-up target
(scale issue: 150 ms), builds only its own two result classes and not the ledger commands' ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from carbonguard.errors import Problem

POLICY_VALIDATION_SCHEMA = "carbonguard.policy-validation/v1"


@dataclass(frozen=True)
class PolicyCheck:
    """One file given to `policy validate`: its identity when valid, its located problems when not."""

    path: str
    name: str | None = None
    version: str | None = None
    content_hash: str | None = None
    problems: tuple[Problem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class PolicyValidation:
    kind: ClassVar[str] = "policy-validation"
    files: tuple[PolicyCheck, ...]

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    def json_document(self) -> dict[str, Any]:
        return {"schema": POLICY_VALIDATION_SCHEMA, "ok": self.ok, "files": [
            {"path": f.path, "ok": f.ok, "name": f.name, "version": f.version, "sha256": f.content_hash,
             "problems": [{"source": p.source, "line": p.line, "column": p.column, "field": p.field_path,
                           "message": p.message} for p in f.problems]}
            for f in self.files]}
