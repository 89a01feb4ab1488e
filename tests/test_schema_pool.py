"""The test suite's PostgreSQL schema pool: a reused schema is as good as a fresh one."""

from __future__ import annotations

import sqlalchemy as sa

from syndicate.store import Store
from tests.conftest import SchemaPool


def test_a_schema_given_back_comes_back_empty_and_a_changed_one_is_dropped(
    schema_pool: SchemaPool,
) -> None:
    schema = schema_pool.take()
    with Store(schema_pool.url(schema)) as store:
        assert store.current_revision() == store.head_revision()
        first = store.upsert_subscriber("kim@example.kr")
    schema_pool.give_back(schema)
    assert schema_pool.take() == schema  # the one just handed back
    with Store(schema_pool.url(schema)) as store:
        assert store.list_subscribers() == []
        assert store.upsert_subscriber("lee@example.kr").id == first.id  # identities restart
        assert store.current_revision() == store.head_revision()
    with schema_pool.admin.begin() as conn:
        conn.exec_driver_sql(f'ALTER TABLE "{schema}".subscribers ADD COLUMN extra integer')
    schema_pool.give_back(schema)
    assert schema not in schema_pool.free
    with schema_pool.admin.connect() as conn:
        found = conn.execute(
            sa.text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": schema}
        ).scalar_one()
    assert found == 0
