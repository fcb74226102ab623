"""@metered under Prefect's task runners: threads, processes, and a local Dask cluster of 2 workers.

Records must carry host, pid and devices, and flow totals must not count the same device's energy
twice when windows overlap on it (see docs/metering.md, attribution).
"""

from __future__ import annotations

import cloudpickle
import pytest
import workloads
from prefect import flow
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from carbonguard.ledger import open_ledger
from carbonguard.metering.attribution import attribute_shared_devices
from carbonguard.models import StageRecord

cloudpickle.register_pickle_by_value(workloads)


def _run_records(run_id: str) -> list[StageRecord]:
    with open_ledger() as ledger:
        return [StageRecord.model_validate(r.payload) for r in ledger.records(run_id=run_id, record_type="stage")]


def _fan_out(n: int) -> str:
    from prefect.runtime import flow_run

    futures = [workloads.shard.submit(i) for i in range(n)]
    assert sorted(f.result() for f in futures) == list(range(n))
    return flow_run.id


def _overlap(a: StageRecord, b: StageRecord) -> bool:
    return a.start < b.end and b.start < a.end


def test_thread_pool_overlapping_windows_do_not_double_count() -> None:
    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def threads() -> str:
        return _fan_out(2)

    records = _run_records(threads())
    assert len(records) == 2
    assert {r.pid for r in records} == {records[0].pid}
    assert all(r.host and r.components for r in records)
    assert _overlap(*records), "the two thread-pool tasks should have run at the same time"
    raw = sum(r.energy_kwh for r in records)
    attributed = attribute_shared_devices(records)
    # Both windows saw the whole process's CPU time: after attribution each share is counted once.
    assert sum(r.energy_kwh for r in attributed) < raw
    assert all("apportioned" in c.flags for r in attributed for c in r.components if c.device == "process")


def test_process_pool_records_carry_their_own_pid() -> None:
    @flow(task_runner=ProcessPoolTaskRunner(max_workers=2))
    def processes() -> str:
        return _fan_out(2)

    records = _run_records(processes())
    assert len(records) == 2
    assert len({r.pid for r in records}) == 2
    for record in records:
        assert record.energy_kwh > 0
        assert any(c.device == "process" for c in record.components)
    # Different processes: their per-process estimates are their own and are never split.
    attributed = attribute_shared_devices(records)
    assert [r.energy_kwh for r in attributed] == [r.energy_kwh for r in records]


def test_dask_cluster_of_two_worker_processes() -> None:
    prefect_dask = pytest.importorskip("prefect_dask", reason="pip install carbonguard[dask]")

    runner = prefect_dask.DaskTaskRunner(
        cluster_kwargs={"n_workers": 2, "processes": True, "threads_per_worker": 1, "dashboard_address": None}
    )

    @flow(task_runner=runner)
    def dask_flow() -> str:
        return _fan_out(4)

    records = _run_records(dask_flow())
    assert len(records) == 4
    assert len({r.pid for r in records}) == 2, "4 tasks on 2 worker processes"
    assert all(r.energy_kwh > 0 and r.task_run_id for r in records)
    attributed = attribute_shared_devices(records)
    assert sum(r.energy_kwh for r in attributed) <= sum(r.energy_kwh for r in records) + 1e-15
