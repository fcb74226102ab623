"""Write a signed demo certificate export for some hours of a run (DEMO ONLY: see README.md).

    python examples/certificates/make_demo_certificates.py [--consumption FILE] [--share 0.7]
                                                         [--out FILE] [--zone DE]

Reads hourly consumption (CSV `hour_start,energy_kwh`, UTC; default: demo-consumption.csv here)
and writes granular certificate bundles covering about `--share` of every other hour, one bundle
from another zone (rejected by matching), one retired offset and one annual certificate, then
signs the file's exact bytes with the demo registry key into `FILE.sig`. The checked-in
demo-certificates.json was written by this script with its defaults.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from carbonguard.ledger.keys import load_signer

HERE = Path(__file__).resolve().parent
DEMO_KEY = HERE / "demo-registry-key.pem"  # DEMO ONLY: its private half is public in this repository
REGISTRY = "demo-registry"
BENEFICIARY = "Example AI GmbH"


def read_consumption(path: Path) -> list[tuple[datetime, float]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [(datetime.fromisoformat(row["hour_start"].replace("Z", "+00:00")).astimezone(timezone.utc),
                 float(row["energy_kwh"])) for row in csv.DictReader(fh)]


def demo_rows(hours: list[tuple[datetime, float]], share: float, zone: str) -> list[dict]:
    """Bundles of 1 Wh certificates for every other hour, about `share` of that hour's energy."""
    rows: list[dict] = []
    next_id = 1_000_000
    for index, (hour, kwh) in enumerate(hours):
        wh = int(kwh * 1000 * share)
        if index % 2 or wh < 1:
            continue
        rows.append({
            "registry": REGISTRY, "issuance_id": f"demo-{index}",
            "certificate_bundle_id_range_start": next_id, "certificate_bundle_id_range_end": next_id + wh - 1,
            "bundle_quantity": wh, "face_value": 1, "energy_carrier": "electricity",
            "energy_source": "solar_pv" if 8 <= hour.hour < 17 else "wind", "device_id": f"{zone}-DEMO-PARK-1",
            "device_capacity": 5_000_000,
            "production_starting_interval": hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "production_ending_interval": (hour + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "certificate_bundle_status": "Cancelled", "beneficiary": BENEFICIARY,
            "expiry_datestamp": (hour + timedelta(days=365)).strftime("%Y-%m-%d"),
            "cancellation_timestamp": (hour + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "is_storage": False, "zone": zone,
        })
        next_id += wh
    if rows:  # one bundle from another zone: matching rejects it (matching.zone)
        rows.append(dict(rows[0], certificate_bundle_id_range_start=next_id + 10,
                         certificate_bundle_id_range_end=next_id + 509, bundle_quantity=500,
                         issuance_id="demo-other-zone", zone="FR", device_id="FR-DEMO-PARK-2"))
    if hours:  # reported apart, never matching
        year = hours[0][0].year
        rows.append({"kind": "offset", "registry": "demo-offsets", "serial": "DEMO-VCU-0001", "vintage_year": year - 1,
                     "status": "retired", "retirement_beneficiary": BENEFICIARY, "tco2e": 0.001})
        rows.append({"kind": "annual", "instrument": "GO", "registry": REGISTRY, "serial_start": 1, "serial_end": 1,
                     "vintage_year": year, "zone": zone, "energy_mwh": 1, "status": "cancelled",
                     "beneficiary": BENEFICIARY})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--consumption", type=Path, default=HERE / "demo-consumption.csv")
    parser.add_argument("--share", type=float, default=0.7)
    parser.add_argument("--zone", default="DE")
    parser.add_argument("--out", type=Path, default=HERE / "demo-certificates.json")
    args = parser.parse_args()
    data = (json.dumps(demo_rows(read_consumption(args.consumption), args.share, args.zone), indent=2) + "\n").encode()
    args.out.write_bytes(data)
    args.out.with_name(args.out.name + ".sig").write_text(load_signer(DEMO_KEY).sign(data) + "\n")
    print(f"wrote {args.out} and {args.out.name}.sig (signed with the DEMO key; never trust it for real claims)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
