"""Property: whatever text or YAML document reaches the loader, only `InputError` with file:line escapes."""

from __future__ import annotations

import re

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonguard.errors import InputError
from carbonguard.policy import parse_policy

LOCATED = re.compile(r"^fuzz\.yaml(:\d+(:\d+)?)?: ")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
    st.sampled_from(["carbonguard/v1", "CarbonPolicy", "co2e_kg", "block", "2026-01-01", "run", "stage:train"]),
)
keys = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["apiVersion", "kind", "metadata", "spec", "name", "version", "location", "zone", "pue",
                     "budgets", "id", "metric", "limit", "action", "waivers", "rule", "expires", "measurement"]),
)
documents = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(keys, inner, max_size=5)), max_leaves=25)


def _check(text: str | bytes) -> None:
    try:
        parse_policy(text, "fuzz.yaml")
    except InputError as error:
        assert error.problems
        for problem in error.problems:
            assert LOCATED.match(str(problem)), str(problem)
            assert problem.line is not None, str(problem)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_arbitrary_text_only_raises_input_error(text: str) -> None:
    _check(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_raise_input_error(data: bytes) -> None:
    _check(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_arbitrary_yaml_documents_only_raise_input_error(document: object) -> None:
    _check(yaml.safe_dump(document, allow_unicode=True))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.dictionaries(keys, documents, max_size=6))
def test_policy_shaped_documents_only_raise_input_error(spec: dict) -> None:
    document = {"apiVersion": "carbonguard/v1", "kind": "CarbonPolicy",
                "metadata": {"name": "fuzz", "version": "1"}, "spec": spec}
    _check(yaml.safe_dump(document, allow_unicode=True))
