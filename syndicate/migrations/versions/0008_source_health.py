"""Source health: a permanent move, backoff until a next due time, retirement on 410 Gone.

Existing sources start healthy: no move, no backoff, not retired.

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-29 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("retired_at", "backoff_seconds", "next_due_at", "moved_from", "location")


def upgrade() -> None:
    """Add ``location``, ``moved_from``, ``next_due_at``, ``backoff_seconds``, ``retired_at``."""
    op.add_column("source_states", sa.Column("location", sa.Text(), nullable=True))
    op.add_column("source_states", sa.Column("moved_from", sa.Text(), nullable=True))
    op.add_column(
        "source_states", sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "source_states",
        sa.Column("backoff_seconds", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "source_states", sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    """Drop the source-health columns."""
    with op.batch_alter_table("source_states") as batch:
        for name in _COLUMNS:
            batch.drop_column(name)
