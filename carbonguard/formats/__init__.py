"""Renderers: a typed result (from `carbonguard.reporting`) and options in, text out; no I/O.

One module per format (`text`, `json_format`, `markdown`), one registry (`registry.FORMATS`), and
escaping per format in `escape`. `render(name, result, options)` is what every surface calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from carbonguard.formats.registry import FORMATS, RenderOptions, formats_for
from carbonguard.formats.registry import render as _render

if TYPE_CHECKING:  # the CLI lists formats at start-up; pydantic models load only when rendering
    from carbonguard.formats.registry import Result
    from carbonguard.models import Decision, RunFootprint

__all__ = ["FORMATS", "RenderOptions", "formats_for", "render"]


def render(
    name: str,
    result: Result | Decision,
    footprint: RunFootprint | None = None,
    options: RenderOptions | None = None,
) -> str:
    """Render a result; a bare `Decision` (with its footprint) is shorthand for a `RunReport`."""
    if not hasattr(result, "json_document"):
        from carbonguard.reporting.run import RunReport

        result = RunReport(result, footprint)  # type: ignore[arg-type]
    return _render(name, result, options)  # type: ignore[arg-type]
