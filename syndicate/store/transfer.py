"""Moving a store: every row that matters, out as plain records and back in.

:class:`TransferMixin` gives :class:`syndicate.store.Store` ``export_records``
(streamed table by table, parents before children, each row a dict of JSON
values) and ``import_records`` (checked column by column against the tables,
written in batches inside one transaction, so a bad record leaves the store as
it was). Records keep their ids, so editions, sends and public ids survive the
move. Confirmation requests, rate counters and generated secrets are not moved:
they expire within days or are made again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from syndicate.errors import StoreError
from syndicate.store.base import StoreBase, driver_reason
from syndicate.store.tables import (
    UTCDateTime,
    article_sources,
    articles,
    edition_articles,
    edition_bodies,
    editions,
    sends,
    source_states,
    subscribers,
    subscriptions,
    takedowns,
)

TABLES: tuple[sa.Table, ...] = (
    articles, article_sources, takedowns, source_states, subscribers, subscriptions,
    editions, edition_articles, edition_bodies, sends,
)  # fmt: skip
"""What an export holds, parents before the tables that refer to them."""

KINDS: dict[str, sa.Table] = {table.name: table for table in TABLES}
"""Record type (``type`` of a line) -> its table."""
PARENTS = frozenset(fk.column.table.name for table in TABLES for fk in table.foreign_keys)
"""Tables other records refer to: their keys are remembered while importing."""
BATCH = 1000
"""Rows read per fetch and written per statement."""


class BadRecord(StoreError):
    """A record of an import that cannot be stored; the message names its line."""


class Record(NamedTuple):
    """One row of an export: its table (``kind``), its values, and its line in the file."""

    line: int
    kind: str
    values: dict[str, Any]


def _to_json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _key(table: sa.Table, values: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(values[column.name] for column in table.primary_key.columns)


def _parents(table: sa.Table) -> list[tuple[str, sa.Table, str]]:
    """(column, referred table, referred column) of each foreign key of ``table``."""
    return [(fk.parent.name, fk.column.table, fk.column.name) for fk in table.foreign_keys]


def _when(raw: Any) -> datetime:
    if not isinstance(raw, str):
        raise ValueError("expected a date and time such as 2026-11-29T07:00:00+00:00")
    when = datetime.fromisoformat(raw)
    if when.tzinfo is None:
        raise ValueError(f"{raw!r} has no UTC offset")
    return when


def _whole(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValueError(f"expected a whole number, not {raw!r}")
    return raw


def _text(length: int | None) -> Callable[[Any], str]:
    def text(raw: Any) -> str:
        if not isinstance(raw, str):
            raise ValueError(f"expected text, not {raw!r}")
        if length is not None and len(raw) > length:
            raise ValueError(f"longer than {length} characters")
        return raw.replace("\x00", "")

    return text


def _any(raw: Any) -> Any:
    return raw  # JSON columns take any JSON value


class _Column(NamedTuple):
    """How one column's JSON value is checked and converted."""

    name: str
    nullable: bool
    convert: Callable[[Any], Any]


def _columns(table: sa.Table) -> list[_Column]:
    """The checkers of ``table``'s columns, chosen once per table."""
    found: list[_Column] = []
    for column in table.columns:
        kind = column.type
        convert: Callable[[Any], Any] = _any
        if isinstance(kind, UTCDateTime):
            convert = _when
        elif isinstance(kind, sa.Integer):
            convert = _whole
        elif isinstance(kind, sa.String):
            convert = _text(kind.length)
        found.append(_Column(column.name, bool(column.nullable), convert))
    return found


COLUMNS: dict[str, list[_Column]] = {table.name: _columns(table) for table in TABLES}
"""Table name -> how each of its columns is checked."""
NAMES: dict[str, frozenset[str]] = {table.name: frozenset(table.columns.keys()) for table in TABLES}
"""Table name -> its column names."""


def _value(column: _Column, raw: Any) -> Any:
    """``raw`` (a JSON value) as ``column`` stores it; ValueError says what is wrong."""
    if raw is None:
        if not column.nullable:
            raise ValueError("must not be null")
        return None
    return column.convert(raw)


