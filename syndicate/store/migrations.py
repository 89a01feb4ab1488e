"""Migrations glue: Alembic upgrade, revisions and ``alembic check`` for the store.

:class:`SchemaMixin` gives :class:`syndicate.store.Store` its schema methods;
Alembic errors leave as :class:`~syndicate.errors.StoreError`.

Opening a store only compares the database's ``alembic_version`` row with the
head revision read from the migration files (:func:`migration_graph`), so the
everyday commands never import Alembic; it is loaded for upgrades and checks.
"""

from __future__ import annotations

import functools
import logging
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from syndicate.errors import SchemaOutOfDate, StoreError
from syndicate.store.base import StoreBase, driver_reason
from syndicate.store.engine import LONG_OPTION
from syndicate.store.tables import metadata

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
VERSION_TABLE = "alembic_version"
_REVISION = re.compile(r"^revision\b[^=]*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\b[^=]*=(.*)$", re.MULTILINE)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


def describe_diff(diff: Any) -> str:
    """One readable line for an Alembic autogenerate difference."""
    if isinstance(diff, list):
        return "; ".join(describe_diff(item) for item in diff)
    op, *rest = diff
    if op.startswith("modify_"):
        _schema, table, column, _info, old, new = rest
        return f"{op} {table}.{column}: database has {old!r}, models want {new!r}"
    target = rest[0]
    name = getattr(target, "name", None) or repr(target)
    table = getattr(getattr(target, "table", None), "name", None)
    return f"{op} {table}.{name}" if table and table != name else f"{op} {name}"


def alembic_config(conn: sa.Connection | None = None) -> AlembicConfig:
    """An Alembic configuration for the packaged migrations, sharing ``conn`` if given."""
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


@functools.cache
def migration_graph() -> dict[str, frozenset[str]]:
    """Each migration revision with the revisions it follows, read from the version files.

    Reads the ``revision`` and ``down_revision`` assignments as text, as Alembic's
    own file headers state them; a test holds this equal to Alembic's script directory.
    """
    graph: dict[str, frozenset[str]] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(text), _DOWN.search(text)
        if revision is None or down is None:
            continue
        graph[revision.group(1)] = frozenset(_QUOTED.findall(down.group(1)))
    return graph


def head_revision() -> str | None:
    """The newest migration revision, None when there are no migrations."""
    graph = migration_graph()
    followed = set().union(*graph.values()) if graph else set()
    heads = sorted(set(graph) - followed)
    if len(heads) > 1:
        raise StoreError(f"migrations in {MIGRATIONS} have several heads: {', '.join(heads)}")
    return heads[0] if heads else None


def known_revisions() -> set[str]:
    """Every migration revision this version knows."""
    return set(migration_graph())


def current_revision(conn: sa.Connection) -> str | None:
    """The revision recorded in the database, None when never migrated."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        raise StoreError(f"{VERSION_TABLE} holds several revisions: {', '.join(sorted(rows))}")
    return rows[0] if rows else None


def upgrade_to_head(conn: sa.Connection) -> None:
    """Run every pending migration on ``conn`` (inside the caller's transaction)."""
    from alembic import command

    command.upgrade(alembic_config(conn), "head")


def differences(conn: sa.Connection) -> list[str]:
    """One line per difference between the database and :data:`metadata`.

    SQLite cannot describe expression indexes (the feed-order ones): they are
    left out of the comparison there, without a warning.
    """
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(conn, opts={"compare_type": True})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression")
        return [describe_diff(diff) for diff in compare_metadata(context, metadata)]


class SchemaMixin(StoreBase):
    """Schema upgrade, revisions and checks of the store."""

    def _make_folder(self) -> None:
        if self._sqlite_path is None:
            return
        try:
            self._sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"database {self.url}: cannot create folder: {exc}") from exc

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (``alembic upgrade head``)."""
        from alembic.util import CommandError

        self._make_folder()
        with self._tx(write=True) as conn:
            if self.dialect == "postgresql":  # a migration may take longer than any query
                conn.execution_options(**{LONG_OPTION: True})
                conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            before = current_revision(conn)
            try:
                upgrade_to_head(conn)
            except CommandError as exc:
                raise StoreError(f"database {self.url}: {driver_reason(str(exc))}") from exc
        head = self.head_revision()
        if before != head:
            logger.info("upgraded %s from revision %s to %s", self.url, before, head)

    def current_revision(self) -> str | None:
        """The migration revision the database is at; ``None`` when never migrated."""
        if self._sqlite_path is not None and not self._sqlite_path.exists():
            return None  # not created yet: do not create the file (or fail on its folder)
        with self._tx() as conn:
            return current_revision(conn)

    def head_revision(self) -> str:
        """The newest migration revision this version of syndicate knows."""
        head = head_revision()
        if head is None:
            raise StoreError(f"no migrations found in {MIGRATIONS}")
        return head

    def _has_tables(self) -> bool:
        with self._tx() as conn:
            existing = set(sa.inspect(conn).get_table_names())
        return bool(existing & set(metadata.tables))

    def ensure_current(self) -> None:
        """Create the schema in an empty database, else insist it is at the head revision."""
        self._make_folder()
        current, head = self.current_revision(), self.head_revision()
        if current == head:
            return
        if current is None:
            if self._has_tables():
                raise StoreError(
                    f"database {self.url} has syndicate tables but no schema revision: "
                    "restore it or start from an empty database"
                )
            self.upgrade()
            return
        if current not in known_revisions():
            raise SchemaOutOfDate(
                f"database {self.url} is at revision {current}, unknown to this syndicate "
                f"(which needs {head}): use the syndicate version that migrated it"
            )
        raise SchemaOutOfDate(
            f"database {self.url} is at revision {current}, this syndicate needs {head}: "
            "run `syndicate db upgrade`"
        )

    def integrity_problems(self) -> list[str]:
        """SQLite's ``PRAGMA quick_check`` as one line (empty when it says ok); none elsewhere."""
        if self.dialect != "sqlite":
            return []
        try:
            with self._tx() as conn:
                lines = [str(row[0]) for row in conn.exec_driver_sql("PRAGMA quick_check")]
        except StoreError as exc:  # pages so damaged that the check itself stops
            lines = [driver_reason(str(getattr(exc.__cause__, "orig", exc)))]
        if lines == ["ok"]:
            return []
        more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
        return [f"database {self.url} is damaged: quick_check: {lines[0]}{more}"]

    def check_problems(self) -> list[str]:
        """Everything ``db check`` verifies, one line per problem (empty: all is well).

        The database answers, its pages are intact (SQLite), its revision is the
        head and its tables match the models. A missing SQLite file is not created.
        """
        if self._sqlite_path is not None and not self._sqlite_path.is_file():
            return [f"database {self.url}: no database file at {self._sqlite_path}"]
        try:
            self.ping()
            problems = self.integrity_problems()
            current, head = self.current_revision(), self.head_revision()
            if current != head:
                return [*problems, f"database {self.url} is at revision {current}, head is {head}"]
            return problems + self.schema_differences()
        except StoreError as exc:
            return [str(exc)]

    def schema_differences(self) -> list[str]:
        """Differences between the database and the table definitions (``alembic check``)."""
        head = self.head_revision()
        with self._tx() as conn:
            current = current_revision(conn)
            lines = differences(conn)
        if current != head:
            lines.insert(0, f"database is at revision {current}, head is {head}")
        return lines
