"""Compliance report from the ledger: per run and per period, every figure with unit and provenance.

Why these figures (and only from ledger records, so an auditor can recompute them from an export):
- EU AI Act (Regulation (EU) 2024/1689) Annex XI, Section 1, point 2: computational resources used
  for training, training time, and known or estimated energy consumption -> energy with its basis
  (measured by counter or sampling vs estimated), devices, device-hours, training time.
- GHG Protocol Scope 2 Guidance (2015): dual reporting of location-based and market-based
  emissions -> both, and "not computed" when a market-based figure is absent (never 0).
- ESRS E1 (E1-5, energy consumption and mix): total energy in MWh and the share from renewable
  sources -> from claimed certificates, else "not claimed".
- ISO/IEC 21031:2024 (Software Carbon Intensity): SCI = ((E x I) + M) per R -> computed only when
  the policy names a functional unit R; an absent embodied term M is stated, not assumed zero.
Quantities are decimal strings, computed with `Decimal` from the ledger's decimal strings.

The report is a typed model (`ComplianceReport`): figures and provenance only. `formats/` renders it
(markdown, JSON); nothing here writes text for people.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from carbonguard.errors import InputError, Problem
from carbonguard.models import energy_is_known
from carbonguard.reporting.judged import judged_listing
from carbonguard.runtree import SUBFLOW, parents, root_of, subflow_runs

if TYPE_CHECKING:
    from carbonguard.ledger.ledger import Ledger
    from carbonguard.ledger.record import LedgerRecord

MEASURED_METHODS = ("counter", "sampled")
STANDARDS = {
    "energy_and_compute": "EU AI Act (Regulation (EU) 2024/1689), Annex XI, Section 1, point 2",
    "scope2": "GHG Protocol Scope 2 Guidance (2015): location-based and market-based dual reporting",
    "energy_mix": "ESRS E1 (E1-5): total energy consumption in MWh and share from renewable sources",
    "sci": "ISO/IEC 21031:2024 Software Carbon Intensity: SCI = ((E x I) + M) per R",
}


class _Figures(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LedgerState(_Figures):
    url: str
    head_seq: int | None
    head_hash: str | None
    verified: bool
    verification: str
    verification_exit_code: int


class Selection(_Figures):
    run_id: str | None
    since: str | None
    until: str | None
    rule: str


class EnergyFigures(_Figures):
    it_energy_kwh: str | None
    measured_energy_kwh: str
    estimated_energy_kwh: str
    unavailable_readings: int
    basis: str
    measured_methods: list[str]
    facility_energy_kwh: str | None
    pue: str | float | None
    facility_energy_status: str


class DeviceRef(_Figures):
    host: str
    component: str
    device: str


class ComputeFigures(_Figures):
    devices: list[DeviceRef]
    gpu_count: int
    gpu_device_hours: str | None
    stages: int
    stage_time_h: str | None
    training_wall_time_h: str | None


class Scope2Figures(_Figures):
    location_based_co2e_kg: str | None
    location_based_source: str
    market_based_co2e_kg: str | None
    market_based_source: str


class ClaimRef(_Figures):
    seq: int
    registry: str | None
    certificates: str
    hour: str | None
    zone: str | None
    energy_mwh: str | float | None


class RenewableFigures(_Figures):
    claimed_energy_mwh: str | None
    renewable_share_percent: str | None
    status: str
    claims: list[ClaimRef]


class SciFigures(_Figures):
    functional_unit: str | None
    functional_units: str | None
    operational_co2e_g: str | None
    embodied_co2e_g: str | None
    embodied_status: str
    sci_g_per_unit: str | None
    status: str


class FindingRef(_Figures):
    """A finding as the decision recorded it: budgets show observed against limit."""

    rule_id: str
    outcome: str | None
    scope: str | None = None
    observed: float | None = None
    limit: float | None = None
    unit: str | None = None
    waived: bool = False


class DecisionRef(_Figures):
    seq: int
    outcome: str | None
    policy_name: str | None
    policy_version: str | None
    policy_hash: str | None
    record_hash: str
    findings: list[FindingRef] = []


class StageFigures(_Figures):
    """IT energy of one stage name over a run's stage records (None: no device gave a reading)."""

    stage: str
    records: int
    it_energy_kwh: str | None
    unavailable_readings: int


class JudgedRef(_Figures):
    """The run's latest footprint's judged records: its digest, checked against the ledger."""

    count: int
    sha256: str
    through_seq: int | None
    form: str  # "digest", or "list" for a footprint written before the digest
    matches_ledger: bool
    list_with: str


