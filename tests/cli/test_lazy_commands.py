"""A command loads only what it uses: the lazy command table and the imports it keeps out of start-up.

`carbonguard intensity DE` and `carbonguard policy validate` must start fast (scale issue: 150 ms);
these tests do not time them, they check in a fresh interpreter that the modules which made them
slow stay unimported, so undoing a lazy import fails here rather than in a benchmark nobody ran.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from carbonguard.cli import main as cli_main

REPO = Path(__file__).resolve().parents[2]

# Heavy libraries neither command needs: live HTTP, Prefect, the terminal renderer (output is a
# pipe here), charts, PostgreSQL, JSON Schema, and every other command's module.
NEVER = ("prefect", "httpx", "jsonschema", "rich", "matplotlib", "psycopg", "numpy")
OTHER_COMMANDS = {module for _, module, _ in cli_main.COMMANDS}


def modules_after_command(*argv: str, preamble: str = "") -> tuple[int, set[str]]:
    """(exit code, sys.modules) after `carbonguard ARGV` runs in a fresh interpreter, output to a pipe."""
    code = (
        f"{preamble}\n"
        "import contextlib, io, json, sys\n"
        "from carbonguard.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    rc = main({list(argv)!r})\n"
        "print(json.dumps([rc, sorted(sys.modules)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    rc, modules = json.loads(out.stdout.strip().splitlines()[-1])
    return rc, set(modules)


def _heavy(loaded: set[str]) -> set[str]:
    return {m for m in loaded if m.split(".")[0] in NEVER}


@pytest.mark.parametrize(
    ("argv", "command_module"),
    [
        (("intensity", "DE"), "carbonguard.cli.intensity_cmd"),
        (("policy", "validate", "policies/ci-budget.yaml"), "carbonguard.cli.policy_cmd"),
    ],
)
def test_fast_commands_import_only_what_they_use(argv: tuple[str, ...], command_module: str) -> None:
    rc, loaded = modules_after_command(*argv)
    assert rc == 0
    assert command_module in loaded  # the walk saw the command run
    assert not _heavy(loaded), f"carbonguard {' '.join(argv)} imports {sorted(_heavy(loaded))}"
    others = (OTHER_COMMANDS - {command_module}) & loaded
    assert not others, f"carbonguard {' '.join(argv)} imports other commands' modules: {sorted(others)}"


def test_intensity_from_embedded_data_loads_no_yaml_policy_cache_or_chain() -> None:
    _, loaded = modules_after_command("intensity", "DE")
    assert not {m for m in loaded if m == "yaml" or m.startswith(("yaml.", "carbonguard.policy"))}
    # The on-disk cache and the fallback chain serve live providers only.
    assert not {"carbonguard.intensity.cache", "carbonguard.intensity.chain"} & loaded


# What `intensity DE` used to load and no longer needs: pydantic (the embedded figures print as
# `PointFields`), the full value-type module, the settings model, and the renderers of other kinds.
NOT_FOR_INTENSITY = ("pydantic", "carbonguard.models", "carbonguard.point_model", "carbonguard.intensity.settings",
                     "carbonguard.formats.text", "carbonguard.formats.check_text", "carbonguard.formats.common",
                     "carbonguard.formats.admin_text", "carbonguard.reporting.check", "importlib.metadata", "html")


def _loaded(loaded: set[str], names: tuple[str, ...]) -> set[str]:
    return {m for m in loaded for n in names if m == n or m.startswith(n + ".")}


def test_intensity_from_embedded_data_loads_no_pydantic_and_no_other_renderer() -> None:
    rc, loaded = modules_after_command("intensity", "DE")
    assert rc == 0 and "carbonguard.formats.intensity_text" in loaded
    assert not _loaded(loaded, NOT_FOR_INTENSITY), sorted(_loaded(loaded, NOT_FOR_INTENSITY))


def test_intensity_json_builds_the_point_model_only() -> None:
    """JSON validates the figures as `IntensityPoint`s, without the gate's other model classes."""
    rc, loaded = modules_after_command("intensity", "DE", "--json")
    assert rc == 0 and "carbonguard.point_model" in loaded
    assert "carbonguard.models" not in loaded and "carbonguard.formats.text" not in loaded


