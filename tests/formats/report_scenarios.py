"""Real reports to render: stage records in a real ledger, judged by the real pipeline and policy.

`example_run` mirrors `examples/train_flow.py` (prepare, train, evaluate), made long enough (three
and a half hours) to cross several clock hours, in zone GB with the half-hourly GB intensity fixture
(tests/fixtures/README.md), so the hourly chart has something to show. `period` adds runs on other
days, one of them blocked, for the audit-period report. `hostile=True` names a stage and the
policy version with markup.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from carbonguard.assess import assess_run, record_assessment
from carbonguard.ledger import Signer, open_ledger
from carbonguard.models import ComponentEnergy, EnergyMethod, IntensityPoint, Origin, StageRecord
from carbonguard.policy import load_policy
from carbonguard.reporting.compliance import ComplianceReport, build_report
from carbonguard.reporting.run import RunReport, ledger_state

UTC = timezone.utc
GB_CSV = Path(__file__).resolve().parents[1] / "fixtures" / "gb-carbon-intensity-2023-05-04.csv"
HOSTILE_STAGE = "<script>alert(1)</script>"
HOSTILE_VERSION = '"><img src=x onerror="alert(2)">'
START = datetime(2023, 5, 4, 13, 10, tzinfo=UTC)

POLICY = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata:
  name: example-train
  version: {version}
spec:
  location:
    zone: GB
  pue: 1.2
  budgets:
    - id: run-co2e
      metric: co2e_kg
      limit: {limit}
      warn_at: 0.8
      action: block
    - id: train-energy
      scope: stage:train
      metric: energy_kwh
      limit: 2.5
      action: warn
  measurement:
    estimated: warn
    unavailable: block
  reporting:
    functional_unit: trained model
"""


class FixtureSource:
    """The GB Carbon Intensity fixture as an intensity source (half-hourly, zone GB)."""

    name = "uk-carbon-intensity"

    def __init__(self) -> None:
        with GB_CSV.open() as fh:
            self.points = [IntensityPoint(
                zone="GB", start=datetime.fromisoformat(r["time"].replace("Z", "+00:00")), duration_s=1800,
                intensity_g_per_kwh=float(r["intensity"]), provider="uk-carbon-intensity", origin=Origin.CACHE,
                source="NESO Carbon Intensity API, GB national (test fixture)") for r in csv.DictReader(fh)]

    def series(self, zone: str, start: datetime, end: datetime) -> list[IntensityPoint]:
        return [p for p in self.points if p.start + timedelta(seconds=p.duration_s) > start and p.start < end]


def _stage(run_id: str, stage: str, start: datetime, minutes: float, gpu_kwh: float | None,
           estimated: bool = False) -> StageRecord:
    gpu = (ComponentEnergy(component="gpu", device="GPU-0", method=EnergyMethod.UNAVAILABLE, source="nvml:error")
           if gpu_kwh is None else
           ComponentEnergy(component="gpu", device="GPU-0", method=EnergyMethod.ESTIMATED, energy_kwh=gpu_kwh,
                           uncertainty_kwh=gpu_kwh * 0.35, source="estimate:tdp x utilisation")
           if estimated else
           ComponentEnergy(component="gpu", device="GPU-0", method=EnergyMethod.COUNTER, energy_kwh=gpu_kwh,
                           source="nvml:total-energy-counter"))
    cpu = ComponentEnergy(component="cpu", device="package-0", method=EnergyMethod.COUNTER,
                          energy_kwh=minutes / 60 * 0.065, source="rapl:package-0")
    return StageRecord(run_id=run_id, flow_name="carbonguard-example-train", stage=stage, start=start,
                       end=start + timedelta(minutes=minutes), zone="GB", host="trainer-1", pid=4242,
                       components=(gpu, cpu))


@dataclass
class Scenario:
    ledger_url: str
    policy_path: Path


def _policy(tmp: Path, hostile: bool, limit: float) -> Path:
    path = tmp / ("policy-hostile.yaml" if hostile else "policy.yaml")
    version = "'" + HOSTILE_VERSION.replace("'", "''") + "'" if hostile else '"1.0.0"'
    path.write_text(POLICY.format(version=version, limit=limit))
    return path


def _record_run(ledger_url: str, signer: Signer, policy: Path, run_id: str, start: datetime,
                stages: list[tuple[str, float, float | None, bool]], as_of: datetime) -> RunReport:
    with open_ledger(ledger_url, signing_key=signer) as led:
        at = start
        for name, minutes, gpu_kwh, estimated in stages:
            led.append("stage", _stage(run_id, name, at, minutes, gpu_kwh, estimated).model_dump(mode="json"))
            at += timedelta(minutes=minutes)
        loaded = load_policy(policy)
        assessment = record_assessment(led, loaded, assess_run(loaded, led, run_id, as_of=as_of,
                                                                source=FixtureSource()))
        return RunReport(assessment.decision, assessment.footprint, ledger=ledger_state(led))


def example_run(tmp: Path, *, hostile: bool = False) -> RunReport:
    """One run like the example flow; blocked by its CO2e budget, with an estimated stage."""
    signer = Signer.generate()
    train = HOSTILE_STAGE if hostile else "train"
    return _record_run(str(tmp / "ledger.db"), signer, _policy(tmp, hostile, 0.05), "example-run-1", START,
                       [("prepare", 12, 0.08, False), (train, 170, 2.9, True), ("evaluate", 28, 0.21, False)],
                       START + timedelta(hours=4))


def period(tmp: Path) -> ComplianceReport:
    """Five runs over three days of the fixture window: allowed, warned, blocked, one without a reading."""
    signer = Signer.generate()
    url = str(tmp / "period.db")
    policy = _policy(tmp, False, 0.08)
    runs = [
        ("nightly-0504a", START,
         [("prepare", 10, 0.06, False), ("train", 90, 1.3, False), ("evaluate", 15, 0.1, False)]),
        ("nightly-0504b", START + timedelta(hours=6),
         [("prepare", 10, 0.06, False), ("train", 150, 2.7, True), ("evaluate", 20, 0.15, False)]),
        ("sweep-0505", START + timedelta(hours=20),
         [("prepare", 12, 0.07, False), ("train", 200, 3.4, False), ("evaluate", 25, 0.2, False)]),
        ("nightly-0505", START + timedelta(hours=28),
         [("prepare", 10, 0.05, False), ("train", 60, 0.9, False), ("evaluate", 12, 0.08, False)]),
        ("broken-meter-0505", START + timedelta(hours=36), [("train", 40, None, False)]),
    ]
    for run_id, start, stages in runs:
        _record_run(url, signer, policy, run_id, start, stages, start + timedelta(hours=5))
    with open_ledger(url, signing_key=signer) as led:
        return build_report(led)
