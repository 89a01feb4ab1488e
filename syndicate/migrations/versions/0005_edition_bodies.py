"""Rendered bodies stored with their edition (one per section set); leases on claimed sends.

A send claimed before this revision has no lease: the next pass takes it for
interrupted (``uncertain``), as the claim-age rule it replaces would have.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``edition_bodies``; add ``sends.lease_owner`` and ``sends.lease_until``."""
    op.create_table(
        "edition_bodies",
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("variant_hash", sa.String(64), nullable=False),
        sa.Column("variant", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["edition_id"], ["editions.id"], name="fk_edition_bodies_edition_id_editions"
        ),
        sa.PrimaryKeyConstraint("edition_id", "variant_hash", name="pk_edition_bodies"),
    )
    op.add_column("sends", sa.Column("lease_owner", sa.String(200), nullable=True))
    op.add_column("sends", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop the leases and the stored bodies."""
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
    op.drop_table("edition_bodies")
