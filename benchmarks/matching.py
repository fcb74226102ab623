"""Hourly matching at registry scale: a year of hourly consumption against 100k and 1M certificates.

    python benchmarks/matching.py [--sizes 100000,1000000] [--repeats 3] [--format csv|jsonl|json]

Targets (docs/matching.md): 100,000 bundles loaded, verified and matched in <= 1 s; 1,000,000 in
<= 10 s with <= 1.5 GB peak RSS. Each measurement runs in a fresh child process (so its peak RSS is
its own): read the signed export and its `.sig`, verify the Ed25519 signature, parse and validate
every row, apply every verification rule, allocate hour by hour over 8,760 hours, judge the result.
About 1 % of the bundles are made to fail a rule. Medians of --repeats runs are printed beside the
targets, with the ratio (target / measured: above 1 meets it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carbonguard.ledger.keys import Signer

HOURS = 8_760
YEAR = datetime(2025, 1, 1, tzinfo=timezone.utc)
TARGETS_S = {100_000: 1.0, 1_000_000: 10.0}
RSS_TARGET_MB = 1536.0
REGISTRY = "bench-registry"
BENEFICIARY = "Example AI GmbH"
COLUMNS = ("registry", "certificate_bundle_id_range_start", "certificate_bundle_id_range_end", "bundle_quantity",
           "face_value", "energy_carrier", "energy_source", "device_id", "device_capacity",
           "production_starting_interval", "production_ending_interval", "certificate_bundle_status",
           "beneficiary", "expiry_datestamp", "cancellation_timestamp", "is_storage", "zone")


def rows(count: int):
    """`count` bundles of 1 Wh certificates spread evenly over the year; every 97th one is from DE."""
    hour_text = [(YEAR + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ") for h in range(HOURS + 1)]
    next_id = 0
    for i in range(count):
        hour = i * HOURS // count
        size = 500 + (i * 7919) % 1000  # 500..1499 certificates of 1 Wh
        yield (REGISTRY, next_id, next_id + size - 1, size, 1, "electricity", "wind" if i % 3 else "solar_pv",
               f"DEV-{i % 50}", 10_000_000, hour_text[hour], hour_text[hour + 1], "Cancelled", BENEFICIARY,
               "2027-01-01", "2026-01-15T00:00:00Z", "false", "DE" if i % 97 == 0 else "FR")
        next_id += size + 1


def write_export(path: Path, count: int, fmt: str, signer: Signer) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        if fmt == "csv":
            out.write(",".join(COLUMNS) + "\n")
            for row in rows(count):
                out.write(",".join(map(str, row)) + "\n")
        else:
            items = (dict(zip(COLUMNS, row, strict=True)) | {"is_storage": False} for row in rows(count))
            if fmt == "jsonl":
                for item in items:
                    out.write(json.dumps(item) + "\n")
            else:
                out.write("[" + ",\n".join(json.dumps(item) for item in items) + "]\n")
    path.with_name(path.name + ".sig").write_text(signer.sign(path.read_bytes()) + "\n")


def consumption(count: int) -> list[tuple[datetime, float]]:
    """Per hour a little more than the certificates of that hour hold, so most certificates are used."""
    per_hour_kwh = count / HOURS * 1.2  # ~1,000 Wh per bundle on average
    return [(YEAR + timedelta(hours=h), per_hour_kwh * (0.6 + 0.4 * ((h * 37) % 11) / 10)) for h in range(HOURS)]


def child(path: str, count: int, public_b64: str) -> None:
    """One measured run; prints a JSON line with duration_s, peak_rss_mb and what was matched."""
    from carbonguard.matching import judge_matching, match_certificates
    from carbonguard.matching.loader import load_certificates
    from carbonguard.policy.models import Matching

    policy = Matching(min_cfe=0.9, beneficiary=BENEFICIARY, registries=[{"name": REGISTRY, "public_key": public_b64}])
    hours = consumption(count)
    began, began_cpu = time.perf_counter(), time.process_time()
    loaded = load_certificates(path, policy.pinned_keys)
    loaded_at = time.perf_counter()
    result = match_certificates(hours, [loaded], policy, run_id="bench", zone="FR", residual_g_per_kwh=40.74)
    findings = judge_matching(policy, result)
    ended, ended_cpu = time.perf_counter(), time.process_time()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"duration_s": ended - began, "load_s": loaded_at - began, "match_s": ended - loaded_at,
                      "cpu_s": ended_cpu - began_cpu,
                      "peak_rss_mb": peak_kb / 1024, "bundles": len(loaded.bundles), "cfe_score": result.cfe_score,
                      "rejected": len(result.rejected), "claims": len(result.claims), "findings": len(findings)}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--format", choices=("csv", "jsonl", "json"), default="csv")
    parser.add_argument("--child", nargs=3, metavar=("PATH", "COUNT", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2])
        return 0
    signer = Signer.generate()
    print(f"matching benchmark: {HOURS} hours, format {args.format}, {args.repeats} repeats, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        for count in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"certs-{count}.{args.format}"
            write_export(path, count, args.format, signer)
            runs = []
            for _ in range(args.repeats):
                out = subprocess.run([sys.executable, __file__, "--child", str(path), str(count), signer.public_b64],
                                     capture_output=True, text=True, check=True).stdout
                runs.append(json.loads(out.strip().splitlines()[-1]))
            duration = statistics.median(r["duration_s"] for r in runs)
            rss = statistics.median(r["peak_rss_mb"] for r in runs)
            target = TARGETS_S.get(count)
            ratio = f"  target {target:g} s, ratio {target / duration:.2f}" if target else ""
            last = runs[-1]
            print(f"{count:>9,} bundles ({path.stat().st_size / 1e6:.0f} MB): median duration_s {duration:.2f} "
                  f"(load_s {statistics.median(r['load_s'] for r in runs):.2f}, "
                  f"match_s {statistics.median(r['match_s'] for r in runs):.2f}; "
                  f"cpu_s {statistics.median(r['cpu_s'] for r in runs):.2f}){ratio}")
            print(f"{'':>9}  median peak_rss_mb {rss:.0f}  target {RSS_TARGET_MB:.0f} MB, "
                  f"ratio {RSS_TARGET_MB / rss:.2f}"
                  f"  | cfe_score {last['cfe_score']:.3f}, rejected {last['rejected']}, claims {last['claims']}")
    print(f"load average at the end {os.getloadavg()[0]:.1f} (above the CPU count, wall time includes waiting "
          "for a CPU; cpu_s is this process's own time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
