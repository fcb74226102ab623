"""The one list of output formats: name, module, and the result kinds each can render.

Kept free of heavy imports so the CLI can build `-o FORMAT` help and check names at start-up; the
renderer modules load only when something is rendered. A test checks every module's `RENDERERS`
against the kinds declared here, so this table cannot drift from the code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class RenderOptions:
    """Options every renderer accepts; a renderer ignores what does not apply to it."""

    tag: str | None = None  # identifies a PR comment to update in place (markdown marker)
    max_chars: int | None = None  # cut long output (e.g. GitHub's comment limit) and say so
    extra: dict[str, Any] = field(default_factory=dict)


class Result(Protocol):
    """A typed result from `carbonguard.reporting`: `kind` picks the renderer."""

    kind: str

    def json_document(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class FormatSpec:
    name: str
    module: str
    kinds: tuple[str, ...]
    description: str
    requires: tuple[str, ...] = ()  # importable modules the format needs beyond the core install
    install_hint: str | None = None
    # (kinds, module) whose renderers live in a smaller module that `render` loads alone, so a
    # command pays for its own renderer only (the format's `module` still lists every kind).
    parts: tuple[tuple[tuple[str, ...], str], ...] = ()

    def module_for(self, kind: str) -> str:
        """The module `render` imports for a result of `kind`."""
        return next((module for kinds, module in self.parts if kind in kinds), self.module)

    def missing(self) -> str | None:
        """One line saying what to install when a required module is absent, else None."""
        from importlib.util import find_spec

        absent = [name for name in self.requires if find_spec(name) is None]
        if not absent:
            return None
        return (f"format {self.name!r} needs {', '.join(absent)}, which is not installed: "
                f"{self.install_hint or 'pip install ' + ' '.join(absent)}")


_SPECS = (
    FormatSpec("text", "carbonguard.formats.text",
               ("run", "meter", "intensity", "zones", "schedule", "estimate", "runs", "check", "diff",
               "match", "verify", "judged", "keys", "policy-validation"),
               "plain text for terminals and logs",
               parts=((("intensity", "zones"), "carbonguard.formats.intensity_text"),
                      (("check", "diff"), "carbonguard.formats.check_text"),
                      (("verify", "judged", "keys", "policy-validation"), "carbonguard.formats.admin_text"))),
    FormatSpec("json", "carbonguard.formats.json_format",
               ("run", "meter", "intensity", "zones", "compliance", "schedule", "estimate", "runs", "check",
                "diff", "match", "verify", "judged", "keys", "policy-validation"),
               "machine-readable JSON, units in field names"),
    FormatSpec("markdown", "carbonguard.formats.markdown", ("run", "compliance", "check", "diff"),
               "markdown for PR comments and Prefect artifacts",
               parts=((("check", "diff"), "carbonguard.formats.check_markdown"),)),
    FormatSpec("html", "carbonguard.formats.html", ("run", "compliance"),
               "one self-contained HTML page with charts", requires=("matplotlib",),
               install_hint="pip install 'carbonguard[report]'"),
    FormatSpec("github", "carbonguard.formats.github", ("check",),
               "GitHub Actions annotations; also writes the step summary and step outputs when run in Actions"),
    FormatSpec("sarif", "carbonguard.formats.sarif", ("check",),
               "SARIF 2.1.0 for code scanning (github/codeql-action/upload-sarif)"),
    FormatSpec("junit", "carbonguard.formats.junit", ("check",),
               "JUnit XML: one test case per budget and rule"),
)

FORMATS: dict[str, FormatSpec] = {spec.name: spec for spec in _SPECS}


def formats_for(kind: str) -> tuple[str, ...]:
    """Format names that can render a result of `kind`, in registry order."""
    return tuple(spec.name for spec in _SPECS if kind in spec.kinds)


def render(name: str, result: Result, options: RenderOptions | None = None) -> str:
    """Render `result` in format `name`; KeyError names what is available when it cannot."""
    spec = FORMATS.get(name)
    if spec is None or result.kind not in spec.kinds:
        raise KeyError(f"format {name!r} cannot render a {result.kind} result; "
                       f"available: {', '.join(formats_for(result.kind))}")
    module = importlib.import_module(spec.module_for(result.kind))
    return module.RENDERERS[result.kind](result, options or RenderOptions())
