"""Charts for the HTML report: matplotlib figures rendered to inline SVG.

Why matplotlib (see docs/reports.md): its SVG backend needs no browser, no JavaScript and no network,
and its output can be made byte-for-byte reproducible (`svg.hashsalt`, `svg.id`, no date metadata).
It is heavy, so it is the optional extra `report`; `require_matplotlib()` turns its absence into one
clear line instead of an ImportError.

Charts take plain values (labels, numbers already scaled to their display unit), never models, so
each chart is one small function. Colours are placeholders that `_theme()` swaps for CSS
(`currentColor` for ink, custom properties for series), so one SVG reads well in light and dark
schemes. Text stays text (`svg.fonttype: none`), escaped by matplotlib's SVG writer, and mathtext is
off so a `$` in a stage name is shown as typed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

INSTALL_HINT = "pip install 'carbonguard[report]'"

# Placeholder colours (never used as real colours) and what the page's CSS puts in their place.
_INK = "#010203"
_SERIES = {
    "energy": "#010204",
    "co2e": "#010205",
    "intensity": "#010206",
    "allow": "#010207",
    "warn": "#010208",
    "block": "#010209",
    "reschedule": "#01020a",
    "other": "#01020b",
}
_CSS_OF = {_INK: "currentColor", **{hex_: f"var(--cg-{name})" for name, hex_ in _SERIES.items()}}
_MARK_PREFIX = "cg-mark"
WIDTH_IN = 9.4  # the page's text column (920 px) at 72 pt per inch


class ReportDependencyMissing(RuntimeError):
    """matplotlib (the `report` extra) is not installed."""


def require_matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ReportDependencyMissing(f"the html format needs matplotlib: {INSTALL_HINT}") from exc
    return matplotlib


@dataclass(frozen=True)
class Chart:
    """One chart: its inline SVG, and the names a test uses to find its marks."""

    chart_id: str
    svg: str


def _rc(chart_id: str) -> dict[str, Any]:
    return {
        "svg.hashsalt": f"carbonguard-{chart_id}",  # fixed ids, unique per chart within one page
        "svg.id": chart_id,
        "svg.fonttype": "none",  # text as <text>, selectable and searchable
        "text.parse_math": False,  # a stage named "$x$" is shown as typed
        "text.usetex": False,
        "font.family": "sans-serif",
        "font.size": 9.5,
        "text.color": _INK,
        "axes.labelcolor": _INK,
        "axes.edgecolor": _INK,
        "xtick.color": _INK,
        "ytick.color": _INK,
        "axes.facecolor": "none",
        "figure.facecolor": "none",
        "savefig.facecolor": "none",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.color": _INK,
        "grid.alpha": 0.15,
        "axes.axisbelow": True,
        "date.autoformatter.hour": "%H:%M",
    }


def _figure(chart_id: str, width_in: float, height_in: float, **subplots: Any) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    axes = fig.subplots(**subplots) if subplots else fig.subplots()
    return fig, axes


def _svg(chart_id: str, fig: Any, title: str, description: str) -> Chart:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]  # inline: no XML declaration or DOCTYPE
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # matplotlib numbers its groups per figure (figure_1, axes_1, ...): prefix them so ids stay unique
    # when several charts share a page. Nothing refers to these ids; clip paths and markers have
    # hashed ids, already distinct per chart through svg.hashsalt.
    text = re.sub(r'id="([A-Za-z][\w.]*_\d+)"', rf'id="{chart_id}-\1"', text)
    for placeholder, css in _CSS_OF.items():
        text = text.replace(placeholder, css)
    from carbonguard.formats.escape import html_text

    label = (f' role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" class="chart-svg"'
             f' preserveAspectRatio="xMinYMin meet"')
    head_end = text.index(">")
    text = (text[:head_end] + label + text[head_end:head_end + 1]
            + f'<title id="{chart_id}-title">{html_text(title)}</title>'
            + f'<desc id="{chart_id}-desc">{html_text(description)}</desc>' + text[head_end + 1:])
    # Fixed pixel width/height become a max width; the viewBox keeps the aspect ratio.
    text = re.sub(r'<svg([^>]*?) width="([\d.]+)pt" height="([\d.]+)pt"',
                  r'<svg\1 width="100%" style="max-width:\2pt"', text, count=1)
    return Chart(chart_id, text)


def short_label(text: str, limit: int = 28) -> str:
    """Chart text: no control characters (matplotlib would write them into the SVG as they are), and
    short; the table beside the chart carries the full name."""
    from carbonguard.formats.escape import text_safe

    text = text_safe(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _band_bars(ax: Any, y: Sequence[float], values: Sequence[float | None], uppers: Sequence[float | None],
               colour: str, gid: str) -> None:
    """Bars for known values, a lighter hatched band up to the upper bound, 'no reading' otherwise."""
    for i, (pos, value, upper) in enumerate(zip(y, values, uppers, strict=True)):
        if value is None:
            ax.text(0, pos, "  no reading", va="center", ha="left", fontsize=8.5, style="italic")
            continue
        bar = ax.barh(pos, value, height=0.6, color=colour)
        bar.patches[0].set_gid(f"{gid}-{_MARK_PREFIX}-{i}")
        if upper is not None and upper > value:
            ax.barh(pos, upper - value, left=value, height=0.6, color=colour, alpha=0.3, hatch="///",
                    edgecolor=colour, linewidth=0)


def _band_legend(ax: Any, colour: str) -> None:
    from matplotlib.patches import Patch

    colour = _INK  # one legend for panels of different colours
    ax.legend(handles=[Patch(color=colour, alpha=0.75, label="as recorded"),
                       Patch(facecolor=colour, alpha=0.25, hatch="///", edgecolor=colour, linewidth=0,
                             label="up to the upper bound of estimates")],
              frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, fontsize=8.5,
              borderaxespad=0.2)  # above the panel: never over a bar


def stage_panels(chart_id: str, labels: Sequence[str], energy: Sequence[float | None],
                 energy_upper: Sequence[float | None], energy_unit: str, co2e: Sequence[float | None],
                 co2e_upper: Sequence[float | None], co2e_unit: str, title: str, description: str) -> Chart:
    """Energy and CO2e per stage side by side, sharing the stage axis."""
    require_matplotlib()
    import matplotlib

    with matplotlib.rc_context(_rc(chart_id)):
        height = 1.2 + 0.42 * len(labels)
        fig, (left, right) = _figure(chart_id, WIDTH_IN, height, ncols=2, sharey=True)
        y = list(range(len(labels)))
        _band_bars(left, y, energy, energy_upper, _SERIES["energy"], f"{chart_id}-energy")
        _band_bars(right, y, co2e, co2e_upper, _SERIES["co2e"], f"{chart_id}-co2e")
        left.set_yticks(y, [short_label(s) for s in labels])
        left.set_ylim(len(labels) - 0.5, -0.5)  # first stage on top; room for "no reading" rows
        left.set_xlabel(f"energy ({energy_unit}, facility)")
        right.set_xlabel(f"CO2e ({co2e_unit}, location-based)")
        if any(u is not None and v is not None and u > v for v, u in zip(energy, energy_upper, strict=True)):
            _band_legend(right, _SERIES["co2e"])
        for ax in (left, right):
            ax.grid(axis="y", visible=False)
            ax.set_xlim(left=0)
            ax.margins(x=0.08)
        return _svg(chart_id, fig, title, description)


def hourly_panels(chart_id: str, hours: Sequence[datetime], energy: Sequence[float],
                  energy_upper: Sequence[float], energy_unit: str, intensity: Sequence[float | None],
                  title: str, description: str) -> Chart:
    """Energy per clock hour above, grid intensity below, on one shared time axis (UTC)."""
    require_matplotlib()
    import matplotlib
    from matplotlib import dates

    with matplotlib.rc_context(_rc(chart_id)):
        fig, (top, bottom) = _figure(chart_id, WIDTH_IN, 4.4, nrows=2, sharex=True,
                                     gridspec_kw={"height_ratios": [1, 1]})
        width = 1 / 24 * 0.8
        centres = [dates.date2num(h) + 1 / 48 for h in hours]
        for i, (x, value, upper) in enumerate(zip(centres, energy, energy_upper, strict=True)):
            bar = top.bar(x, value, width=width, color=_SERIES["energy"])
            bar.patches[0].set_gid(f"{chart_id}-energy-{_MARK_PREFIX}-{i}")
            if upper > value:
                top.bar(x, upper - value, bottom=value, width=width, color=_SERIES["energy"], alpha=0.3,
                        hatch="///", edgecolor=_SERIES["energy"], linewidth=0)
        top.set_ylabel(f"energy\n({energy_unit})")
        if any(u > v for v, u in zip(energy, energy_upper, strict=True)):
            _band_legend(top, _SERIES["energy"])
        top.set_ylim(bottom=0)
        known = [(dates.date2num(h), v) for h, v in zip(hours, intensity, strict=True) if v is not None]
        if known:
            xs = [x for x, _ in known] + [known[-1][0] + 1 / 24]
            ys = [v for _, v in known] + [known[-1][1]]
            (line,) = bottom.step(xs, ys, where="post", color=_SERIES["intensity"], linewidth=2)
            line.set_gid(f"{chart_id}-intensity-{_MARK_PREFIX}-0")
            bottom.set_ylim(bottom=0, top=max(ys) * 1.15 or 1)
        bottom.set_ylabel("grid intensity\n(gCO2e/kWh)")
        bottom.set_xlabel("hour starting (UTC)")
        first, last = dates.date2num(hours[0]), dates.date2num(hours[-1]) + 1 / 24
        pad = 1 / 24 * 0.15
        bottom.set_xlim(first - pad, last + pad)
        locator = dates.AutoDateLocator(minticks=2, maxticks=8)
        bottom.xaxis.set_major_locator(locator)
        bottom.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
        return _svg(chart_id, fig, title, description)


def hourly_matching(chart_id: str, hours: Sequence[datetime], consumption: Sequence[float],
                    matched: Sequence[float], unit: str, title: str, description: str) -> Chart:
    """Energy consumed per clock hour (UTC), with the part matched by certificates of that hour inside it."""
    require_matplotlib()
    import matplotlib
    from matplotlib import dates

    with matplotlib.rc_context(_rc(chart_id)):
        fig, ax = _figure(chart_id, WIDTH_IN, 2.8)
        width = 1 / 24 * 0.8
        centres = [dates.date2num(h) + 1 / 48 for h in hours]
        labelled = False
        for i, (x, used, cfe) in enumerate(zip(centres, consumption, matched, strict=True)):
            bar = ax.bar(x, used, width=width, color=_SERIES["energy"], alpha=0.3,
                         label="consumed" if i == 0 else None)
            bar.patches[0].set_gid(f"{chart_id}-consumed-{_MARK_PREFIX}-{i}")
            if cfe > 0:
                inner = ax.bar(x, cfe, width=width * 0.6, color=_SERIES["allow"],
                               label=None if labelled else "matched by certificates of the hour")
                labelled = True
                inner.patches[0].set_gid(f"{chart_id}-matched-{_MARK_PREFIX}-{i}")
        ax.set_ylabel(f"energy\n({unit})")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("hour starting (UTC)")
        first, last = dates.date2num(hours[0]), dates.date2num(hours[-1]) + 1 / 24
        pad = 1 / 24 * 0.15
        ax.set_xlim(first - pad, last + pad)
        locator = dates.AutoDateLocator(minticks=2, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
        ax.legend(frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, fontsize=8.5,
                  borderaxespad=0.2)
        return _svg(chart_id, fig, title, description)


def forecast_window(chart_id: str, starts: Sequence[datetime], ends: Sequence[datetime],
                    values: Sequence[float], now: tuple[datetime, datetime] | None,
                    window: tuple[datetime, datetime] | None, title: str, description: str) -> Chart:
    """A zone's intensity forecast as steps, with "run now" and the proposed window shaded on it."""
    require_matplotlib()
    import matplotlib
    from matplotlib import dates

    with matplotlib.rc_context(_rc(chart_id)):
        fig, ax = _figure(chart_id, WIDTH_IN, 2.8)
        xs = [dates.date2num(t) for t in starts] + [dates.date2num(ends[-1])]
        ys = [*values, values[-1]]
        (line,) = ax.step(xs, ys, where="post", color=_SERIES["intensity"], linewidth=2, label="forecast")
        line.set_gid(f"{chart_id}-forecast-{_MARK_PREFIX}-0")
        if now is not None:
            span = ax.axvspan(dates.date2num(now[0]), dates.date2num(now[1]), color=_SERIES["block"], alpha=0.18,
                              label="run now")
            span.set_gid(f"{chart_id}-now-{_MARK_PREFIX}-0")
        if window is not None:
            span = ax.axvspan(dates.date2num(window[0]), dates.date2num(window[1]), color=_SERIES["allow"],
                              alpha=0.3, label="proposed window")
            span.set_gid(f"{chart_id}-window-{_MARK_PREFIX}-0")
        ax.set_ylabel("grid intensity\n(gCO2e/kWh)")
        ax.set_ylim(bottom=0, top=max(ys) * 1.15 or 1)
        ax.set_xlabel("time (UTC)")
        ax.set_xlim(xs[0], xs[-1])
        locator = dates.AutoDateLocator(minticks=2, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
        ax.legend(frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=3, fontsize=8.5,
                  borderaxespad=0.2)
        return _svg(chart_id, fig, title, description)


def period_runs(chart_id: str, starts: Sequence[datetime], values: Sequence[float | None],
                outcomes: Sequence[str], unit: str, title: str, description: str) -> Chart:
    """Each run's location-based CO2e at its start time, coloured by the gate's outcome."""
    require_matplotlib()
    import matplotlib
    from matplotlib import dates

    with matplotlib.rc_context(_rc(chart_id)):
        fig, ax = _figure(chart_id, WIDTH_IN, 3.0)
        seen: set[str] = set()
        for i, (start, value, outcome) in enumerate(zip(starts, values, outcomes, strict=True)):
            colour = _SERIES.get(outcome, _SERIES["other"])
            x = dates.date2num(start)
            if value is None:
                ax.plot([x], [0], marker="x", color=colour, markersize=8, linestyle="none")
                continue
            label = short_label(outcome) if outcome not in seen else None
            seen.add(outcome)
            ax.vlines(x, 0, value, color=colour, linewidth=1.5, alpha=0.6)
            (dot,) = ax.plot([x], [value], marker="o", color=colour, markersize=7, linestyle="none",
                             label=label)
            dot.set_gid(f"{chart_id}-{_MARK_PREFIX}-{i}")
        ax.set_ylim(bottom=0)
        ax.margins(x=0.08, y=0.15)
        ax.set_ylabel(f"CO2e per run\n({unit}, location-based)")
        ax.set_xlabel("run start (UTC)")
        locator = dates.AutoDateLocator(minticks=2, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
        if seen:
            ax.legend(title="gate outcome", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _svg(chart_id, fig, title, description)


def ranked_bars(chart_id: str, labels: Sequence[str], values: Sequence[float | None], unit: str,
                axis_label: str, title: str, description: str) -> Chart:
    """Horizontal bars, largest first (e.g. the period's top stages by energy)."""
    require_matplotlib()
    import matplotlib

    with matplotlib.rc_context(_rc(chart_id)):
        fig, ax = _figure(chart_id, WIDTH_IN, 1.1 + 0.38 * len(labels))
        y = list(range(len(labels)))
        _band_bars(ax, y, values, [None] * len(values), _SERIES["energy"], chart_id)
        ax.set_yticks(y, [short_label(s) for s in labels])
        ax.set_ylim(len(labels) - 0.5, -0.5)
        ax.set_xlabel(f"{axis_label} ({unit})")
        ax.grid(axis="y", visible=False)
        ax.set_xlim(left=0)
        ax.margins(x=0.08)
        return _svg(chart_id, fig, title, description)
