"""The accelerator table: every model the issue names is there, cited, and bad rows are located."""

from __future__ import annotations

import pytest

from carbonguard.errors import InputError
from carbonguard.estimate.accelerators import load_table, parse_table

REQUIRED = [
    "v100", "t4", "a10g", "l4", "l40s", "a100-40gb", "a100-80gb", "h100-pcie", "h100-sxm", "h200", "b200",
    "gb200", "mi250x", "mi300x", "tpu-v4", "gaudi2", "gaudi3",
]
HEADER = "model,aliases,vendor,memory_gb,tdp_w,tdp_basis,tdp_source,training_w,training_basis,training_source\n"


@pytest.mark.parametrize("name", REQUIRED)
def test_required_models_are_present_with_sources(name: str) -> None:
    row = load_table().lookup(name)
    assert row.tdp_w > 0 and 0 < row.training_w <= row.tdp_w
    assert row.tdp_source and row.training_source
    assert row.tdp_basis in {"datasheet", "paper", "reported-power-limit"}


def test_derived_training_draws_are_flagged_and_consistent() -> None:
    for row in load_table().rows:
        if row.training_derived:
            assert "0.76" in row.training_basis
            assert row.training_w == round(0.76 * row.tdp_w)


def test_lookup_is_case_and_separator_insensitive() -> None:
    assert load_table().lookup("NVIDIA_H100_SXM5").model == "nvidia-h100-sxm5"
    assert load_table().lookup(" A100 80GB ").model == "nvidia-a100-sxm4-80gb"


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(InputError) as info:
        load_table().lookup("rtx-9090", source="job.yaml", field_path="hardware.accelerator.model", line=3)
    message = str(info.value)
    assert message.startswith("job.yaml:3: hardware.accelerator.model: unknown accelerator model 'rtx-9090'")
    assert "nvidia-t4" in message and "intel-gaudi3" in message


def test_a_row_without_a_source_is_refused_at_its_line() -> None:
    text = HEADER + "x1,,V,1,100,datasheet,ds,76,derived,study\nx2,,V,1,100,datasheet,,76,derived,study\n"
    with pytest.raises(InputError) as info:
        parse_table(text, "t.csv")
    assert str(info.value) == "t.csv:3: tdp_source: must not be empty (every figure needs its source)"


def test_a_non_numeric_or_impossible_figure_is_refused() -> None:
    with pytest.raises(InputError, match=r"t.csv:2: tdp_w: must be a positive number"):
        parse_table(HEADER + "x1,,V,1,nan,datasheet,ds,76,derived,study\n", "t.csv")
    with pytest.raises(InputError, match=r"t.csv:2: training_w: typical training draw exceeds TDP"):
        parse_table(HEADER + "x1,,V,1,100,datasheet,ds,176,derived,study\n", "t.csv")


def test_an_alias_used_twice_is_refused() -> None:
    with pytest.raises(InputError, match="'a' appears twice"):
        parse_table(HEADER + "x1,a,V,1,100,d,ds,76,derived,s\nx2,a,V,1,100,d,ds,76,derived,s\n", "t.csv")
