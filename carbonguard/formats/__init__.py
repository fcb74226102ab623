"""Renderers: a `Decision` (and its footprint) in, text out. One module per format, no I/O.

`render(name, decision, footprint)` picks a renderer by name so every surface offers the same set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI lists FORMATS at start-up; pydantic models load only when rendering
    from carbonguard.models import Decision, RunFootprint

Renderer = Callable[["Decision", "RunFootprint | None"], str]


def _renderers() -> dict[str, Renderer]:
    from carbonguard.formats import json_format, markdown, text

    return {"text": text.render, "json": json_format.render, "markdown": markdown.render}


FORMATS = ("text", "json", "markdown")


def render(name: str, decision: Decision, footprint: RunFootprint | None = None) -> str:
    return _renderers()[name](decision, footprint)
