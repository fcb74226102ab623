"""The rule ids matching can emit, as plain data for the rule catalogue (`carbonguard/rules.py`).

Each entry: id, title, help (what would fix it), waivable, default severity ("block" or "warn").
Two kinds of rejection: a certificate that does not apply to this run (another hour, zone, status,
beneficiary, source) simply does not count, and its effect shows in the CFE score, so it warns; a
certificate whose data cannot be true or cannot be trusted (quantity, capacity, storage data, listed
twice, claimed by another run) makes the whole claim suspect, so it takes `spec.matching.action`
(block by default). `matching.unverified` takes `spec.matching.unverified`.
"""

from __future__ import annotations

MATCHING_RULES: tuple[dict[str, object], ...] = (
    {"id": "matching.unverified", "title": "Certificate file not verifiable",
     "help": "Place the registry's detached Ed25519 signature beside the export (EXPORT.sig) and pin the "
             "registry's public key in spec.matching.registries.",
     "waivable": False, "default_severity": "block"},
    {"id": "matching.interval", "title": "Production interval longer than one hour or across an hour boundary",
     "help": "Use granular certificates issued per clock hour (UTC) or shorter.",
     "waivable": False, "default_severity": "warn"},
    {"id": "matching.zone", "title": "Certificate from another market zone",
     "help": "Use certificates produced in the run's zone, or accept the zone in spec.matching.zones.",
     "waivable": True, "default_severity": "warn"},
    {"id": "matching.status", "title": "Certificate not cancelled or claimed",
     "help": "Cancel the bundle for the beneficiary in the registry before claiming it.",
     "waivable": False, "default_severity": "warn"},
    {"id": "matching.beneficiary", "title": "Certificate cancelled for another beneficiary",
     "help": "Cancel certificates for the beneficiary named in spec.matching.beneficiary.",
     "waivable": False, "default_severity": "warn"},
    {"id": "matching.expiry", "title": "Certificate not shown to be cancelled before expiry",
     "help": "Use bundles cancelled before their expiry_datestamp, with the cancellation time in the export.",
     "waivable": False, "default_severity": "warn"},
    {"id": "matching.quantity", "title": "Stated bundle quantity differs from ID range x face value",
     "help": "Ask the registry for a corrected export; the stated figure is never trusted.",
     "waivable": False, "default_severity": "block"},
    {"id": "matching.capacity", "title": "Bundle quantity above device capacity x interval",
     "help": "The device cannot have produced this much in the interval; ask the registry to correct it.",
     "waivable": False, "default_severity": "block"},
    {"id": "matching.source", "title": "Energy source or carrier not accepted as carbon-free electricity",
     "help": "Use certificates for electricity from a source in spec.matching.sources.",
     "waivable": True, "default_severity": "warn"},
    {"id": "matching.storage", "title": "Storage certificate without allocation id or efficiency factor",
     "help": "Storage-discharge certificates must carry sdr_allocation_id and storage_efficiency_factor.",
     "waivable": False, "default_severity": "block"},
    {"id": "matching.double-listing", "title": "Certificate ID range listed twice in the input",
     "help": "Remove the overlapping bundle; each certificate may appear once.",
     "waivable": False, "default_severity": "block"},
    {"id": "matching.double-counting", "title": "Certificates already claimed by another run",
     "help": "Use certificates no other run has claimed; the ledger's claim registry names the holder.",
     "waivable": False, "default_severity": "block"},
    {"id": "matching.cfe", "title": "Hourly CFE score below the policy minimum",
     "help": "Add granular certificates for the unmatched hours, or move the run to hours and zones with "
             "carbon-free supply.",
     "waivable": True, "default_severity": "block"},
    {"id": "matching.hourly-cfe", "title": "An hour matched below the policy's hourly minimum",
     "help": "Add granular certificates for that hour.",
     "waivable": True, "default_severity": "block"},
    {"id": "matching.offsets-only", "title": "Renewable or net-zero claim rests on offsets or annual certificates",
     "help": "Offsets and annual certificates (REC/GO) never count as hourly matching; add granular "
             "certificates for the hours the run consumed.",
     "waivable": False, "default_severity": "block"},
    {"id": "matching.offset-invalid", "title": "Offset or annual certificate fails validation",
     "help": "Use retired offsets and cancelled certificates for the beneficiary, with a serial and a valid vintage.",
     "waivable": True, "default_severity": "warn"},
)

RULE_IDS = frozenset(str(rule["id"]) for rule in MATCHING_RULES)
"""Rule ids of `MATCHING_RULES`; rejection and finding code uses only these."""
