"""One registry: the declared kinds of each format are exactly what its module renders."""

from __future__ import annotations

import importlib

import pytest

from carbonguard.formats import FORMATS, formats_for, render
from carbonguard.formats.registry import RenderOptions


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_declared_kinds_match_the_module(name: str) -> None:
    spec = FORMATS[name]
    module = importlib.import_module(spec.module)
    assert set(module.RENDERERS) == set(spec.kinds)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_part_renders_its_kinds_with_the_formats_own_renderers(name: str) -> None:
    """A kind `render` loads from a smaller module gets the same function the format module lists."""
    spec = FORMATS[name]
    whole = importlib.import_module(spec.module).RENDERERS
    for kinds, part in spec.parts:
        assert set(kinds) <= set(spec.kinds)
        renderers = importlib.import_module(part).RENDERERS
        assert set(renderers) == set(kinds), part
        assert all(renderers[k] is whole[k] for k in kinds), part
    covered = [k for kinds, _ in spec.parts for k in kinds]
    assert len(covered) == len(set(covered))  # one module per kind


def test_formats_for_a_kind() -> None:
    assert formats_for("run") == ("text", "json", "markdown", "html")
    assert "text" not in formats_for("compliance")


def test_a_format_that_cannot_render_a_kind_says_what_can() -> None:
    class Fake:
        kind = "compliance"

        def json_document(self) -> dict:
            return {}

    with pytest.raises(KeyError, match="available: json, markdown, html"):
        render("text", Fake(), options=RenderOptions())
