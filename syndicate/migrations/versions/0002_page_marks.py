"""Source states remember per-page validators (ETag, Last-Modified, content hash).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``source_states.pages``."""
    op.add_column("source_states", sa.Column("pages", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop ``source_states.pages``."""
    with op.batch_alter_table("source_states") as batch:
        batch.drop_column("pages")
