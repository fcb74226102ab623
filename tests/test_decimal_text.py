"""Figures in messages never switch to exponents, and keep the six figures `:.6g` gave them."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbonguard.decimal_text import plain


@pytest.mark.parametrize(("value", "text"), [
    (7.96e-07, "0.000000796"),
    (1.9998124546525187e-05, "0.0000199981"),
    (0.0658, "0.0658"),
    (50.0, "50"),
    (1234567.0, "1234570"),
    (9.9999996e-07, "0.000001"),
    (-0.00012345678, "-0.000123457"),
    (0.0, "0"),
])
def test_positional_with_six_significant_figures(value: float, text: str) -> None:
    assert plain(value) == text


def test_sign_is_shown_when_asked() -> None:
    assert plain(2.5e-7, sign=True) == "+0.00000025"
    assert plain(-2.5e-7, sign=True) == "-0.00000025"


@given(st.floats(min_value=1e-12, max_value=1e14, allow_nan=False))
def test_no_exponent_and_same_value_as_six_figures(value: float) -> None:
    text = plain(value)
    assert "e" not in text
    assert math.isclose(float(text), float(f"{value:.6g}"), rel_tol=1e-12)
