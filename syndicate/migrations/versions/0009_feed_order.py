"""Index the order feeds read articles in: coalesce(published, updated, first seen), then seq.

Without it every feed write sorts the whole ``articles`` table (1.5 s of a 1.9 s
write at 100,000 articles). One index serves the combined feed, one the
section feeds, one the per-source feeds. All are expression indexes, which
SQLite and PostgreSQL share.

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-06 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NEWEST = "coalesce(published_at, updated_at, first_seen_at)"


def upgrade() -> None:
    """Create ``ix_articles_newest``, ``ix_articles_section_newest``, ``…_source_newest``."""
    op.create_index("ix_articles_newest", "articles", [sa.text(_NEWEST), "id"])
    for column in ("section_id", "source_id"):
        name = f"ix_articles_{column.removesuffix('_id')}_newest"
        op.create_index(name, "articles", [column, sa.text(_NEWEST), "id"])


def downgrade() -> None:
    """Drop the three feed-order indexes."""
    op.drop_index("ix_articles_source_newest", table_name="articles")
    op.drop_index("ix_articles_section_newest", table_name="articles")
    op.drop_index("ix_articles_newest", table_name="articles")