class _Importer:
    """Checks records against the tables and writes them a batch at a time."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.keys: dict[str, dict[tuple[Any, ...], int]] = {name: {} for name in PARENTS}
        self.pending: list[dict[str, Any]] = []
        self.pending_kind = ""
        self.pending_lines = (0, 0)
        self.counts: dict[str, int] = dict.fromkeys(KINDS, 0)

    def add(self, record: Record) -> None:
        table = KINDS.get(record.kind)
        if table is None:
            known = ", ".join(KINDS)
            raise BadRecord(f"line {record.line}: unknown record type {record.kind!r} ({known})")
        values = self._checked(table, record)
        if record.kind != self.pending_kind or len(self.pending) >= BATCH:
            self.flush()
            self.pending_kind = record.kind
            self.pending_lines = (record.line, record.line)
        self.pending.append(values)
        self.pending_lines = (self.pending_lines[0], record.line)
        self.counts[record.kind] += 1

    def _checked(self, table: sa.Table, record: Record) -> dict[str, Any]:
        where = f"line {record.line}: {table.name}"
        unknown = sorted(record.values.keys() - NAMES[table.name])
        if unknown:
            raise BadRecord(f"{where}: no column {unknown[0]!r} in this version's {table.name}")
        values: dict[str, Any] = {}
        for column in COLUMNS[table.name]:
            try:
                values[column.name] = _value(column, record.values.get(column.name))
            except ValueError as exc:
                raise BadRecord(f"{where}.{column.name}: {exc}") from None
        self._check_keys(table, values, where, record.line)
        return values

    def _check_keys(self, table: sa.Table, values: dict[str, Any], where: str, line: int) -> None:
        for column, parent, parent_column in _parents(table):
            value, held = values[column], self.keys.get(parent.name)
            if value is not None and held is not None and (value,) not in held:
                raise BadRecord(
                    f"{where}.{column}: refers to {parent.name} {parent_column} {value!r}, "
                    "which no earlier line holds"
                )
        if table.name not in self.keys:
            return  # the database's own keys refuse a repeated row (see flush)
        key = _key(table, values)
        first = self.keys[table.name].setdefault(key, line)
        if first != line:
            shown = key[0] if len(key) == 1 else key
            raise BadRecord(f"{where}: {shown!r} is already on line {first}")

    def flush(self) -> None:
        if not self.pending:
            return
        try:
            self.conn.execute(KINDS[self.pending_kind].insert(), self.pending)
        except sa.exc.IntegrityError as exc:
            first, last = self.pending_lines
            reason = driver_reason(str(exc.orig))
            where = f"lines {first}-{last}: {self.pending_kind}"
            raise BadRecord(f"{where}: the database refused them: {reason}") from exc
        self.pending = []


def _reset_sequences(conn: sa.Connection) -> None:
    """Make PostgreSQL's id sequences continue after the imported ids."""
    if conn.dialect.name != "postgresql":
        return  # SQLite continues after the highest rowid by itself
    for table in TABLES:
        column = table.c.get("id")
        if column is None or not column.autoincrement:
            continue
        conn.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
            )
        )


class TransferMixin(StoreBase):
    """Export and import of every row that matters (see :data:`TABLES`)."""

    def held_rows(self) -> dict[str, int]:
        """How many rows each exported table holds (only tables holding any)."""
        with self._tx() as conn:
            counts = {
                t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                for t in TABLES
            }
        return {name: count for name, count in counts.items() if count}

    def export_records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every row of :data:`TABLES` as (table name, JSON values), streamed in key order."""
        with self._tx() as conn:
            streaming = conn.execution_options(yield_per=BATCH)
            for table in TABLES:
                query = sa.select(table).order_by(*table.primary_key.columns)
                for row in streaming.execute(query):
                    yield table.name, {k: _to_json(v) for k, v in row._mapping.items()}

    def import_records(self, records: Iterable[Record], *, replace: bool = False) -> dict[str, int]:
        """Store exported records in one transaction; counts per table.

        Refuses a store that holds rows unless ``replace`` (which deletes them
        first, in the same transaction). :class:`BadRecord` names the line of
        the first record that cannot be stored; nothing is stored then.
        """
        with self._tx(write=True) as conn:
            if replace:
                for table in reversed(TABLES):
                    conn.execute(table.delete())
            elif any(conn.execute(sa.select(sa.literal(1)).select_from(t).limit(1)).first()
                     for t in TABLES):  # fmt: skip
                raise StoreError(
                    f"database {self.url} is not empty: import into an empty store, "
                    "or pass --replace to delete what it holds first"
                )
            importer = _Importer(conn)
            for record in records:
                importer.add(record)
            importer.flush()
            _reset_sequences(conn)
        return importer.counts
