"""Each metered stage's energy and CO2e, logged to the MLflow run the training code has open.

Optional: nothing happens unless MLflow is installed *and* a run is active, so carbonguard never
imports MLflow itself (it is heavy) just to find out. MLflow's active run is thread-local: a stage
running in the thread that called `mlflow.start_run()` logs to it; a stage run in a task-runner
thread or another process logs to the run named by the `MLFLOW_RUN_ID` environment variable, if
set. Logging never fails the stage: an MLflow error is logged as a warning and dropped.

What is logged, per stage (step = the attempt number, so retries do not overwrite each other):

* `carbonguard.<stage>.energy_kwh` — IT energy (before PUE), only when every reading is known;
  otherwise no metric and the tag `carbonguard.<stage>.energy` = `unavailable` (never 0);
* `carbonguard.<stage>.co2e_kg` — location-based, energy x PUE x the embedded annual grid figure
  of the stage's zone (the gate may use live data and a policy PUE, so its figure can differ);
  only when the zone is known and the energy complete;
* `carbonguard.<stage>.duration_s`;
* tags `carbonguard.<stage>.intensity` (the figure, zone, data year, dataset version and hash)
  and `carbonguard.<stage>.flags`.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carbonguard.intensity.source import IntensitySource
    from carbonguard.models import StageRecord

log = logging.getLogger(__name__)
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")
_MAX_KEY = 250  # MLflow's limit on a metric or tag key


def _key(stage: str, name: str) -> str:
    return f"carbonguard.{_KEY_UNSAFE.sub('_', stage)}"[: _MAX_KEY - len(name) - 1] + f".{name}"


def _target_run(mlflow: Any) -> str | None:
    run = mlflow.active_run()
    return run.info.run_id if run is not None else os.environ.get("MLFLOW_RUN_ID") or None


def stage_metrics(
    record: StageRecord, *, pue: float = 1.0, source: IntensitySource | None = None
) -> tuple[dict[str, float], dict[str, str]]:
    """The metrics and tags `log_stage` sends, computed without MLflow (pure but for the dataset)."""
    from carbonguard.accounting import compute_footprint
    from carbonguard.intensity.providers.embedded import EmbeddedSource

    metrics = {_key(record.stage, "duration_s"): record.duration_s}
    tags: dict[str, str] = {}
    complete = all(c.energy_kwh is not None for c in record.components) and bool(record.components)
    if complete:
        metrics[_key(record.stage, "energy_kwh")] = record.energy_kwh
    else:
        tags[_key(record.stage, "energy")] = "unavailable"
    if complete and record.zone:
        try:
            fp = compute_footprint(
                [record], run_id=record.run_id, zone=record.zone, pue=pue, source=source or EmbeddedSource()
            )
        except Exception as exc:  # an unknown zone is the gate's business, not a reason to lose the energy
            tags[_key(record.stage, "intensity")] = f"not priced: {exc}"[:5000]
        else:
            if fp.co2e_kg is not None:
                metrics[_key(record.stage, "co2e_kg")] = fp.co2e_kg
            point = fp.intensity_sources[0] if fp.intensity_sources else None
            if point is not None:
                tags[_key(record.stage, "intensity")] = (
                    f"{point.intensity_g_per_kwh} g/kWh, zone {point.zone}, {point.provider}, data year {point.year}, "
                    f"dataset {point.dataset_version} sha256 {point.dataset_hash}, pue {pue}"
                )
            tags[_key(record.stage, "flags")] = ",".join(fp.flags)
    return metrics, tags


def log_stage(record: StageRecord, *, pue: float = 1.0, source: IntensitySource | None = None) -> bool:
    """Log one stage record to the active MLflow run; True when something was logged.

    Called by `@metered` after the record is written to the ledger. Never raises.
    """
    if record.cached or ("mlflow" not in sys.modules and not os.environ.get("MLFLOW_RUN_ID")):
        return False  # no active run can exist in this process without MLflow imported
    try:
        import mlflow
        from mlflow.entities import Metric, RunTag

        run_id = _target_run(mlflow)
        if run_id is None:
            return False
        metrics, tags = stage_metrics(record, pue=pue, source=source)
        now_ms = int(time.time() * 1000)
        mlflow.MlflowClient().log_batch(
            run_id,
            metrics=[Metric(k, v, now_ms, record.attempt) for k, v in metrics.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        return True
    except Exception:
        log.warning("carbonguard: could not log stage %r to MLflow", record.stage, exc_info=True)
        return False
