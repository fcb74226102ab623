"""@metered logs each stage to the MLflow run the flow opened (real Prefect API, real MLflow file store)."""

from __future__ import annotations

import pytest

mlflow = pytest.importorskip("mlflow", reason="MLflow is an optional extra: pip install 'carbonguard[mlflow]'")

from prefect import flow, task  # noqa: E402
from workloads import burn_cpu  # noqa: E402  (tests/prefect is on sys.path under pytest)

from carbonguard.prefect import metered  # noqa: E402


@task
@metered(stage="featurize", zone="FR")
def featurize() -> int:
    return burn_cpu(0.05)


@metered(stage="fit", zone="FR")
@task
def fit() -> int:
    return burn_cpu(0.05)


@flow
def tracked_training() -> str:
    with mlflow.start_run() as run:
        featurize()
        fit()
        return run.info.run_id


def test_metered_stages_land_in_the_flows_mlflow_run(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    uri = (tmp_path / "mlruns").as_uri()
    mlflow.set_tracking_uri(uri)
    run_id = tracked_training()
    metrics = mlflow.MlflowClient(uri).get_run(run_id).data.metrics
    for stage in ("featurize", "fit"):
        assert metrics[f"carbonguard.{stage}.duration_s"] > 0
        # energy is whatever this machine could read; when it could, CO2e is priced at France's figure
        if f"carbonguard.{stage}.energy_kwh" in metrics:
            assert metrics[f"carbonguard.{stage}.co2e_kg"] == pytest.approx(
                metrics[f"carbonguard.{stage}.energy_kwh"] * 56.039 / 1000
            )
