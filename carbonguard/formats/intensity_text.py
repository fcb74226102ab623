"""Plain text for `carbonguard intensity` (a zone's figures, the embedded zone list).

A module of its own, which the registry loads alone for these kinds: `carbonguard intensity DE`
must start fast (scale issue), and `text` also renders runs, checks and the ledger, whose modules
load the pydantic models. Every user-supplied string goes through `text_safe`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carbonguard.formats.escape import text_safe as t
from carbonguard.formats.registry import RenderOptions

if TYPE_CHECKING:
    from carbonguard.reporting.intensity import IntensityReport, ZoneCatalogue


def _figure_when(p: Any) -> str:
    """When a figure applies, worded so an annual average is never read as a measurement of that year.

    An embedded annual figure is served for the requested calendar year but was measured in its data
    year (e.g. 2021); printing only the interval start (2026-01-01) would suggest a 2026 measurement.
    """
    if p.kind == "annual":
        data_year = f"data year {p.year}" if p.year else "data year unknown"
        return f"annual average, {data_year} (applied to {p.start.year})"
    return f"{p.start.strftime('%Y-%m-%dT%H:%MZ')}  duration_s={p.duration_s}"


def render_intensity(result: IntensityReport, options: RenderOptions) -> str:
    when = result.start.strftime("%Y-%m-%dT%H:%M:%SZ")
    if not result.instant:
        when += " .. " + result.end.strftime("%Y-%m-%dT%H:%M:%SZ")
    value = "unknown" if result.intensity_g_per_kwh is None else f"{result.intensity_g_per_kwh:.1f}"
    label = "intensity_g_per_kwh" if result.instant else "intensity_g_per_kwh (time-weighted)"
    lines = [f"zone: {t(result.zone)}", f"time: {when}", f"{label}: {value}"]
    if result.gaps:
        lines.append(f"not covered: {sum(g.duration_s for g in result.gaps):.0f} s in {len(result.gaps)} gap(s)")
    lines.append("figures:")
    points = result.points
    shown = points if len(points) <= 48 else points[:24] + points[-24:]
    for p in shown:
        lines.append(
            f"  {_figure_when(p)}  intensity_g_per_kwh={p.intensity_g_per_kwh:.1f}  {p.kind}/{p.signal.value}  "
            f"{t(p.provider)} ({p.origin.value})" + (f"  fallback_from={t(p.fallback_from)}" if p.fallback_from else "")
        )
    if len(points) > len(shown):
        lines.append(f"  ... {len(points) - len(shown)} more (use --json for all)")
    for source, year in dict.fromkeys((p.source, p.year) for p in points):
        lines.append(f"source: {t(source)}" + (f" (data year {year})" if year else ""))
    for version, digest in dict.fromkeys((p.dataset_version, p.dataset_hash) for p in points if p.dataset_hash):
        lines.append(f"dataset: {t(version)} sha256 {t(digest)}")
    flags = list(dict.fromkeys(f for p in points for f in p.flags))
    if flags:
        lines.append(f"flags: {t(', '.join(flags))}")
    lines.extend(f"provider error: {t(e)}" for e in result.provider_errors)
    return "\n".join(lines) + "\n"


def render_zones(result: ZoneCatalogue, options: RenderOptions) -> str:
    lines = [f"{'zone':<10} {'intensity_g_per_kwh':>19}  {'year':>4}  {'quality':<19} name"]
    for z in result.zones:
        lines.append(f"{z.zone:<10} {z.intensity_g_per_kwh:>19.1f}  {z.year:>4}  {z.quality:<19} {t(z.name)}")
    lines.append(f"\n{len(result.zones)} zones, {result.aliases} aliases, {result.cloud_regions} cloud regions; "
                 f"dataset {result.dataset_version} sha256 {result.dataset_hash}")
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Any] = {"intensity": render_intensity, "zones": render_zones}
