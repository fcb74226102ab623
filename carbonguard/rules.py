"""The rule catalogue: every rule id the gate can emit, with its title, help and waiver status.

Why one catalogue: the gate, waiver validation, the docs' rule table and SARIF's `rules` array all
need the same facts about a rule. Kept as plain data with no heavy imports, so the CLI can list
rules without loading pydantic. A test fails when the gate emits a rule this file does not hold.

Budget rules are a family: each policy budget `id` yields the rule `budget.<id>`, described by the
`budget.<id>` template entry. Fixed ids in the `budget.` namespace (e.g. `budget.stage-missing`)
are reserved: a policy may not name a budget after them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["block", "warn"]

BUDGET_PREFIX = "budget."
BUDGET_TEMPLATE = "budget.<id>"


@dataclass(frozen=True)
class Rule:
    """What a rule id means. `default_severity` is what the gate emits unless the policy says otherwise."""

    id: str
    title: str
    help: str
    waivable: bool
    default_severity: Severity


_CATALOGUE: tuple[Rule, ...] = (
    Rule(
        BUDGET_TEMPLATE,
        "Emission or energy budget exceeded",
        "The run (or the named stage) used more facility energy or emitted more CO2e than the budget "
        "allows, reached its warn_at fraction, or grew over the baseline (the base branch or an earlier "
        "run) by more than max_increase_kg / max_increase_kwh / max_increase_fraction allow. Reduce the "
        "energy (fewer epochs, a smaller model, mixed precision), run in a cleaner zone or hour, or "
        "record an approved waiver.",
        True,
        "block",
    ),
    Rule(
        "budget.stage-missing",
        "Budgeted stage not recorded",
        "A budget names a stage that the run did not record, so the budget could not be checked. "
        "Check the stage name against the @metered(stage=...) names of the flow.",
        True,
        "warn",
    ),
    Rule(
        "measurement.estimated",
        "Energy estimated, not measured",
        "Some energy readings are estimates (CPU time x power per core, RAM x W/GB) rather than "
        "hardware counters. Run where NVML or RAPL counters exist, or judge on the upper bound.",
        True,
        "warn",
    ),
    Rule(
        "measurement.unavailable",
        "Energy reading unavailable",
        "A device gave no reading, so the run's energy is a lower bound or unknown. Check the device "
        "errors in the stage records (NVML, RAPL permissions) and rerun.",
        True,
        "block",
    ),
    Rule(
        "intensity.unknown-zone",
        "No grid intensity for the zone",
        "No carbon intensity is known for the policy's zone, so the world average was used. Use a zone "
        "code carbonguard knows (carbonguard intensity --list-zones) or configure a live provider.",
        True,
        "block",
    ),
    Rule(
        "intensity.stale",
        "Grid figure years older than the run",
        "An embedded annual intensity figure was measured more than two years before the year it is "
        "applied to, so the grid may have changed since. Configure a live provider (Electricity Maps, "
        "WattTime, UK Carbon Intensity). Off unless the policy sets spec.intensity.stale_data to warn or "
        "block: published annual data always lags, and the footprint carries the flag either way.",
        True,
        "warn",
    ),
    Rule(
        "location.zone-mismatch",
        "Stages ran on another grid than the policy's",
        "Stage records name a grid zone other than the one the policy computes CO2e for, so the "
        "emissions would be for the wrong grid. Judge under a policy for the zone the stages ran in.",
        True,
        "block",
    ),
    Rule(
        "matching.unverified",
        "Certificate file not verifiable",
        "Place the registry's detached Ed25519 signature beside the export (EXPORT.sig) and pin the "
        "registry's public key in spec.matching.registries.",
        False,
        "block",
    ),
    Rule(
        "matching.interval",
        "Production interval longer than one hour or across an hour boundary",
        "Use granular certificates issued per clock hour (UTC) or shorter.",
        False,
        "warn",
    ),
    Rule(
        "matching.zone",
        "Certificate from another market zone",
        "Use certificates produced in the run's zone, or accept the zone in spec.matching.zones.",
        True,
        "warn",
    ),
    Rule(
        "matching.status",
        "Certificate not cancelled or claimed",
        "Cancel the bundle for the beneficiary in the registry before claiming it.",
        False,
        "warn",
    ),
    Rule(
        "matching.beneficiary",
        "Certificate cancelled for another beneficiary",
        "Cancel certificates for the beneficiary named in spec.matching.beneficiary.",
        False,
        "warn",
    ),
    Rule(
        "matching.expiry",
        "Certificate not shown to be cancelled before expiry",
        "Use bundles cancelled before their expiry_datestamp, with the cancellation time in the export.",
        False,
        "warn",
    ),
    Rule(
        "matching.quantity",
        "Stated bundle quantity differs from ID range x face value",
        "Ask the registry for a corrected export; the stated figure is never trusted.",
        False,
        "block",
    ),
    Rule(
        "matching.capacity",
        "Bundle quantity above device capacity x interval",
        "The device cannot have produced this much in the interval; ask the registry to correct it.",
        False,
        "block",
    ),
    Rule(
        "matching.source",
        "Energy source or carrier not accepted as carbon-free electricity",
        "Use certificates for electricity from a source in spec.matching.sources.",
        True,
        "warn",
    ),
    Rule(
        "matching.storage",
        "Storage certificate without allocation id or efficiency factor",
        "Storage-discharge certificates must carry sdr_allocation_id and storage_efficiency_factor.",
        False,
        "block",
    ),
    Rule(
        "matching.double-listing",
        "Certificate ID range listed twice in the input",
        "Remove the overlapping bundle; each certificate may appear once.",
        False,
        "block",
    ),
    Rule(
        "matching.double-counting",
        "Certificates already claimed by another run",
        "Use certificates no other run has claimed; the ledger's claim registry names the holder.",
        False,
        "block",
    ),
    Rule(
        "matching.cfe",
        "Hourly CFE score below the policy minimum",
        "Add granular certificates for the unmatched hours, or move the run to hours and zones with "
        "carbon-free supply.",
        True,
        "block",
    ),
    Rule(
        "matching.hourly-cfe",
        "An hour matched below the policy's hourly minimum",
        "Add granular certificates for that hour.",
        True,
        "block",
    ),
    Rule(
        "matching.offsets-only",
        "Renewable or net-zero claim rests on offsets or annual certificates",
        "Offsets and annual certificates (REC/GO) never count as hourly matching; add granular "
        "certificates for the hours the run consumed.",
        False,
        "block",
    ),
    Rule(
        "matching.offset-invalid",
        "Offset or annual certificate fails validation",
        "Use retired offsets and cancelled certificates for the beneficiary, with a serial and a valid vintage.",
        True,
        "warn",
    ),
    Rule(
        "waiver.expired",
        "Waiver expired",
        "A waiver's expiry date has passed, so the finding it silenced applies again. Fix the cause, "
        "or renew the waiver with a new approval and expiry date.",
        False,
        "warn",
    ),
)

RULES: dict[str, Rule] = {rule.id: rule for rule in _CATALOGUE}


def lookup(rule_id: str) -> Rule:
    """The catalogue entry for an emitted rule id; `budget.<id>` resolves to the budget template."""
    rule = RULES.get(rule_id)
    if rule is not None and rule_id != BUDGET_TEMPLATE:
        return rule
    if rule_id.startswith(BUDGET_PREFIX) and len(rule_id) > len(BUDGET_PREFIX) and rule_id != BUDGET_TEMPLATE:
        return RULES[BUDGET_TEMPLATE]
    raise KeyError(f"rule {rule_id!r} is not in the rule catalogue (carbonguard/rules.py)")


def reserved_budget_ids() -> frozenset[str]:
    """Budget ids a policy may not use, because `budget.<id>` would collide with a fixed rule."""
    return frozenset(r.id[len(BUDGET_PREFIX):] for r in _CATALOGUE
                     if r.id.startswith(BUDGET_PREFIX) and r.id != BUDGET_TEMPLATE)


def waivable_fixed_ids() -> tuple[str, ...]:
    """Fixed (non-budget) rule ids a waiver may name, sorted."""
    return tuple(sorted(r.id for r in _CATALOGUE if r.waivable and r.id != BUDGET_TEMPLATE))


def markdown_table() -> str:
    """The rule table of docs/rules.md (regenerate: `python -m carbonguard.rules > docs/rules.md`)."""
    lines = [
        "# Rules",
        "",
        "Every finding the gate emits names one of these rule ids. Generated from `carbonguard/rules.py`",
        "by `python -m carbonguard.rules > docs/rules.md`; a test fails when this page drifts from it.",
        "",
        "| rule id | title | default | waivable | help |",
        "| --- | --- | --- | --- | --- |",
    ]
    for rule in _CATALOGUE:
        lines.append(f"| `{rule.id}` | {rule.title} | {rule.default_severity} | "
                     f"{'yes' if rule.waivable else 'no'} | {rule.help} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(markdown_table())
