"""The pure estimator and from_run scaling: figures by hand, bands, provenance, determinism."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from carbonguard.errors import InputError
from carbonguard.estimate.accelerators import load_table, parse_table
from carbonguard.estimate.estimator import estimate_job, stage_duration_s
from carbonguard.estimate.loader import parse_jobspec
from carbonguard.estimate.scaling import estimate_from_run, scale_records
from carbonguard.metering import cpu_power
from carbonguard.metering.process import RAM_W_PER_GB
from carbonguard.models import ComponentEnergy, EnergyMethod, StageRecord

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)

SPEC = """\
apiVersion: carbonguard/v1
kind: TrainingJob
metadata: {name: hand}
spec:
  location: {zone: fr}
  pue: 1.2
  stages:
    - name: prep
      hardware: {cpu_cores: 10, cpu_model: "AMD EPYC 7763 64-Core Processor", memory_gb: 100}
      duration_h: 2
    - name: train
      hardware:
        accelerator: {model: a100-40gb, count: 4}
        nodes: 2
      compute: {flops: 2.88e18, achieved_tflops_per_accelerator: 100}
      utilisation: 0.5
      location: {cloud: {provider: gcp, region: europe-west4}}
      pue: 1.1
"""


def estimate(text: str = SPEC):
    return estimate_job(parse_jobspec(text, "j.yaml").spec, start=T0, table=load_table())


def test_accelerator_energy_by_hand() -> None:
    train = estimate().stages[1]
    # 2.88e18 FLOPs / (100 TFLOP/s x 8 accelerators) = 3600 s; 8 x 304 W x 0.5 x 1 h = 1.216 kWh
    assert train.record.duration_s == pytest.approx(3600)
    [gpu] = train.record.components
    assert gpu.method == EnergyMethod.ESTIMATED
    assert gpu.energy_kwh == pytest.approx(1.216)
    assert gpu.uncertainty_kwh == pytest.approx(0.25 * 1.216)
    assert "accelerators.csv:nvidia-a100-sxm4-40gb" in gpu.source and "arXiv:2506.14551" in gpu.source
    assert "nvidia.com/en-us/data-center/a100" in gpu.source
    assert "training-draw-derived" in gpu.flags
    assert (train.location, train.pue) == ("NL", 1.1)  # a cloud region prices in its grid zone, as the gate does


def test_band_never_reaches_past_tdp() -> None:
    table = parse_table("model,aliases,vendor,memory_gb,tdp_w,tdp_basis,tdp_source,training_w,training_basis,"
                        "training_source\nhot-1,a100-40gb,V,1,100,datasheet,ds,90,derived: test,study\n", "t.csv")
    text = SPEC.replace("utilisation: 0.5", "utilisation: 1.0")
    est = estimate_job(parse_jobspec(text, "j.yaml").spec, start=T0, table=table)
    [gpu] = est.stages[1].record.components
    assert gpu.energy_kwh == pytest.approx(8 * 90 / 1000)
    assert gpu.uncertainty_kwh == pytest.approx(8 * (100 - 90) / 1000)  # 25 % would pass 8 x TDP


def test_cpu_and_memory_reuse_the_metering_figures() -> None:
    prep = estimate().stages[0].record
    cpu, dram = prep.components
    w = cpu_power.lookup("AMD EPYC 7763 64-Core Processor").w_per_core
    assert cpu.energy_kwh == pytest.approx(10 * w * 2 / 1000)
    assert cpu.uncertainty_kwh == pytest.approx(cpu.energy_kwh * cpu_power.RELATIVE_UNCERTAINTY["table"])
    assert dram.energy_kwh == pytest.approx(100 * RAM_W_PER_GB * 2 / 1000)


def test_unknown_cpu_model_uses_the_flagged_default() -> None:
    prep = estimate(SPEC.replace("AMD EPYC 7763 64-Core Processor", "Mystery CPU")).stages[0].record
    assert prep.components[0].flags == ("cpu-power:default",)
    assert prep.components[0].energy_kwh == pytest.approx(10 * cpu_power.DEFAULT_W_PER_CORE * 2 / 1000)


def test_stages_run_back_to_back_from_the_given_start() -> None:
    prep, train = estimate().records
    assert prep.start == T0 and prep.end == T0 + timedelta(hours=2)
    assert train.start == prep.end and train.end == prep.end + timedelta(hours=1)
    assert prep.zone == "FR" and prep.host == "estimate" and prep.run_id == "estimate:hand"


def test_deterministic() -> None:
    assert estimate().records == estimate().records


def test_naive_start_is_refused() -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        estimate_job(parse_jobspec(SPEC, "j.yaml").spec, start=datetime(2025, 1, 1), table=load_table())


def test_duration_from_hours() -> None:
    assert stage_duration_s(parse_jobspec(SPEC, "j.yaml").spec.spec.stages[0]) == 7200


def _measured(stage: str, start: datetime, minutes: int, *components: ComponentEnergy, cached: bool = False):
    return StageRecord(run_id="run-1", flow_name="f", stage=stage, start=start,
                       end=start + timedelta(minutes=minutes), host="h", pid=1, zone="DE", cached=cached,
                       components=components)


GPU = ComponentEnergy(component="gpu", device="GPU-1", method="counter", energy_kwh=2.0, uncertainty_kwh=0.1,
                      source="nvml:total-energy-counter")
MISSING = ComponentEnergy(component="cpu", device="rapl", method="unavailable", source="rapl:permission-denied")


def test_scaling_multiplies_energy_time_and_band_and_keeps_provenance() -> None:
    t = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
    records = [_measured("train", t, 60, GPU, MISSING), _measured("eval", t + timedelta(hours=2), 30, GPU)]
    train, evaluate = scale_records(records, scale=2.0, start=T0, run_id="est", relative_uncertainty=0.2)
    assert train.start == T0 and train.end == T0 + timedelta(hours=2)
    assert evaluate.start == T0 + timedelta(hours=4) and evaluate.duration_s == 3600
    gpu, missing = train.components
    assert gpu.method == EnergyMethod.ESTIMATED and gpu.energy_kwh == 4.0
    assert gpu.uncertainty_kwh == pytest.approx(0.2 + 0.8)
    assert "from_run run-1 x2 (measured counter: nvml:total-energy-counter)" in gpu.source
    # never turn "no reading" into a number
    assert missing.method == EnergyMethod.UNAVAILABLE and missing.energy_kwh is None


def test_scaling_keeps_cached_records_cached() -> None:
    [r] = scale_records([_measured("train", T0, 10, cached=True)], scale=3, start=T0, run_id="e")
    assert r.cached


@pytest.mark.parametrize("scale", [0, -1.0])
def test_scale_must_be_positive(scale: float) -> None:
    with pytest.raises(InputError, match="scale must be > 0"):
        scale_records([_measured("t", T0, 1, GPU)], scale=scale, start=T0, run_id="e")


def test_no_records_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no stage records"):
        scale_records([], scale=1, start=T0, run_id="e")


def test_estimate_from_run_uses_the_job_location_and_pue() -> None:
    text = "apiVersion: carbonguard/v1\nkind: TrainingJob\nmetadata: {name: again}\nspec:\n" \
           "  location: {zone: se}\n  pue: 1.3\n  from_run: {run_id: run-1, scale: 1.5}\n"
    est = estimate_from_run(parse_jobspec(text, "j.yaml").spec, [_measured("train", T0, 60, GPU)], start=T0)
    [stage] = est.stages
    assert (stage.location, stage.pue) == ("SE", 1.3)
    assert stage.record.components[0].energy_kwh == pytest.approx(3.0)
    assert stage.record.components[0].uncertainty_kwh == pytest.approx(0.15 + 0.2 * 3.0)


def test_estimate_package_is_pure() -> None:
    code = ("import carbonguard.estimate.estimator, carbonguard.estimate.scaling, carbonguard.estimate.pricing, sys; "
            "print('\\n'.join(sys.modules))")
    loaded = set(subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                                check=True).stdout.split())
    for forbidden in ("prefect", "httpx", "sqlite3", "psycopg", "pynvml", "urllib.request"):
        assert forbidden not in loaded, f"the estimator pulls in {forbidden}"
