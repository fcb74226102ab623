"""Stage energy and CO2e logged to a real MLflow tracking store (a local file store)."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

mlflow = pytest.importorskip("mlflow", reason="MLflow is an optional extra: pip install 'carbonguard[mlflow]'")

from carbonguard.integrations.mlflow import log_stage  # noqa: E402
from carbonguard.models import ComponentEnergy, EnergyMethod, StageRecord  # noqa: E402

UTC = timezone.utc


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # a local file store; MLflow >= 3.7 keeps it in maintenance mode and wants this opt-in for it
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    mlflow.set_tracking_uri(uri)
    yield mlflow.MlflowClient(uri)
    while mlflow.active_run():
        mlflow.end_run()


def record(
    *, gpu_kwh: float | None = 0.5, zone: str | None = "DE", attempt: int = 1, stage: str = "train"
) -> StageRecord:
    method = EnergyMethod.UNAVAILABLE if gpu_kwh is None else EnergyMethod.COUNTER
    return StageRecord(
        run_id="flow-run-1",
        flow_name="f",
        stage=stage,
        attempt=attempt,
        start=datetime(2025, 5, 4, 12, tzinfo=UTC),
        end=datetime(2025, 5, 4, 13, tzinfo=UTC),
        zone=zone,
        host="h",
        pid=1,
        components=(
            ComponentEnergy(
                component="cpu", device="package-0", method=EnergyMethod.COUNTER, energy_kwh=0.1, source="t"
            ),
            ComponentEnergy(component="gpu", device="GPU-0", method=method, energy_kwh=gpu_kwh, source="t"),
        ),
    )


def test_stage_energy_and_co2e_reach_the_active_run(store) -> None:
    with mlflow.start_run() as run:
        assert log_stage(record()) is True
        assert log_stage(record(gpu_kwh=0.7, attempt=2)) is True  # a retry is another step, not an overwrite
    data = store.get_run(run.info.run_id).data
    assert data.metrics["carbonguard.train.energy_kwh"] == pytest.approx(0.8)  # latest step
    assert data.metrics["carbonguard.train.co2e_kg"] == pytest.approx(0.8 * 380.95 / 1000)  # DE 2023, PUE 1
    assert data.metrics["carbonguard.train.duration_s"] == 3600
    history = store.get_metric_history(run.info.run_id, "carbonguard.train.energy_kwh")
    assert sorted((m.step, round(m.value, 6)) for m in history) == [(1, 0.6), (2, 0.8)]
    assert "dataset 2026.1 sha256 " in data.tags["carbonguard.train.intensity"]
    assert "zone DE" in data.tags["carbonguard.train.intensity"]


def test_unavailable_energy_is_no_metric_never_zero(store) -> None:
    with mlflow.start_run() as run:
        assert log_stage(record(gpu_kwh=None)) is True
    data = store.get_run(run.info.run_id).data
    assert "carbonguard.train.energy_kwh" not in data.metrics
    assert "carbonguard.train.co2e_kg" not in data.metrics
    assert data.tags["carbonguard.train.energy"] == "unavailable"


def test_without_a_zone_energy_is_logged_but_not_priced(store) -> None:
    with mlflow.start_run() as run:
        log_stage(record(zone=None))
    assert set(store.get_run(run.info.run_id).data.metrics) == {
        "carbonguard.train.energy_kwh",
        "carbonguard.train.duration_s",
    }


def test_nothing_is_logged_without_an_active_run(store) -> None:
    assert log_stage(record()) is False
    assert store.search_runs([e.experiment_id for e in store.search_experiments()]) == []


def test_a_stage_in_another_thread_logs_to_the_run_named_by_mlflow_run_id(store, monkeypatch) -> None:
    # MLflow's active run is thread-local: a task-runner thread sees none, so MLFLOW_RUN_ID names it
    results: list[bool] = []
    with mlflow.start_run() as run:
        monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
        worker = threading.Thread(target=lambda: results.append(log_stage(record(stage="eval"))))
        worker.start()
        worker.join()
    assert results == [True]
    assert "carbonguard.eval.energy_kwh" in store.get_run(run.info.run_id).data.metrics


def test_hostile_stage_names_make_valid_keys(store) -> None:
    with mlflow.start_run() as run:
        assert log_stage(record(stage="tr\u00e4in;rm -rf *\n")) is True
    assert "carbonguard.tr_in_rm -rf __.energy_kwh" in store.get_run(run.info.run_id).data.metrics


def test_an_mlflow_error_never_fails_the_stage(store, monkeypatch, caplog) -> None:
    monkeypatch.setenv("MLFLOW_RUN_ID", "0" * 32)  # no such run
    assert log_stage(record()) is False
    assert "could not log stage 'train' to MLflow" in caplog.text