class Provenance(_Figures):
    record_hashes: list[str]
    judged_records: JudgedRef | None = None


class RunCompliance(_Figures):
    run_id: str
    subflow_run_ids: list[str] = []
    part_of_run_id: str | None = None
    start: str | None
    end: str | None
    energy: EnergyFigures
    compute: ComputeFigures
    scope2: Scope2Figures
    renewable: RenewableFigures
    sci: SciFigures
    decisions: list[DecisionRef]
    provenance: Provenance
    stages: list[StageFigures] = []


class PeriodFigures(_Figures):
    runs: int
    total_energy_mwh: str | None
    total_energy_scope: str
    measured_it_energy_mwh: str | None
    estimated_it_energy_mwh: str | None
    location_based_co2e_kg: str | None
    location_based_status: str
    market_based_co2e_kg: str | None
    market_based_status: str
    renewable_energy_mwh: str | None
    renewable_share_percent: str | None
    renewable_status: str
    metered_gpu_device_hours: str | None


class ComplianceReport(_Figures):
    """Per-run and period figures from a ledger, each with its unit, basis and source record."""

    kind: ClassVar[str] = "compliance"
    report: str
    generated_at: str
    standards: dict[str, str]
    ledger: LedgerState
    selection: Selection
    runs: list[RunCompliance]
    period: PeriodFigures

    def json_document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_period_bound(text: str, flag: str) -> datetime:
    """An ISO date (midnight UTC) or an ISO time with an explicit offset or Z."""
    try:
        if len(text) == 10:
            return datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time(), timezone.utc)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(Problem(f"{text!r} is not an ISO date (2026-01-31) or time (2026-01-31T12:00Z)",
                                 source="command line", field_path=flag)) from exc
    if value.tzinfo is None:
        raise InputError(Problem(f"{text!r} has no UTC offset; add Z or +hh:mm", source="command line",
                                 field_path=flag))
    return value.astimezone(timezone.utc)


def _d(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _s(value: Decimal | None, places: int | None = None) -> str | None:
    if value is None:
        return None
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places))
    return format(value, "f")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


@dataclass
class _Run:
    """A run with its subflow runs: their stages and claims count here; the run's own footprints."""

    run_id: str
    subflows: list[str] = field(default_factory=list)
    part_of: str | None = None
    stages: list[LedgerRecord] = field(default_factory=list)
    footprints: list[LedgerRecord] = field(default_factory=list)
    decisions: list[LedgerRecord] = field(default_factory=list)
    claims: list[LedgerRecord] = field(default_factory=list)
    links: list[LedgerRecord] = field(default_factory=list)

    def start(self) -> datetime | None:
        starts = [_time(r.payload["start"]) for r in self.stages if "start" in r.payload]
        starts += [_time(r.payload["start"]) for r in self.footprints if r.payload.get("start")]
        return min(starts) if starts else (min(r.time for r in self.all()) if self.all() else None)

    def all(self) -> list[LedgerRecord]:
        return self.stages + self.footprints + self.decisions + self.claims + self.links


def build_report(ledger: Ledger, *, run_id: str | None = None, since: datetime | None = None,
                 until: datetime | None = None,
                 progress: Callable[[int, int | None], None] | None = None) -> ComplianceReport:
    """The report: ledger state, one entry per run, and the period totals.

    `progress(done, total)` follows the verification of the whole chain, the long part of a report
    over a large ledger (the CLI draws it as a bar on stderr).
    """
    runs: dict[str, _Run] = {}
    parent_of = parents(ledger.records(record_type=SUBFLOW))
    if run_id is None:  # a subflow run is part of the run it ran in, not a run of its own
        records = ledger.records()
        entry_of = lambda rid: root_of(rid, parent_of)  # noqa: E731
    else:
        below = subflow_runs(ledger, run_id)
        records = sorted((r for rid in (run_id, *below) for r in ledger.records(run_id=rid)), key=lambda r: r.seq)
        entry_of = lambda rid: run_id  # noqa: E731
    kinds = {"stage": "stages", "footprint": "footprints", "decision": "decisions", "claim": "claims"}
    for rec in records:
        if not rec.run_id:
            continue
        run = runs.setdefault(entry_of(rec.run_id), _Run(entry_of(rec.run_id)))
        if rec.record_type == SUBFLOW:
            run.subflows.append(rec.payload["subflow_run_id"])
            run.links.append(rec)
        elif rec.record_type in ("stage", "claim") or (rec.record_type in kinds and rec.run_id == run.run_id):
            # a subflow's own footprints and decisions judged the subflow alone, not this run
            getattr(run, kinds[rec.record_type]).append(rec)
    if run_id is not None and not (runs.get(run_id) and runs[run_id].all()):
        raise InputError(Problem(f"the ledger holds no records of run {run_id!r}", field_path="--run"))
    for run in runs.values():
        run.subflows = list(dict.fromkeys(run.subflows))
        run.part_of = parent_of.get(run.run_id)
    selected = []
    for run in runs.values():
        start = run.start()
        if (since is None or (start and start >= since)) and (until is None or (start and start < until)):
            selected.append(run)
    selected.sort(key=lambda r: (r.start() or datetime.min.replace(tzinfo=timezone.utc), r.run_id))
    verified = ledger.verify(progress=progress)
    run_reports = [_run_report(run, ledger) for run in selected]
    return ComplianceReport.model_validate({
        "report": "carbonguard compliance report",
        "generated_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "standards": STANDARDS,
        "ledger": {"url": ledger.url, "head_seq": verified.head_seq, "head_hash": verified.head_hash,
                   "verified": verified.ok, "verification": verified.message,
                   "verification_exit_code": verified.exit_code},
        "selection": {"run_id": run_id, "since": since.isoformat() if since else None,
                      "until": until.isoformat() if until else None,
                      "rule": "a run belongs to the period in which its first stage started"},
        "runs": run_reports,
        "period": _period(run_reports),
    })


