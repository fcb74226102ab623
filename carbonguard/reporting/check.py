"""Results of `carbonguard check` and `carbonguard diff`: decisions, figures, baselines and deltas.

Figures only, never text: each format renders them its own way. Deterministic by construction:
no wall-clock time (`Decision.evaluated_at` is left out of the JSON document), stages in a fixed
order, and the diff sorted by how much each stage moved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from carbonguard.models import Decision, Figures, FigureSet, Finding, Outcome, RunFootprint

CHECK_SCHEMA = "carbonguard.check/v1"
DIFF_SCHEMA = "carbonguard.diff/v1"
SCHEMA_VERSION = 1
FailOn = Literal["block", "warn", "never"]


@dataclass(frozen=True)
class SourceLine:
    """A place in a file a finding points at (for annotations and SARIF locations)."""

    file: str
    line: int | None = None


@dataclass(frozen=True)
class JobspecLines:
    """Where a job spec declares what findings talk about: its top, its location, each stage."""

    file: str
    top: int | None = None
    location: int | None = None
    stages: tuple[tuple[str, int | None], ...] = ()

    def stage(self, name: str) -> int | None:
        return next((line for s, line in self.stages if s == name), None)


@dataclass(frozen=True)
class BudgetInfo:
    """One budget of the policy, so JUnit can list a test case for each even when nothing failed."""

    id: str
    scope: str
    metric: str
    limit: float
    line: int | None = None

    @property
    def rule_id(self) -> str:
        return f"budget.{self.id}"


def change(base: float | None, head: float | None) -> tuple[float | None, float | None]:
    """(head - base, (head - base) / base); None where a side is unknown or the base is 0."""
    if base is None or head is None:
        return None, None
    delta = head - base
    return delta, (delta / base if base > 0 else None)


@dataclass(frozen=True)
class CheckedSubject:
    """One judged job spec (an estimate) or recorded run."""

    kind: Literal["jobspec", "run"]
    name: str  # job spec path or run id
    decision: Decision
    footprint: RunFootprint
    baseline: FigureSet | None = None
    jobspec: JobspecLines | None = None

    @property
    def figures(self) -> Figures:
        return Figures.of(self.footprint)

    @property
    def delta_co2e_kg(self) -> float | None:
        return None if self.baseline is None else change(self.baseline.total.co2e_kg, self.figures.co2e_kg)[0]

    @property
    def delta_fraction(self) -> float | None:
        return None if self.baseline is None else change(self.baseline.total.co2e_kg, self.figures.co2e_kg)[1]

    @property
    def delta_energy_kwh(self) -> float | None:
        return None if self.baseline is None else change(self.baseline.total.energy_kwh, self.figures.energy_kwh)[0]

    def locations(self, finding: Finding) -> list[SourceLine]:
        """Where a finding points, most useful first: the job spec line for what the job spec declares
        (stage budgets, totals, the location), the policy line for the rule itself; both when known."""
        policy = SourceLine(finding.policy_file, finding.policy_line) if finding.policy_file else None
        spec = None
        if self.jobspec is not None and finding.rule_id.startswith(("budget.", "location.")):
            stage = finding.scope.split(":", 1)[1] if finding.scope.startswith("stage:") else None
            line = (self.jobspec.stage(stage) if stage else
                    self.jobspec.location if finding.rule_id.startswith("location.") else self.jobspec.top)
            spec = SourceLine(self.jobspec.file, line)
        return [loc for loc in (spec, policy) if loc is not None]

    def json_document(self) -> dict[str, Any]:
        figures, base = self.figures, self.baseline
        return {
            "kind": self.kind,
            "name": self.name,
            "decision": self.decision.model_dump(mode="json", exclude={"evaluated_at"}),
            "figures": figures.model_dump(mode="json"),
            "baseline": base.model_dump(mode="json") if base is not None else None,
            "delta": None if base is None else {
                "energy_kwh": self.delta_energy_kwh,
                "co2e_kg": self.delta_co2e_kg,
                "co2e_fraction": self.delta_fraction,
            },
            "footprint": self.footprint.model_dump(mode="json"),
        }


@dataclass(frozen=True)
class CheckReport:
    """What `carbonguard check` decided for each job spec or run, against one policy."""

    kind: ClassVar[str] = "check"
    policy_file: str
    policy_name: str
    policy_version: str
    policy_hash: str
    subjects: tuple[CheckedSubject, ...]
    fail_on: FailOn = "block"
    budgets: tuple[BudgetInfo, ...] = ()

    @property
    def outcome(self) -> Outcome:
        return max((s.decision.outcome for s in self.subjects), key=lambda o: o.severity, default=Outcome.ALLOW)

    @property
    def failed(self) -> bool:
        """Whether the check fails under `fail_on` (exit 1): block and reschedule always, warn on request."""
        if self.fail_on == "never":
            return False
        threshold = Outcome.WARN if self.fail_on == "warn" else Outcome.RESCHEDULE
        return self.outcome.severity >= threshold.severity

    @property
    def co2e_kg(self) -> float | None:
        values = [s.figures.co2e_kg for s in self.subjects]
        return None if not values or any(v is None for v in values) else float(sum(values))

    @property
    def baseline_co2e_kg(self) -> float | None:
        values = [s.baseline.total.co2e_kg if s.baseline else None for s in self.subjects]
        return None if not values or any(v is None for v in values) else float(sum(values))

    @property
    def delta_co2e_kg(self) -> float | None:
        return change(self.baseline_co2e_kg, self.co2e_kg)[0]

    @property
    def delta_fraction(self) -> float | None:
        return change(self.baseline_co2e_kg, self.co2e_kg)[1]

    @property
    def baseline_label(self) -> str | None:
        labels = sorted({s.baseline.label for s in self.subjects if s.baseline is not None})
        return ", ".join(labels) if labels else None

    def json_document(self) -> dict[str, Any]:
        return {
            "schema": CHECK_SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "outcome": self.outcome.value,
            "failed": self.failed,
            "fail_on": self.fail_on,
            "policy": {"file": self.policy_file, "name": self.policy_name, "version": self.policy_version,
                       "sha256": self.policy_hash},
            "co2e_kg": self.co2e_kg,
            "baseline_co2e_kg": self.baseline_co2e_kg,
            "delta_co2e_kg": self.delta_co2e_kg,
            "delta_co2e_fraction": self.delta_fraction,
            "subjects": [s.json_document() for s in self.subjects],
        }


@dataclass(frozen=True)
class DiffRow:
    """One stage (or the total) on both sides."""

    stage: str
    base: Figures | None
    head: Figures | None

    def _change(self, name: str) -> tuple[float | None, float | None]:
        b = getattr(self.base, name) if self.base is not None else (0.0 if self.head is not None else None)
        h = getattr(self.head, name) if self.head is not None else (0.0 if self.base is not None else None)
        return change(b, h)

    @property
    def delta_energy_kwh(self) -> float | None:
        return self._change("energy_kwh")[0]

    @property
    def energy_fraction(self) -> float | None:
        return self._change("energy_kwh")[1]

    @property
    def delta_co2e_kg(self) -> float | None:
        return self._change("co2e_kg")[0]

    @property
    def co2e_fraction(self) -> float | None:
        return self._change("co2e_kg")[1]

    @property
    def status(self) -> str:
        if self.base is None or self.head is None:
            return "added" if self.base is None else "removed"
        pairs = [(getattr(self.base, f), getattr(self.head, f)) for f in Figures.model_fields]
        same = all(b == h if b is None or h is None else math.isclose(b, h, rel_tol=1e-9, abs_tol=1e-12)
                   for b, h in pairs)
        return "unchanged" if same else "changed"

    def json_document(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "status": self.status,
            "base": self.base.model_dump(mode="json") if self.base is not None else None,
            "head": self.head.model_dump(mode="json") if self.head is not None else None,
            "delta_energy_kwh": self.delta_energy_kwh,
            "energy_fraction": self.energy_fraction,
            "delta_co2e_kg": self.delta_co2e_kg,
            "co2e_fraction": self.co2e_fraction,
        }


def _moved(row: DiffRow) -> tuple[float, float, str]:
    """Sort key: biggest |delta CO2e| first, then |delta energy|, then name (unknown deltas last)."""
    co2e, energy = row.delta_co2e_kg, row.delta_energy_kwh
    return (-abs(co2e) if co2e is not None else 1.0, -abs(energy) if energy is not None else 1.0, row.stage)


@dataclass(frozen=True)
class DiffReport:
    """Base against head, per stage and in total, stage that moved most first."""

    kind: ClassVar[str] = "diff"
    base: FigureSet
    head: FigureSet
    rows: tuple[DiffRow, ...] = field(default=())

    @classmethod
    def compare(cls, base: FigureSet, head: FigureSet) -> DiffReport:
        names = list(dict.fromkeys([s for s, _ in base.stages] + [s for s, _ in head.stages]))
        rows = [DiffRow(name, base.stage(name), head.stage(name)) for name in names]
        return cls(base, head, tuple(sorted(rows, key=_moved)))

    @property
    def total(self) -> DiffRow:
        return DiffRow("total", self.base.total, self.head.total)

    def json_document(self) -> dict[str, Any]:
        return {
            "schema": DIFF_SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "base": {"label": self.base.label, "source": self.base.source},
            "head": {"label": self.head.label, "source": self.head.source},
            "total": self.total.json_document(),
            "stages": [row.json_document() for row in self.rows],
        }
