"""Job specs: the shipped example loads, the schema never drifts, and bad input names file:line:field."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from carbonguard.errors import InputError
from carbonguard.estimate.loader import load_jobspec, parse_jobspec
from carbonguard.estimate.schema import SCHEMA_PATH, jobspec_schema, jobspec_schema_text
from carbonguard.policy.yamlsafe import load_located

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples" / "jobs").glob("*.yaml"))

GOOD = """\
apiVersion: carbonguard/v1
kind: TrainingJob
metadata:
  name: tiny
spec:
  location:
    zone: DE
  pue: 1.2
  stages:
    - name: train
      hardware:
        accelerator:
          model: h100
          count: 2
      duration_h: 1
"""


def problems(text: str) -> list[str]:
    with pytest.raises(InputError) as info:
        parse_jobspec(text, "job.yaml")
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_job_specs_load_and_match_the_checked_in_schema(path: Path) -> None:
    loaded = load_jobspec(path)
    assert loaded.spec.kind == "TrainingJob"
    schema = json.loads((REPO / SCHEMA_PATH).read_text())
    jsonschema.Draft202012Validator(schema).validate(load_located(path.read_bytes(), str(path)).data)


def test_train_small_example_exists() -> None:
    assert (REPO / "examples/jobs/train-small.yaml") in EXAMPLES


def test_checked_in_schema_matches_models() -> None:
    assert (REPO / SCHEMA_PATH).read_text() == jobspec_schema_text(), (
        "job spec schema drifted from the models: run `carbonguard estimate --schema --out " + SCHEMA_PATH + "`"
    )


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(jobspec_schema())


def test_good_spec_parses_and_remembers_lines() -> None:
    loaded = parse_jobspec(GOOD, "job.yaml")
    assert loaded.stage_line("train") == 10
    assert len(loaded.content_hash) == 64


def test_unknown_accelerator_names_line_field_and_known_models() -> None:
    [message] = problems(GOOD.replace("model: h100", "model: h1000"))
    assert message.startswith("job.yaml:13:")
    assert "spec.stages[0].hardware.accelerator.model" in message
    assert "unknown accelerator model 'h1000'" in message
    assert "nvidia-h100-sxm5" in message and "amd-mi300x" in message


def test_unpublished_tpu_says_why() -> None:
    [message] = problems(GOOD.replace("model: h100", "model: tpu-v5e"))
    assert "publishes no per-chip power figure for TPU v5e" in message


@pytest.mark.parametrize(
    ("old", "new", "where", "expected"),
    [
        ("count: 2", "count: 0", "job.yaml:14:", "must be >= 1"),
        ("count: 2", "count: two", "job.yaml:14:", "must be a whole number"),
        ("duration_h: 1", "duration_h: -1", "job.yaml:15:", "must be > 0"),
        ("pue: 1.2", "pue: 0.9", "job.yaml:8:", "must be >= 1"),
        ("pue: 1.2", "pue: 1.2\n  colour: red", "job.yaml:9:", "unknown field"),
        ("kind: TrainingJob", "kind: CarbonPolicy", "job.yaml:2:", "must be one of 'TrainingJob'"),
        ("duration_h: 1", "duration_h: 1\n      compute: {flops: 1.0e18, achieved_tflops_per_accelerator: 100}",
         "job.yaml:10:", "give exactly one of 'duration_h' or 'compute'"),
        ("    zone: DE", "    cloud: {provider: gcp, region: mars-north1}", "job.yaml:7:", "unknown gcp region"),
        ("name: tiny", "name: Tiny Job", "job.yaml:4:", "must match"),
    ],
)
def test_bad_fields_are_located(old: str, new: str, where: str, expected: str) -> None:
    found = problems(GOOD.replace(old, new))
    assert any(p.startswith(where) and expected in p for p in found), found


def test_duplicate_key_is_refused_at_its_line() -> None:
    [message] = problems(GOOD.replace("  pue: 1.2\n", "  pue: 1.2\n  pue: 1.3\n"))
    assert message.startswith("job.yaml:9:") and "duplicate key 'pue'" in message


def test_stages_and_from_run_are_exclusive() -> None:
    text = GOOD + "  from_run: {run_id: r1, scale: 2}\n"
    assert any("give either 'stages' or 'from_run'" in p for p in problems(text))


def test_duplicate_stage_names_are_refused() -> None:
    text = GOOD + "    - {name: train, hardware: {cpu_cores: 4}, duration_h: 1}\n"
    assert any("stage name 'train' is used twice" in p for p in problems(text))


def test_compute_without_accelerator_is_refused() -> None:
    text = GOOD.replace("""        accelerator:
          model: h100
          count: 2
      duration_h: 1""", """        cpu_cores: 8
      compute: {flops: 1.0e15, achieved_tflops_per_accelerator: 1}""")
    assert any("'compute' needs hardware.accelerator" in p for p in problems(text))


def test_empty_and_multi_document_files_say_job_spec() -> None:
    assert "expected a job spec mapping" in problems("")[0]
    assert "one job spec per file" in problems(GOOD + "---\n" + GOOD)[0]


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_jobspec(tmp_path / "absent.yaml")
