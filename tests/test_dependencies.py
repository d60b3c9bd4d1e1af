"""Runtime dependencies are exactly what src/ imports; test and bench tools stay in extras."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "orbit360"


def _name(requirement: str) -> str:
    """The distribution name of a PEP 508 requirement, normalised (``dask[distributed]>=1`` -> ``dask``)."""
    for stop in "[<>=!~; ":
        requirement = requirement.split(stop, 1)[0]
    return requirement.strip().lower().replace("_", "-")


def _provided(requirements: list[str]) -> set[str]:
    """Distributions the requirements install: each name, and for ``dask[distributed]`` the
    extra's own distribution (``distributed``), as dask names its extras."""
    out = set()
    for r in requirements:
        out.add(_name(r))
        if "[" in r:
            out.update(_name(e) for e in r.split("[", 1)[1].split("]", 1)[0].split(","))
    return out


def _third_party_imports(folder: Path) -> set[str]:
    """Top-level modules imported in ``folder``, less the standard library and the folder's own modules."""
    local = {p.stem for p in folder.rglob("*.py")} | {p.name for p in folder.rglob("*") if p.is_dir()}
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in local and n != "orbit360"}


def _distributions(modules: set[str]) -> set[str]:
    owners = packages_distributions()
    missing = sorted(m for m in modules if m not in owners)
    if missing:
        pytest.fail(f"imported but not installed: {missing}")
    return {_name(d) for m in modules for d in owners[m]}


def test_runtime_dependencies_are_what_src_imports() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _provided(project["dependencies"])
    optional = _provided(project["optional-dependencies"]["dask"])
    imported = _distributions(_third_party_imports(SRC))
    assert imported - runtime - optional == set(), "src/ imports a package that is not a dependency"
    assert runtime - imported == set(), "a runtime dependency that src/ never imports"


def test_extras_cover_tests_and_benchmarks() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _provided(project["dependencies"])
    for folder, extra in (("tests", "test"), ("bench", "bench")):
        imported = _distributions(_third_party_imports(ROOT / folder))
        uncovered = imported - runtime - _provided(project["optional-dependencies"][extra])
        assert uncovered == set(), f"{folder}/ imports {sorted(uncovered)} outside the runtime and [{extra}] dependencies"
