"""Check carbonguard's GPU metering on a real NVIDIA GPU: counter vs sampled energy, same window.

Run from the repository root with only nvidia-ml-py and torch (or cupy) installed:

    PYTHONPATH=. python scripts/gpu_check.py --seconds 20 --json-out gpu_check.json

For every visible GPU it opens one window around an idle pad, a matrix-multiply load and another
idle pad, and reads the energy two ways at once: NVML's total-energy counter, and the power-sampling
path carbonguard uses on GPUs without the counter (forced on here), integrated with the trapezoid
rule. The two should agree within 5 %. Exit codes: 0 agree, 1 disagree or a GPU could not be read,
2 cannot run here (no NVML, no GPU, no torch/cupy with CUDA).

Note: on recent GPUs nvmlDeviceGetPowerUsage reports power averaged over about one second, so the
sampled figure lags load changes; the idle pads keep that lag from biasing the comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any

from carbonguard.metering import nvml as nvml_mod
from carbonguard.metering.devices import DeviceReadError
from carbonguard.metering.sampler import Sampler

EXIT_OK, EXIT_DISAGREE, EXIT_CANNOT_RUN = 0, 1, 2


def make_load(n: int) -> tuple[str, Any]:
    """A function that keeps every visible GPU busy with matmuls until an event is set."""
    try:
        import torch

        if torch.cuda.is_available():
            devices = [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
            mats = [(torch.randn(n, n, device=d), torch.randn(n, n, device=d)) for d in devices]

            def run_torch(stop: threading.Event) -> int:
                steps = 0
                while not stop.is_set():
                    for a, b in mats:
                        for _ in range(4):
                            a @ b
                    for d in devices:
                        torch.cuda.synchronize(d)
                    steps += 1
                return steps

            return f"torch {torch.__version__} on {len(devices)} GPU(s)", run_torch
    except ImportError:
        pass
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
        mats = []
        for i in range(count):
            with cupy.cuda.Device(i):
                mats.append(
                    (
                        i,
                        cupy.random.rand(n, n, dtype=cupy.float32),
                        cupy.random.rand(n, n, dtype=cupy.float32),
                    )
                )

        def run_cupy(stop: threading.Event) -> int:
            steps = 0
            while not stop.is_set():
                for i, a, b in mats:
                    with cupy.cuda.Device(i):
                        for _ in range(4):
                            a @ b
                for i, _, _ in mats:
                    cupy.cuda.Device(i).synchronize()
                steps += 1
            return steps

        return f"cupy {cupy.__version__} on {count} GPU(s)", run_cupy
    except ImportError:
        pass
    return "", None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the load (default 20)")
    parser.add_argument("--pad-seconds", type=float, default=2.0, help="idle time before and after the load")
    parser.add_argument("--period", type=float, default=0.1, help="power sampling period, <= 0.1 s")
    parser.add_argument("--size", type=int, default=8192, help="matrix size of the load")
    parser.add_argument("--tolerance-pct", type=float, default=5.0, help="allowed counter/sampled gap")
    parser.add_argument("--json-out", help="write the results as JSON to this path")
    args = parser.parse_args(argv)
    if not 0 < args.period <= 0.1 or args.seconds <= 0 or args.pad_seconds < 0:
        parser.error("need --seconds > 0, --pad-seconds >= 0 and 0 < --period <= 0.1")

    nvml = nvml_mod.Nvml()
    counters = nvml_mod.discover(nvml)
    if not counters.devices:
        print(f"gpu_check: no GPU can be metered here ({', '.join(counters.flags) or 'no devices'}).")
        print("gpu_check: needs an NVIDIA driver, nvidia-ml-py and a visible GPU; nothing was measured.")
        return EXIT_CANNOT_RUN
    sampled = nvml_mod.discover(nvml, sample_period_s=args.period, force_sampling=True)
    engine, load = make_load(args.size)
    if load is None:
        print("gpu_check: neither torch nor cupy with CUDA is importable, so no load can be run.")
        print("gpu_check: install one (e.g. `pip install torch`) and run again; nothing was measured.")
        return EXIT_CANNOT_RUN
    print(
        f"gpu_check: load by {engine}; {args.pad_seconds:g} s idle, {args.seconds:g} s matmul, "
        f"{args.pad_seconds:g} s idle"
    )

    sampler = Sampler(sampled.devices)
    begin_c, begin_s = _read_all(counters.devices), _read_all(sampled.devices)
    sampler.ensure_started()
    t0 = time.monotonic()
    time.sleep(args.pad_seconds)
    stop = threading.Event()
    steps: list[int] = []
    worker = threading.Thread(target=lambda: steps.append(load(stop)), name="gpu-load")
    worker.start()
    time.sleep(args.seconds)
    stop.set()
    worker.join()
    time.sleep(args.pad_seconds)
    end_c, end_s = _read_all(counters.devices), _read_all(sampled.devices)
    duration_s = time.monotonic() - t0
    sampler.stop()

    results = []
    status = EXIT_OK
    for dc, ds, c0, c1, s0, s1 in zip(
        counters.devices, sampled.devices, begin_c, end_c, begin_s, end_s, strict=True
    ):
        row: dict[str, Any] = {
            "device": dc.device_id,
            "counter_method": dc.method,
            "counter_source": dc.source,
            "sampled_source": ds.source,
            "samples": getattr(ds, "samples", None),
            "errors": dc.errors + ds.errors,
        }
        counter_j = None if c0 is None or c1 is None or dc.method != "counter" else c1 - c0
        sampled_j = None if s0 is None or s1 is None or ds.method != "sampled" else s1 - s0
        row["counter_energy_j"] = counter_j
        row["sampled_energy_j"] = sampled_j
        row["counter_energy_kwh"] = None if counter_j is None else counter_j / 3.6e6
        row["sampled_energy_kwh"] = None if sampled_j is None else sampled_j / 3.6e6
        row["mean_power_w"] = None if counter_j is None else counter_j / duration_s
        if dc.method != "counter":  # nothing to compare against: say so, do not fail the check
            row["difference_pct"] = None
            row["agree"] = None
            row["note"] = "this GPU has no energy counter; carbonguard samples its power"
        elif counter_j and sampled_j is not None:
            row["difference_pct"] = 100.0 * (sampled_j - counter_j) / counter_j
            row["agree"] = abs(row["difference_pct"]) <= args.tolerance_pct
        else:
            row["difference_pct"] = None
            row["agree"] = False
        if row["agree"] is False:
            status = EXIT_DISAGREE
        results.append(row)
        print(
            f"{dc.device_id}: counter {_j(counter_j)}, sampled {_j(sampled_j)} "
            f"({row['samples']} samples every {args.period:g} s), difference "
            + ("n/a" if row["difference_pct"] is None else f"{row['difference_pct']:+.2f} %")
            + f", mean power {_w(row['mean_power_w'])} -> {_verdict(row['agree'])}"
        )
    doc = {
        "checked_at": datetime.now(timezone.utc).isoformat(),
        "host": platform.node(),
        "engine": engine,
        "load_seconds": args.seconds,
        "pad_seconds": args.pad_seconds,
        "window_seconds": duration_s,
        "sample_period_s": args.period,
        "load_steps": steps[0] if steps else None,
        "tolerance_pct": args.tolerance_pct,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "flags": counters.flags,
        "gpus": results,
        "all_agree": status == EXIT_OK and any(r["agree"] for r in results),
    }
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
        print(f"gpu_check: wrote {args.json_out}")
    return status


def _read_all(devices: list[Any]) -> list[float | None]:
    out: list[float | None] = []
    for device in devices:
        try:
            out.append(device.read_j())
        except DeviceReadError as exc:
            print(f"gpu_check: {device.device_id}: read failed: {exc}", file=sys.stderr)
            out.append(None)
    return out


def _j(value: float | None) -> str:
    return "unavailable" if value is None else f"{value:.1f} J ({value / 3.6e6:.3g} kWh)"


def _verdict(agree: bool | None) -> str:
    return {True: "OK", False: "DISAGREE", None: "no counter to compare"}[agree]


def _w(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} W"


if __name__ == "__main__":
    sys.exit(main())
