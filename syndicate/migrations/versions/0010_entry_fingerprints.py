"""Remember the fingerprints of each source's last read, to skip the entries it repeats.

Existing sources start with none: their next read decides every entry as before.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``source_states.entries`` (a JSON list of fingerprints)."""
    op.add_column("source_states", sa.Column("entries", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop ``source_states.entries``."""
    with op.batch_alter_table("source_states") as batch:
        batch.drop_column("entries")
