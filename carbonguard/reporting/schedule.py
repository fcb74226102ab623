"""The result of `carbonguard schedule`: the plan across windows and zones, and what it rests on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from carbonguard.scheduling.models import SchedulePlan


@dataclass(frozen=True)
class ScheduleReport:
    kind: ClassVar[str] = "schedule"
    plan: SchedulePlan
    forecast_files: tuple[str, ...] = ()
    provider_errors: tuple[str, ...] = ()
    policy: str | None = None

    def json_document(self) -> dict[str, Any]:
        doc = self.plan.model_dump(mode="json", exclude={"searches"})
        doc["searches"] = [s.model_dump(mode="json") for s in self.plan.searches]
        doc["inputs"] = {"forecast_files": list(self.forecast_files), "provider_errors": list(self.provider_errors),
                         "policy": self.policy}
        return doc
