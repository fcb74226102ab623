"""The module table of docs/design.md is the law: each module imports only what its row allows.

Two checks. Statically, every `carbonguard.X` import in a package's files (also those inside
functions, which a runtime check would miss) must name a package in the row's "may import" column.
At run time, in a fresh interpreter, importing each pure module must not pull in I/O libraries.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "carbonguard"


def design_table() -> dict[str, set[str]]:
    """{unit: allowed carbonguard units} from the table in docs/design.md."""
    rows: dict[str, set[str]] = {}
    for line in (REPO / "docs" / "design.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        unit = cells[0].strip("`").removesuffix("/").removesuffix(".py")
        rows[unit] = set(re.findall(r"`([a-z_]+)`", cells[2]))
    return rows


def _unit_of(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def carbonguard_imports(package: Path = PACKAGE) -> dict[str, dict[str, set[str]]]:
    """{unit: {imported unit: files}} for every import of another carbonguard unit."""
    found: dict[str, dict[str, set[str]]] = {}
    for path in package.rglob("*.py"):
        unit = _unit_of(path, package)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "carbonguard" and len(parts) > 1 and parts[1] != unit:
                    found.setdefault(unit, {}).setdefault(parts[1], set()).add(path.name)
    return found


def violations(table: dict[str, set[str]], imports: dict[str, dict[str, set[str]]]) -> list[str]:
    return [
        f"{unit} imports {dep} ({', '.join(sorted(files))})"
        for unit, deps in imports.items() if unit in table
        for dep, files in deps.items() if dep not in table[unit]
    ]


def test_every_unit_has_a_row() -> None:
    table = design_table()
    units = {_unit_of(p) for p in PACKAGE.rglob("*.py")} - {"__init__", "__main__"}
    assert units <= set(table), f"units missing from docs/design.md: {sorted(units - set(table))}"


def test_imports_follow_the_design_table() -> None:
    found = violations(design_table(), carbonguard_imports())
    assert not found, "imports not allowed by docs/design.md:\n" + "\n".join(found)


def test_the_check_catches_a_lazy_forbidden_import(tmp_path) -> None:
    """Guard the guard: a gate that imported the ledger inside a function must be reported."""
    package = tmp_path / "carbonguard"
    package.mkdir()
    (package / "gate.py").write_text("def f():\n    from carbonguard.ledger import open_ledger\n")
    assert violations(design_table(), carbonguard_imports(package)) == ["gate imports ledger (gate.py)"]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sorted(sys.modules)))"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout
    return set(out.split())


PURE = ("carbonguard.rules", "carbonguard.models", "carbonguard.accounting", "carbonguard.gate",
        "carbonguard.pipeline", "carbonguard.formats.text", "carbonguard.formats.markdown",
        "carbonguard.formats.json_format")


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_load_no_io_library(module: str) -> None:
    loaded = _modules_after(f"import {module}")
    for forbidden in ("prefect", "httpx", "sqlite3", "psycopg", "pynvml", "carbonguard.ledger"):
        assert forbidden not in loaded, f"{module} pulls in {forbidden}"


def test_rule_catalogue_and_format_registry_are_light() -> None:
    """The CLI reads both while building its parser: neither may load pydantic."""
    loaded = _modules_after("import carbonguard.rules, carbonguard.formats.registry, carbonguard.cli.output")
    assert "pydantic" not in loaded


def test_offline_commands_do_not_load_httpx() -> None:
    """The embedded source needs no network: httpx (and rich, which it pulls in) stays unloaded."""
    loaded = _modules_after(
        "from carbonguard.cli.main import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['intensity', 'DE', '--at', '2026-03-02T10:00Z'])"
    )
    assert "httpx" not in loaded and "carbonguard.scheduling.models" not in loaded
