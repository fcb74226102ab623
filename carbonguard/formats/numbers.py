"""Numbers for people: three significant figures and a unit scaled so the figure reads at a glance.

The ledger and the JSON keep every digit; a person reading a report wants `13.6 Wh`, not
`0.01359822088842567179235 kWh`. One unit per axis or column, picked from the largest value, so
figures side by side compare without mental arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# (unit, size in the base unit), largest first. Base units: kWh for energy, kg for CO2e mass.
ENERGY_UNITS = (("GWh", 1e6), ("MWh", 1e3), ("kWh", 1.0), ("Wh", 1e-3), ("mWh", 1e-6))
MASS_UNITS = (("t", 1e3), ("kg", 1.0), ("g", 1e-3), ("mg", 1e-6))


def sig3(value: float) -> str:
    """`value` to three significant figures, without an exponent for everyday magnitudes.

    Down to a trillionth (`0.000000796`): a run's energy stays in kWh, and a short test run's
    microwatt-hours read as a decimal beside a budget written as one, never as `7.96e-07`.
    """
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= 9 or magnitude <= -13:
        return f"{value:.3g}"
    rounded = round(value, 2 - magnitude)
    magnitude = math.floor(math.log10(abs(rounded)))  # 999.6 rounds up to 1000
    return f"{round(value, 2 - magnitude):,.{max(0, 2 - magnitude)}f}"


def _round3(value: float) -> float:
    return float(f"{value:.3g}")


def pick_unit(values: Iterable[float | None], units: tuple[tuple[str, float], ...]) -> tuple[str, float]:
    """The largest unit in which the largest value (as shown, 3 figures) is at least 1."""
    top = max((_round3(abs(v)) for v in values if v is not None), default=0.0)
    if top == 0:
        return next(u for u in units if u[1] == 1.0)
    for name, size in units:
        if top >= size:
            return name, size
    return units[-1]


def energy(kwh: float | None) -> str:
    if kwh is None:
        return "unknown"
    name, size = pick_unit([kwh], ENERGY_UNITS)
    return f"{sig3(kwh / size)} {name}"


def co2e(kg: float | None) -> str:
    if kg is None:
        return "unknown"
    name, size = pick_unit([kg], MASS_UNITS)
    return f"{sig3(kg / size)} {name} CO2e"


def intensity(g_per_kwh: float | None) -> str:
    return "unknown" if g_per_kwh is None else f"{sig3(g_per_kwh)} gCO2e/kWh"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 120:
        return f"{sig3(seconds)} s"
    if seconds < 7200:
        return f"{sig3(seconds / 60)} min"
    return f"{sig3(seconds / 3600)} h"


def to_float(value: float | str | None) -> float | None:
    """A ledger decimal string (or a float) as a float for display; None stays None, never 0."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def figure(value: float | str | None, unit: str = "", *, missing: str = "unknown") -> str:
    """`value` to three significant figures with its fixed `unit` (a run's energy stays in kWh).

    Takes the ledger's decimal strings as they are, so `0.00001359822088842567179235` reads
    `1.36e-05`; `missing` (never 0) when there is no figure.
    """
    number = to_float(value)
    if number is None:
        return missing if value is None else str(value)
    return sig3(number) + (f" {unit}" if unit else "")


def period_energy_unit(values_kwh: Iterable[float | str | None]) -> tuple[str, float]:
    """kWh, or MWh when the largest figure of a period reaches 1 MWh (ESRS E1 reports in MWh)."""
    top = max((abs(v) for v in map(to_float, values_kwh) if v is not None), default=0.0)
    return ("MWh", 1e3) if _round3(top) >= 1e3 else ("kWh", 1.0)


def plural(count: int, noun: str) -> str:
    """'1 stage', '2 stages': counts for people, never 'stage(s)'."""
    return f"{count} {noun}" + ("" if count == 1 else "s")
