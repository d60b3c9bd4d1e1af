"""No module in src/ reaches into another package's private (``_name``) modules or names:
what packages share goes through their ``__init__``. The known offenders are listed below;
the list may only shrink (an entry that no longer occurs fails too, so it gets removed)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

KNOWN: set[tuple[str, str]] = set()  # none left: a new one is an error


def _module_name(path: Path) -> tuple[str, str]:
    """(dotted module name, its package) of a file under src/."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        name = ".".join(parts[:-1])
        return name, name
    name = ".".join(parts)
    return name, name.rsplit(".", 1)[0]


def _is_package(dotted: str) -> bool:
    return (SRC.joinpath(*dotted.split(".")) / "__init__.py").is_file()


def _imported(node: ast.AST, package: str) -> list[str]:
    """Dotted names an import statement reaches: the modules, and module.name for each name."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        return [module] + [f"{module}.{a.name}" for a in node.names]
    return []


def _owner_package(dotted: str) -> str:
    """The package a dotted prefix belongs to (a module's package, or the package itself)."""
    return dotted if _is_package(dotted) else dotted.rsplit(".", 1)[0]


def private_imports() -> set[tuple[str, str]]:
    """(importer, first private dotted name) for every import into another package's privates."""
    found: set[tuple[str, str]] = set()
    for path in sorted((SRC / "orbit360").rglob("*.py")):
        importer, package = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _imported(node, package):
                if not target.startswith("orbit360"):
                    continue
                segments = target.split(".")
                private = next((i for i, s in enumerate(segments) if s.startswith("_") and not s.startswith("__")), None)
                if private is None:
                    continue
                owner = _owner_package(".".join(segments[:private]))
                if package == owner or package.startswith(owner + "."):
                    continue  # its own package's (or an ancestor's) private parts
                found.add((importer, ".".join(segments[: private + 1])))
    return found


def test_the_checker_sees_private_imports() -> None:
    tree = ast.parse("from ..video._concat import concat_segments\nfrom ..video import _convert\nfrom .._files import atomic_output")
    got = [t for node in tree.body for t in _imported(node, "orbit360.pipeline")]
    assert got == [
        "orbit360.video._concat", "orbit360.video._concat.concat_segments", "orbit360.video", "orbit360.video._convert",
        "orbit360._files", "orbit360._files.atomic_output",
    ]
    assert _owner_package("orbit360.stitch.plan") == "orbit360.stitch" and _owner_package("orbit360.video") == "orbit360.video"


def test_no_new_private_imports_across_packages() -> None:
    found = private_imports()
    assert found - KNOWN == set(), "import these through the package's __init__ (re-export them there)"
    assert KNOWN - found == set(), "fixed: remove these from KNOWN"


KNOWN_TEST_IMPORTS: set[tuple[str, str]] = set()


def test_no_test_module_imports_another() -> None:
    """Shared test helpers live in conftest.py (fixtures) or in src/ (the synthetic
    recordings), so tests and benchmarks never import a test module (nor conftest)."""
    root = SRC.parent
    test_modules = {p.stem for p in (root / "tests").glob("*.py")}
    found = set()
    for path in sorted([*(root / "tests").rglob("*.py"), *(root / "bench").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in test_modules or top == "tests":
                    found.add((str(path.relative_to(root)), top))
    assert found - KNOWN_TEST_IMPORTS == set(), "move the shared helper into tests/conftest.py (a fixture) or src/"
    assert KNOWN_TEST_IMPORTS - found == set(), "fixed: remove these from KNOWN_TEST_IMPORTS"
