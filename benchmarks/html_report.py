"""HTML report rendering: time per page next to the markdown of the same result, and page size.

    python benchmarks/html_report.py [--repeats 7]

Measured side by side in one process on the report scenarios the tests use (a three-stage run
over four clock hours; a five-run audit period). The first render pays matplotlib's import; it is
printed apart from the medians of the later renders. No target: this says what a report costs in a
flow (`carbon_gate(report_dir=...)`) or a CI job (`-o html=...`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _median_s(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    import_s = float(subprocess.run(
        [sys.executable, "-c", "import time; t = time.perf_counter(); import matplotlib.figure, "
         "matplotlib.backends.backend_svg; print(time.perf_counter() - t)"],
        capture_output=True, text=True, check=True).stdout)
    from carbonguard.formats import render
    from tests.formats.report_scenarios import example_run, period

    tmp = Path(tempfile.mkdtemp())
    run, compliance = example_run(tmp), period(tmp)
    print(f"matplotlib import (fresh interpreter): {import_s:.3f} s")
    for name, result in (("run", run), ("compliance", compliance)):
        html_s = _median_s(lambda r=result: render("html", r), args.repeats)
        md_s = _median_s(lambda r=result: render("markdown", r), args.repeats)
        size_kib = len(render("html", result).encode()) / 1024
        print(f"{name:<10} html median {html_s * 1000:7.1f} ms  markdown median {md_s * 1000:6.2f} ms  "
              f"ratio {html_s / md_s:6.0f}x  page {size_kib:5.1f} KiB  ({args.repeats} renders each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
