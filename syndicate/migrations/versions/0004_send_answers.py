"""Sends remember when a deferred one is tried again; send states named by what they mean.

``failed_temporary`` becomes ``deferred`` and ``failed_permanent`` becomes
``failed``; ``bounced`` and ``uncertain`` are new values of the same column.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RENAMED = {"failed_temporary": "deferred", "failed_permanent": "failed"}


def _rename(pairs: dict[str, str]) -> None:
    sends = sa.table("sends", sa.column("status", sa.String(20)))
    for old, new in pairs.items():
        op.execute(sends.update().where(sends.c.status == old).values(status=new))


def upgrade() -> None:
    """Add ``sends.next_attempt_at``; rename the stored failure states."""
    op.add_column("sends", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    _rename(RENAMED)


def downgrade() -> None:
    """Drop ``sends.next_attempt_at``; old names back (bounced -> failed_permanent,
    uncertain -> sending, which the old code never retries)."""
    back = {new: old for old, new in RENAMED.items()}
    _rename({**back, "bounced": "failed_permanent", "uncertain": "sending"})
    subscriptions = sa.table("subscriptions", sa.column("status", sa.String(20)))
    bounced = subscriptions.c.status == "bounced"
    op.execute(subscriptions.update().where(bounced).values(status="unsubscribed"))
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("next_attempt_at")