def _run_report(run: _Run, ledger: Ledger) -> dict[str, Any]:
    measured = estimated = Decimal(0)
    unavailable = 0
    devices: set[tuple[str, str, str]] = set()
    gpu_hours = stage_seconds = Decimal(0)
    starts, ends = [], []
    for rec in run.stages:
        p = rec.payload
        start, end = _time(p["start"]), _time(p["end"])
        starts.append(start)
        ends.append(end)
        seconds = Decimal(str((end - start).total_seconds()))
        stage_seconds += seconds
        gpus = set()
        for c in p.get("components", []):
            devices.add((p.get("host", ""), c["component"], c["device"]))
            if c["component"] == "gpu":
                gpus.add(c["device"])
            energy = _d(c.get("energy_kwh"))
            if c["method"] == "unavailable" or energy is None:
                unavailable += 1
            elif c["method"] in MEASURED_METHODS:
                measured += energy
            else:
                estimated += energy
        gpu_hours += seconds / 3600 * len(gpus)
    it_energy = measured + estimated
    basis = ("no stage records" if not run.stages else "unavailable" if not it_energy and unavailable
             else "measured" if not estimated and not unavailable
             else "estimated" if not measured else "mixed")
    footprint = run.footprints[-1] if run.footprints else None
    fp = footprint.payload if footprint else {}
    decision = run.decisions[-1] if run.decisions else None
    dp = decision.payload if decision else {}
    pue = _d(fp.get("pue"))
    # Facility energy is this run's IT energy x the PUE its footprint used, so the two always add up
    # (the footprint's own figure covers only the stage records it judged).
    facility = it_energy * pue if pue is not None else None
    # A run whose devices gave no reading at all has no energy figure: unknown, never 0. A run with
    # some readings missing has a lower bound, and every figure built on it says so.
    no_reading = bool(run.stages) and not energy_is_known(unavailable, float(it_energy))
    lower_bound = f"lower bound: {unavailable} device readings unavailable" if unavailable else None
    if no_reading:
        facility = None
    # What the footprint judged, derived again from the ledger and checked against its digest.
    listing = judged_listing(ledger, footprint) if footprint is not None else None
    judged = {e.record_hash for e in listing.entries} if listing is not None else set()
    stage_hashes = {r.record_hash for r in run.stages}
    coverage = (f"its footprint judged {len(judged & stage_hashes)} of the run's {len(stage_hashes)} stage records"
                if footprint is not None and judged != stage_hashes else None)
    if listing is not None and not listing.matches:
        coverage = "; ".join(part for part in (listing.message, coverage) if part)

    location, location_source = _d(fp.get("co2e_kg")), None
    if no_reading:
        location = None
        location_source = "not computed: no device gave a reading for this run"
    elif location is not None:
        location_source = f"footprint record seq {footprint.seq} ({footprint.record_hash})"
    elif _d(dp.get("co2e_kg")) is not None:
        location = _d(dp.get("co2e_kg"))
        location_source = f"decision record seq {decision.seq} ({decision.record_hash})"
    if location is not None and lower_bound:
        location_source = f"{lower_bound}; {location_source}"
    if location is not None and coverage:
        location_source = f"{coverage}; {location_source}"
    market = _d(fp.get("market_co2e_kg"))

    claimed = sum((_d(c.payload.get("energy_mwh")) or Decimal(0) for c in run.claims), Decimal(0))
    energy_mwh = (facility if facility is not None else it_energy) / 1000
    share = None
    if run.claims and energy_mwh > 0:
        share = min(claimed / energy_mwh * 100, Decimal(100))

    return {
        "run_id": run.run_id,
        "subflow_run_ids": run.subflows,
        "part_of_run_id": run.part_of,
        "start": min(starts).isoformat() if starts else None,
        "end": max(ends).isoformat() if ends else None,
        "energy": {
            "it_energy_kwh": _s(it_energy) if run.stages and not no_reading else None,
            "measured_energy_kwh": _s(measured), "estimated_energy_kwh": _s(estimated),
            "unavailable_readings": unavailable, "basis": basis,
            "measured_methods": list(MEASURED_METHODS),
            "facility_energy_kwh": _s(facility), "pue": fp.get("pue"),
            "facility_energy_status": "not computed: no device gave a reading for this run" if no_reading
            else lower_bound if facility is not None and lower_bound
            else "computed" if facility is not None
            else f"not computed: part of run {run.part_of}, whose report has the figures" if run.part_of
            else "not computed: no footprint record for this run",
        },
        "compute": {
            "devices": [{"host": h, "component": c, "device": d} for h, c, d in sorted(devices)],
            "gpu_count": len({(h, d) for h, c, d in devices if c == "gpu"}),
            "gpu_device_hours": _s(gpu_hours, 6), "stages": len(run.stages),
            "stage_time_h": _s(stage_seconds / 3600, 6),
            "training_wall_time_h": _s(Decimal(str((max(ends) - min(starts)).total_seconds())) / 3600, 6)
            if starts else None,
        },
        "scope2": {
            "location_based_co2e_kg": _s(location),
            "location_based_source": location_source or "not computed: no footprint or decision figure",
            "market_based_co2e_kg": _s(market),
            "market_based_source": f"footprint record seq {footprint.seq}" if market is not None
            else "not computed: no market-based figure (no certificate matching) for this run",
        },
        "renewable": {
            "claimed_energy_mwh": _s(claimed) if run.claims else None,
            "renewable_share_percent": _s(share, 2),
            "status": ("claimed" if share is not None else
                       "claimed, but the run's energy is unknown" if run.claims else "not claimed"),
            "claims": [_claim(c) for c in run.claims],
        },
        "sci": _sci(location, fp, dp, lower_bound),
        "decisions": [_decision(r) for r in run.decisions],
        "stages": _stages(run.stages),
        # Every record the figures came from (the report is made on demand from a verified ledger,
        # never stored in it), and the footprint's judged records as its digest with the check's
        # result and the command that lists them: not the list again.
        "provenance": {"record_hashes": [r.record_hash for r in sorted(run.all(), key=lambda r: r.seq)],
                       "judged_records": listing.summary() if listing is not None else None},
    }


