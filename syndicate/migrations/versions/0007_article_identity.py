"""Articles matched across sources (URL and title keys, ``article_sources``) and takedowns.

Stored public ids are kept as they are: only articles stored after this revision
get ids minted from the configured ``id_date``. The URL and title keys of stored
articles are computed here with the default matching lists, so a story stored
earlier is recognised when another source gives it again.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-03 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from syndicate.matching import title_key, url_key

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
"""Articles keyed per statement while migrating."""


def upgrade() -> None:
    """Add the matching keys and ``hidden_at`` to ``articles``; create the two new tables."""
    op.add_column("articles", sa.Column("url_key", sa.String(64), nullable=True))
    op.add_column("articles", sa.Column("title_key", sa.String(64), nullable=True))
    op.add_column("articles", sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_articles_url_key", "articles", ["url_key"])
    op.create_index("ix_articles_title_key", "articles", ["title_key"])
    op.create_table(
        "article_sources",
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("guid", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name="fk_article_sources_article_id_articles"
        ),
        sa.PrimaryKeyConstraint("source_id", "key_hash", name="pk_article_sources"),
    )
    op.create_index("ix_article_sources_article_id", "article_sources", ["article_id"])
    op.create_table(
        "takedowns",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name="fk_takedowns_article_id_articles"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_takedowns"),
    )
    op.create_index("ix_takedowns_article_id", "takedowns", ["article_id"])
    _fill_keys()


def _fill_keys() -> None:
    """Compute the URL and title keys of the stored articles, a batch at a time."""
    table = sa.table(
        "articles",
        sa.column("id", sa.Integer),
        sa.column("url", sa.Text),
        sa.column("title", sa.Text),
        sa.column("url_key", sa.String),
        sa.column("title_key", sa.String),
    )
    conn = op.get_bind()
    last = 0
    while True:
        query = (
            sa.select(table.c.id, table.c.url, table.c.title)
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(BATCH)
        )
        rows = conn.execute(query).all()
        if not rows:
            return
        update = (
            table.update()
            .where(table.c.id == sa.bindparam("row_id"))
            .values(url_key=sa.bindparam("u"), title_key=sa.bindparam("t"))
        )
        conn.execute(
            update, [{"row_id": r.id, "u": url_key(r.url), "t": title_key(r.title)} for r in rows]
        )
        last = rows[-1].id


def downgrade() -> None:
    """Drop the takedowns, the further sources and the new article columns."""
    op.drop_table("takedowns")
    op.drop_table("article_sources")
    op.drop_index("ix_articles_title_key", table_name="articles")
    op.drop_index("ix_articles_url_key", table_name="articles")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("hidden_at")
        batch.drop_column("title_key")
        batch.drop_column("url_key")
