"""One error type for bad input, so every surface can print one clear line and exit 2.

Bad input (a policy, a certificate file, a CLI flag, a provider response) must never produce a
traceback or a silent default. Code that parses input raises `InputError` with the location it knows;
the CLI catches it, prints `str(error)` and exits with `EXIT_INPUT_ERROR`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EXIT_OK = 0
EXIT_BLOCKED = 1
EXIT_INPUT_ERROR = 2


class CarbonguardError(Exception):
    """Base class of every error carbonguard raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One located problem: `file:line:column: field.path: message`."""

    message: str
    source: str | None = None
    line: int | None = None
    column: int | None = None
    field_path: str | None = None

    def __str__(self) -> str:
        where = self.source or ""  # no placeholder like "<input>" when nothing names the source
        if self.line is not None:
            where += f"{':' if where else 'line '}{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        prefix = f"{where}: " if where else ""
        if self.field_path:
            prefix += f"{self.field_path}: "
        return prefix + self.message


@dataclass
class InputError(CarbonguardError):
    """Input that carbonguard refuses; carries one or more located problems."""

    problems: list[Problem] = field(default_factory=list)

    def __init__(self, problems: Problem | list[Problem] | str, *, source: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems, source=source)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class GateBlocked(CarbonguardError):
    """Raised by surfaces that must stop a pipeline when the gate says block."""

    def __init__(self, decision: object, message: str) -> None:
        self.decision = decision
        super().__init__(message)

    def __reduce__(self) -> tuple[type, tuple[object, str]]:  # picklable across Prefect workers
        return (type(self), (self.decision, str(self)))
