"""Per-core CPU power figures for the CPU-time estimate, with the published source of each.

Why a table: without a readable energy counter (no RAPL, a VM, a container without permission),
the only honest figure we have is CPU time x power per core. The per-core figure is the vendor's
TDP divided by its physical core count (the approach of Green Algorithms, Lannelongue et al.,
Advanced Science 2021). TDP is a design ceiling, not a measured draw, so every estimate made from
this table carries an uncertainty band (see `relative_uncertainty`).
"""

from __future__ import annotations

import os
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from carbonguard.errors import InputError, Problem

ENV_W_PER_CORE = "CARBONGUARD_CPU_W_PER_CORE"


@dataclass(frozen=True)
class CpuSpec:
    """One CPU model: TDP and physical cores from the vendor's product page."""

    pattern: str  # regular expression searched in the normalised /proc/cpuinfo model name
    tdp_w: float
    cores: int
    source: str

    @property
    def w_per_core(self) -> float:
        return self.tdp_w / self.cores


_AMD = "AMD product page, amd.com/en/products/processors/server/epyc"
_INTEL = "Intel ARK product specifications, ark.intel.com"

# Vendor TDP / physical cores. Extend with care: cite the vendor page in `source`.
CPU_TABLE: tuple[CpuSpec, ...] = (
    CpuSpec(r"epyc 9654\b", 360, 96, f"{_AMD} (EPYC 9654)"),
    CpuSpec(r"epyc 9554\b", 360, 64, f"{_AMD} (EPYC 9554)"),
    CpuSpec(r"epyc 7763\b", 280, 64, f"{_AMD} (EPYC 7763)"),
    CpuSpec(r"epyc 7742\b", 225, 64, f"{_AMD} (EPYC 7742)"),
    CpuSpec(r"epyc 7713\b", 225, 64, f"{_AMD} (EPYC 7713)"),
    CpuSpec(r"epyc 7702\b", 200, 64, f"{_AMD} (EPYC 7702)"),
    CpuSpec(r"epyc 7543\b", 225, 32, f"{_AMD} (EPYC 7543)"),
    CpuSpec(r"epyc 7452\b", 155, 32, f"{_AMD} (EPYC 7452)"),
    CpuSpec(r"xeon platinum 8480\+?", 350, 56, f"{_INTEL} (Xeon Platinum 8480+)"),
    CpuSpec(r"xeon platinum 8380\b", 270, 40, f"{_INTEL} (Xeon Platinum 8380)"),
    CpuSpec(r"xeon platinum 8358\b", 250, 32, f"{_INTEL} (Xeon Platinum 8358)"),
    CpuSpec(r"xeon platinum 8168\b", 205, 24, f"{_INTEL} (Xeon Platinum 8168)"),
    CpuSpec(r"xeon gold 6338\b", 205, 32, f"{_INTEL} (Xeon Gold 6338)"),
    CpuSpec(r"xeon gold 6248\b", 150, 20, f"{_INTEL} (Xeon Gold 6248)"),
    CpuSpec(r"xeon gold 6230\b", 125, 20, f"{_INTEL} (Xeon Gold 6230)"),
    CpuSpec(r"xeon e5-2698 v4\b", 135, 20, f"{_INTEL} (Xeon E5-2698 v4)"),
    CpuSpec(r"xeon e5-2690 v4\b", 135, 14, f"{_INTEL} (Xeon E5-2690 v4)"),
)

# The default for unknown models is the median of the table, so it sits among real server parts.
DEFAULT_W_PER_CORE: float = round(statistics.median(s.w_per_core for s in CPU_TABLE), 3)

# Relative half-width of the band around a CPU estimate, by where the per-core figure came from.
#  - table: TDP is a ceiling; sustained per-core draw of a loaded server part is commonly well below
#    it, and idle cores of the package are not counted, so we allow +-50 %.
#  - default: the model is unknown, so the figure may be off by a factor of two either way: +-100 %.
#  - override: an operator-supplied figure (ideally measured), still applied to CPU time: +-25 %.
RELATIVE_UNCERTAINTY = {"table": 0.5, "default": 1.0, "override": 0.25}


@dataclass(frozen=True)
class CpuPower:
    """The per-core figure the estimate uses, and where it came from."""

    w_per_core: float
    origin: str  # "table" | "default" | "override"
    source: str
    model_name: str | None

    @property
    def relative_uncertainty(self) -> float:
        return RELATIVE_UNCERTAINTY[self.origin]


def normalise_model_name(name: str) -> str:
    """Lower-case and strip vendor decorations so table patterns stay short."""
    text = name.lower()
    text = re.sub(r"\((r|tm)\)", " ", text)
    text = re.sub(r"@.*$", " ", text)
    text = re.sub(r"\b\d+-core\b|\bprocessor\b|\bcpu\b", " ", text)
    return " ".join(text.split())


def lookup(model_name: str) -> CpuSpec | None:
    """Find a CPU model in the table, or None."""
    normal = normalise_model_name(model_name)
    for spec in CPU_TABLE:
        if re.search(spec.pattern, normal):
            return spec
    return None


def read_model_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """First `model name` of /proc/cpuinfo, or None where there is none (non-Linux, ARM)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    return value.strip() or None
    except OSError:
        return None
    return None


def parse_w_per_core(text: str, source: str) -> float:
    """Parse an operator-supplied W per core; refuse anything not a positive finite number."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value < 1000):
        raise InputError(
            Problem(f"expected watts per core as a number in (0, 1000), got {text!r}", source=source)
        )
    return value


def resolve_cpu_power(
    w_per_core: float | None = None,
    *,
    environ: dict[str, str] | None = None,
    cpuinfo: Path = Path("/proc/cpuinfo"),
) -> CpuPower:
    """Pick the per-core figure: argument (the policy), then environment, then table, then default."""
    model = read_model_name(cpuinfo)
    if w_per_core is not None:
        value = parse_w_per_core(str(w_per_core), "cpu_w_per_core argument")
        return CpuPower(value, "override", "argument cpu_w_per_core", model)
    env = os.environ if environ is None else environ
    raw = env.get(ENV_W_PER_CORE)
    if raw is not None and raw.strip():
        value = parse_w_per_core(raw.strip(), f"environment variable {ENV_W_PER_CORE}")
        return CpuPower(value, "override", f"env {ENV_W_PER_CORE}", model)
    spec = lookup(model) if model else None
    if spec is not None:
        return CpuPower(round(spec.w_per_core, 3), "table", spec.source, model)
    return CpuPower(DEFAULT_W_PER_CORE, "default", "median of the carbonguard CPU table", model)
