"""Policies read as YAML 1.2 core schema values; YAML 1.1 leftovers are refused with file:line:field.

Also: the node limit trips while composing (a huge document is refused before it is read through),
an unknown cloud region is refused by `policy validate` where it is written, and a provider's
`base_url` must be http(s).
"""

from __future__ import annotations

import pytest

from carbonguard.errors import InputError
from carbonguard.policy import parse_policy, yamlsafe
from carbonguard.policy.yamlsafe import MAX_NODES, load_located

LOADERS = [yamlsafe._PyLoader] + ([yamlsafe._CLoader] if hasattr(yamlsafe, "_CLoader") else [])


@pytest.fixture(params=LOADERS, ids=lambda cls: cls.__name__)
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> type:
    """Run a test with the pure-Python parser and, where PyYAML has it, libyaml's."""
    monkeypatch.setattr(yamlsafe, "_Loader", request.param)
    return request.param

HEADER = """\
apiVersion: carbonguard/v1
kind: CarbonPolicy
metadata:
  name: team
  version: "1"
spec:
  location:
    zone: DE
  pue: 1.2
"""


def _budget(limit: str, extra: str = "") -> str:
    return HEADER + f"  budgets:\n    - id: a\n      metric: co2e_kg\n      limit: {limit}\n{extra}"


def _refused(text: str) -> InputError:
    with pytest.raises(InputError) as info:
        parse_policy(text, "team.yaml")
    return info.value


@pytest.mark.parametrize(("limit", "fragment"), [
    ("1:30", "base-60"),            # YAML 1.1: 90
    ("0x10", "not a decimal number"),  # hex
    ("0o17", "not a decimal number"),
    ("1_000", "digit separators"),  # YAML 1.1: 1000
    ("017", "leading zero"),        # YAML 1.1: octal 15; YAML 1.2: 17
    ("yes", "not the text 'yes'"),  # YAML 1.1: true (and then a number check would see 1)
])
def test_yaml11_numbers_are_refused_with_file_line_and_field(limit: str, fragment: str, loader: type) -> None:
    problem = _refused(_budget(limit)).problems[0]
    assert fragment in problem.message
    assert (problem.source, problem.line) == ("team.yaml", 13)
    assert problem.field_path == "spec.budgets[0].limit"


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "y", "Yes", "ON"])
def test_yaml11_booleans_are_text_and_refused_where_a_boolean_belongs(word: str) -> None:
    problem = _refused(HEADER + f"  measurement:\n    use_upper_bound: {word}\n").problems[0]
    assert problem.message == f"must be true or false, not the text {word!r}"
    assert (problem.line, problem.field_path) == (11, "spec.measurement.use_upper_bound")


def test_norway_stays_a_zone() -> None:
    loaded = parse_policy(HEADER.replace("zone: DE", "zone: NO"), "team.yaml")
    assert loaded.policy.spec.location.zone == "NO"


@pytest.mark.parametrize(("plain", "value"), [
    ("1e-9", 1e-9), ("5e3", 5000.0), ("12", 12), ("-3", -3), ("0", 0), ("2.5", 2.5), (".5", 0.5), ("~", None),
    ("null", None), ("", None), ("true", True), ("FALSE", False), ("0.0", 0.0), ("2024-01-01", "2024-01-01"),
    ('"1:30"', "1:30"), ("'yes'", "yes"), ("!!str 0x10", "0x10"),
])
def test_core_schema_values(plain: str, value: object, loader: type) -> None:
    assert load_located(f"v: {plain}\n", "x.yaml").data == {"v": value}


def test_node_limit_trips_while_composing(loader: type) -> None:
    """A syntax error after the limit is never reached: composing stopped at the limit."""
    items = "".join(f"- {i}\n" for i in range(MAX_NODES + 10))
    with pytest.raises(InputError) as info:
        load_located(items + "- [unclosed\n", "big.yaml")
    problem = info.value.problems[0]
    assert f"more than {MAX_NODES} nodes" in problem.message
    assert problem.line == MAX_NODES  # the node after the limit (the sequence itself is node 1)


def test_depth_limit_trips_while_composing(loader: type) -> None:
    with pytest.raises(InputError, match="nesting deeper than"):
        load_located("[" * 500 + "]" * 500, "deep.yaml")


def test_unknown_cloud_region_is_refused_where_written() -> None:
    text = HEADER.replace("    zone: DE\n", "    cloud:\n      provider: aws\n      region: mars-north-1\n")
    problem = _refused(text).problems[0]
    assert "unknown aws region 'mars-north-1'" in problem.message
    assert (problem.line, problem.field_path) == (10, "spec.location.cloud.region")


def test_known_cloud_region_passes() -> None:
    text = HEADER.replace("    zone: DE\n", "    cloud:\n      provider: gcp\n      region: europe-west4-a\n")
    assert parse_policy(text, "team.yaml").policy.spec.location.cloud.region == "europe-west4-a"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://api.example/v3", "api.example/v3", "https://",
                                 "https://user:pw@api.example/v3"])
def test_provider_base_url_must_be_http(url: str) -> None:
    text = HEADER + f"  intensity:\n    electricitymaps:\n      base_url: {url}\n"
    problem = _refused(text).problems[0]
    assert problem.field_path == "spec.intensity.electricitymaps.base_url" and problem.line == 12
    assert "http" in problem.message or "credentials" in problem.message


def test_provider_base_url_http_passes() -> None:
    text = HEADER + "  intensity:\n    electricitymaps:\n      base_url: https://api.example/v3\n"
    assert parse_policy(text, "team.yaml").policy.spec.intensity.electricitymaps.base_url == "https://api.example/v3"