def _claim(c: LedgerRecord) -> dict[str, Any]:
    p = c.payload
    return {"seq": c.seq, "registry": p.get("registry"),
            "certificates": f"{p.get('certificate_first')}-{p.get('certificate_last')}",
            "hour": p.get("hour"), "zone": p.get("zone"), "energy_mwh": p.get("energy_mwh")}


def _decision(r: LedgerRecord) -> dict[str, Any]:
    p = r.payload
    findings = [{"rule_id": str(f.get("rule_id")), "outcome": f.get("outcome"), "scope": f.get("scope"),
                 "observed": f.get("observed"), "limit": f.get("limit"), "unit": f.get("unit"),
                 "waived": f.get("waived_by") is not None}
                for f in p.get("findings") or [] if isinstance(f, dict)]
    return {"seq": r.seq, "outcome": p.get("outcome"), "policy_name": p.get("policy_name"),
            "policy_version": p.get("policy_version"), "policy_hash": p.get("policy_hash"),
            "record_hash": r.record_hash, "findings": findings}


def _stages(records: list[LedgerRecord]) -> list[dict[str, Any]]:
    """IT energy per stage name, largest first: where a period's energy went."""
    totals: dict[str, list] = {}
    for rec in records:
        entry = totals.setdefault(str(rec.payload.get("stage", "?")), [0, Decimal(0), 0])
        entry[0] += 1
        for c in rec.payload.get("components", []):
            energy = _d(c.get("energy_kwh"))
            if c.get("method") == "unavailable" or energy is None:
                entry[2] += 1
            else:
                entry[1] += energy
    out = [{"stage": name, "records": n, "unavailable_readings": missing,
            "it_energy_kwh": _s(kwh) if energy_is_known(missing, float(kwh)) else None}
           for name, (n, kwh, missing) in totals.items()]
    return sorted(out, key=lambda s: (-(_d(s["it_energy_kwh"]) or Decimal(-1)), s["stage"]))


