"""The schema check at open reads revisions without Alembic; Alembic must agree with it."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from syndicate.errors import StoreError
from syndicate.store import Store, migrations


def test_head_read_from_the_files_is_alembics_head() -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config())
    assert migrations.head_revision() == script.get_current_head()


def test_graph_read_from_the_files_is_alembics_graph() -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config())
    alembic_graph = {
        rev.revision: frozenset(rev._all_down_revisions) for rev in script.walk_revisions()
    }
    assert migrations.migration_graph() == alembic_graph


def test_two_heads_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    for name, down in (("a1", "None"), ("b2", '"a1"'), ("c3", '"a1"')):
        (versions / f"{name}.py").write_text(
            f'revision: str = "{name}"\ndown_revision: str | None = {down}\n', encoding="utf-8"
        )
    monkeypatch.setattr(migrations, "MIGRATIONS", tmp_path)
    migrations.migration_graph.cache_clear()
    try:
        with pytest.raises(StoreError, match="several heads: b2, c3"):
            migrations.head_revision()
    finally:
        migrations.migration_graph.cache_clear()


def test_current_revision_is_alembics(store_url: str) -> None:
    with Store(store_url) as store:
        store.upgrade()
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            assert (
                migrations.current_revision(conn)
                == MigrationContext.configure(conn).get_current_revision()
            )
            assert migrations.current_revision(conn) == migrations.head_revision()
    finally:
        engine.dispose()


def test_a_database_without_version_table_has_no_revision(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with engine.connect() as conn:
            assert migrations.current_revision(conn) is None
            conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
            assert migrations.current_revision(conn) is None
    finally:
        engine.dispose()
