"""The store is one package cut by aggregate, and the only place that speaks SQL."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "syndicate"
STORE = PACKAGE / "store"
SQL_LIBRARIES = ("sqlalchemy", "alembic")
# dburl.py asks SQLAlchemy only whether a URL's driver is installed (no SQL).
SQL_ALLOWED = (STORE, PACKAGE / "migrations", PACKAGE / "dburl.py")
PART_LIMIT = 400


def _imported(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (at any depth of the file)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def _allowed(path: Path) -> bool:
    return any(path == place or place in path.parents for place in SQL_ALLOWED)


def test_only_the_store_package_imports_sqlalchemy_or_alembic() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted(PACKAGE.rglob("*.py"))
        if not _allowed(path) and _imported(path) & set(SQL_LIBRARIES)
    ]
    assert offenders == []


def test_the_store_has_one_part_per_aggregate_each_well_under_400_lines() -> None:
    parts = {
        path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in STORE.glob("*.py")
    }
    assert set(parts) == {
        "__init__.py",
        "base.py",
        "tables.py",
        "migrations.py",
        "articles.py",
        "sources.py",
        "audience.py",
        "imports.py",
        "consent.py",
        "editions.py",
        "sends.py",
        "outcomes.py",
        "operator.py",
        "duplicates.py",
        "takedowns.py",
        "transfer.py",
        "lease.py",
        "runs.py",
        "engine.py",
        "metrics.py",
    }
    assert {name: lines for name, lines in parts.items() if lines >= PART_LIMIT} == {}


def test_the_decisions_need_no_database() -> None:
    decide, matching = PACKAGE / "decide.py", PACKAGE / "matching.py"
    assert (_imported(decide) | _imported(matching)) & set(SQL_LIBRARIES) == set()
    assert {name for name in _module_imports(decide) if name.startswith("syndicate")} == {
        "syndicate.model",
        "syndicate.matching",
    }
    assert {name for name in _module_imports(matching) if name.startswith("syndicate")} == set()


def _module_imports(path: Path) -> set[str]:
    """Full dotted names of the modules ``path`` imports from."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module is not None
    }