def _sci(location_kg: Decimal | None, fp: dict, dp: dict, lower_bound: str | None = None) -> dict[str, Any]:
    """SCI = ((E x I) + M) per R; E x I is the location-based figure (SCI excludes market instruments)."""
    unit = dp.get("functional_unit") or fp.get("functional_unit")
    units = _d(dp.get("functional_units")) if dp.get("functional_units") is not None \
        else _d(fp.get("functional_units"))
    embodied = _d(dp.get("embodied_co2e_kg")) if dp.get("embodied_co2e_kg") is not None \
        else _d(fp.get("embodied_co2e_kg"))
    out: dict[str, Any] = {
        "functional_unit": unit, "functional_units": _s(units),
        "operational_co2e_g": _s(location_kg * 1000) if location_kg is not None else None,
        "embodied_co2e_g": _s(embodied * 1000) if embodied is not None else None,
        "embodied_status": "included" if embodied is not None
        else "not provided: M (embodied emissions) is absent, so the score covers operational emissions only",
        "sci_g_per_unit": None,
    }
    if not unit or units is None:
        out["status"] = "not computed: the policy names no functional unit (R)"
    elif units <= 0:
        out["status"] = "not computed: the number of functional units is not positive"
    elif location_kg is None:
        out["status"] = "not computed: no location-based emissions (E x I)"
    else:
        total_g = location_kg * 1000 + (embodied * 1000 if embodied is not None else 0)
        out["sci_g_per_unit"] = _s(total_g / units, 9)
        out["status"] = "computed" if embodied is not None else "computed without M"
        if lower_bound:
            out["status"] += f" ({lower_bound})"
    return out


def _period(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def total(path: tuple[str, str]) -> tuple[Decimal | None, list[str]]:
        values, missing = [], []
        for r in runs:
            v = _d(r[path[0]][path[1]])
            (values.append(v) if v is not None else missing.append(r["run_id"]))
        return (sum(values, Decimal(0)) if values and not missing else None), missing

    it_kwh, it_missing = total(("energy", "it_energy_kwh"))
    facility_kwh, facility_missing = total(("energy", "facility_energy_kwh"))
    location, location_missing = total(("scope2", "location_based_co2e_kg"))
    market, market_missing = total(("scope2", "market_based_co2e_kg"))
    measured = sum((_d(r["energy"]["measured_energy_kwh"]) for r in runs), Decimal(0)) if runs else None
    estimated = sum((_d(r["energy"]["estimated_energy_kwh"]) for r in runs), Decimal(0)) if runs else None
    energy_kwh = facility_kwh if facility_kwh is not None else it_kwh
    claimed = [_d(r["renewable"]["claimed_energy_mwh"]) for r in runs
               if r["renewable"]["claimed_energy_mwh"] is not None]
    claimed_mwh = sum(claimed, Decimal(0)) if claimed else None
    share = None
    if claimed_mwh is not None and energy_kwh:
        share = min(claimed_mwh / (energy_kwh / 1000) * 100, Decimal(100))
    return {
        "runs": len(runs),
        "total_energy_mwh": _s(energy_kwh / 1000) if energy_kwh is not None else None,
        "total_energy_scope": ("facility (IT x PUE, from footprints)" if facility_kwh is not None
                               else "IT equipment only (not every run has a footprint: "
                               + ", ".join(facility_missing) + ")" if it_kwh is not None
                               else "not computed: runs without a reading: " + ", ".join(it_missing) if runs
                               else "no runs"),
        "measured_it_energy_mwh": _s(measured / 1000) if measured is not None else None,
        "estimated_it_energy_mwh": _s(estimated / 1000) if estimated is not None else None,
        "location_based_co2e_kg": _s(location),
        "location_based_status": "computed" if location is not None
        else "not computed for runs: " + ", ".join(location_missing) if runs else "no runs",
        "market_based_co2e_kg": _s(market),
        "market_based_status": "computed" if market is not None
        else "not computed for runs: " + ", ".join(market_missing) if runs else "no runs",
        "renewable_energy_mwh": _s(claimed_mwh),
        "renewable_share_percent": _s(share, 2),
        "renewable_status": "claimed" if share is not None else "not claimed" if claimed_mwh is None
        else "claimed, but total energy is unknown",
        "metered_gpu_device_hours": _s(sum((_d(r["compute"]["gpu_device_hours"]) for r in runs), Decimal(0)), 6)
        if runs else None,
    }
