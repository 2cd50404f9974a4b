"""The import contracts (``[tool.importlinter]`` in the root pyproject, run by ``./scripts/check``)
hold for the real tree, and break, naming the contract, when a package crosses a line.

The breaking cases run the real contracts against a small stand-in tree: one module per package
of the workspace, under the same names, put first on the import path, with one forbidden import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pyproject.toml"
LINTER = tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]
NAMES = {contract["id"]: contract["name"] for contract in LINTER["contracts"]}
PACKAGES: list[str] = LINTER["root_packages"]
# The `lint-imports` console script, run by this interpreter so no PATH is needed.
LINT_IMPORTS = "from importlinter.cli import lint_imports_command as c; c()"


def lint_imports(*, cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, str(CONFIG), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def stand_in_tree(directory: Path, importer: str, imported: str) -> Path:
    """Every root package as an empty package, except that ``importer`` imports ``imported``."""
    for package in PACKAGES:
        (directory / package).mkdir()
        (directory / package / "__init__.py").write_text('"""A stand-in."""\n')
    (directory / importer / "wiring.py").write_text(f"import {imported}\n")
    return directory


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in NAMES.values():
        assert f"{name} KEPT" in result.stdout


@pytest.mark.parametrize(
    ("importer", "imported", "contract"),
    [
        ("scim_api", "user_store", "services-independent"),
        ("reconciler", "sso_login", "services-independent"),
        ("roster_shared", "user_store", "shared-imports-no-service"),
        ("roster_shared", "roster_cli", "shared-imports-no-service"),
        ("sso_login", "roster_cli", "cli-only-composer"),
        ("roster_testing", "reconciler", "test-helpers-import-no-service"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, importer: str, imported: str, contract: str
) -> None:
    tree = stand_in_tree(tmp_path, importer, imported)
    result = lint_imports(cwd=tree, pythonpath=tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{NAMES[contract]} BROKEN" in result.stdout
    assert f"{importer}.wiring -> {imported}" in result.stdout
    broken = [name for name in NAMES.values() if f"{name} BROKEN" in result.stdout]
    assert broken == [NAMES[contract]]  # the one line crossed, and only that one


def test_the_cli_may_compose_every_service(tmp_path: Path) -> None:
    tree = stand_in_tree(tmp_path, "roster_cli", "user_store, scim_api, sso_login, reconciler")
    result = lint_imports(cwd=tree, pythonpath=tree)
    assert result.returncode == 0, result.stdout + result.stderr