def test_the_check_sees_an_eager_import() -> None:
    """Guard the guard: a heavy library or another command's module loaded on the way is reported."""
    _, loaded = modules_after_command("intensity", "DE", preamble="import rich.console, carbonguard.cli.audit_cmd")
    assert "rich.console" in _heavy(loaded)
    assert "carbonguard.cli.audit_cmd" in OTHER_COMMANDS & loaded
    _, loaded = modules_after_command("intensity", "DE", preamble="import carbonguard.models")
    assert {"pydantic", "carbonguard.models"} <= _loaded(loaded, NOT_FOR_INTENSITY)


# What `policy validate` needs none of: the ledger commands' result classes (`ledger_admin`: three
# dataclasses built for nothing), the gate's value types, the ledger, matching and scheduling, the
# JSON Schema export, and the renderers of other kinds. Its own modules are in the second list, so a
# rename that bypasses the check fails here rather than passing unseen.
NOT_FOR_POLICY_VALIDATE = ("carbonguard.reporting.ledger_admin", "carbonguard.models", "carbonguard.point_model",
                           "carbonguard.ledger", "carbonguard.matching", "carbonguard.scheduling",
                           "carbonguard.policy.schema", "carbonguard.formats.text", "carbonguard.formats.common",
                           "carbonguard.formats.json_format")
FOR_POLICY_VALIDATE = ("carbonguard.policy.loader", "carbonguard.reporting.policy_validation",
                       "carbonguard.formats.admin_text")


@pytest.mark.parametrize("policy", ["policies/ci-budget.yaml", "policies/example-train.yaml"])
def test_policy_validate_loads_only_its_own_result_and_renderer(policy: str) -> None:
    rc, loaded = modules_after_command("policy", "validate", policy)
    assert rc == 0 and set(FOR_POLICY_VALIDATE) <= loaded
    assert not _loaded(loaded, NOT_FOR_POLICY_VALIDATE), sorted(_loaded(loaded, NOT_FOR_POLICY_VALIDATE))


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def test_lazy_parser_help_matches_the_full_parser() -> None:
    """The one-line helps in COMMANDS are what the modules register, in the same order."""
    full, lazy = cli_main.build_parser(), cli_main.build_parser(lazy=True)
    assert lazy.format_help() == full.format_help()
    assert [a.dest for a in _subcommands(full)._choices_actions] == [n for n, _, _ in cli_main.COMMANDS]


def test_choosing_a_command_builds_only_its_parser() -> None:
    parser = cli_main.build_parser(lazy=True)
    sub = _subcommands(parser)
    args = parser.parse_args(["intensity", "DE", "--json"])
    assert args.zone == "DE" and args.json and callable(args.handler)
    built = {name for name, p in sub.choices.items() if p._actions[1:]}  # more than -h
    assert built == {"intensity"}
    full = _subcommands(cli_main.build_parser()).choices["intensity"]
    assert sub.choices["intensity"].format_help() == full.format_help()
    assert parser.format_help() == cli_main.build_parser().format_help()  # same place in the list


def test_a_gate_without_spec_matching_loads_no_certificate_matching(tmp_path: Path) -> None:
    """Matching (its pydantic models, tables, signatures: ~50 ms of a gate's start-up) is loaded only
    for a policy that matches certificates."""
    ledger = tmp_path / "ledger.db"
    preamble = (
        "from datetime import datetime, timezone\n"
        "from carbonguard.ledger import open_ledger\n"
        "from carbonguard.models import ComponentEnergy, StageRecord\n"
        f"with open_ledger({str(ledger)!r}) as led:\n"
        "    led.append('stage', StageRecord(run_id='r', flow_name='f', stage='s', host='h', pid=1,\n"
        "        start=datetime(2026, 3, 2, 9, tzinfo=timezone.utc),\n"
        "        end=datetime(2026, 3, 2, 10, tzinfo=timezone.utc),\n"
        "        components=(ComponentEnergy(component='cpu', device='process', method='estimated',\n"
        "                                    energy_kwh=0.1, source='t'),)).model_dump(mode='json'))\n"
        "import sys\n"
        "for name in [m for m in sys.modules if m.startswith('carbonguard.matching')]:\n"
        "    del sys.modules[name]\n"
    )
    rc, loaded = modules_after_command("gate", "--policy", "policies/example-train.yaml", "--run", "r",
                                       "--ledger", str(ledger), "-o", "json=/dev/null", preamble=preamble)
    assert rc in (0, 1)
    assert "carbonguard.assess" in loaded
    assert not {m for m in loaded if m.startswith("carbonguard.matching")}
