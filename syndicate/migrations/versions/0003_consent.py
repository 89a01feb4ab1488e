"""Subscribing on the web: consent method and pauses on subscriptions, confirmations,
rate counters and generated secrets.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    """A UTC timestamp column: timestamptz on PostgreSQL, naive UTC DATETIME on SQLite."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _create_confirmations() -> None:
    op.create_table(
        "confirmations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("digest_id", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        _ts("created_at", nullable=False),
        _ts("expires_at", nullable=False),
        _ts("used_at"),
        sa.PrimaryKeyConstraint("id", name="pk_confirmations"),
        sa.UniqueConstraint("token_hash", name="uq_confirmations_token_hash"),
    )
    op.create_index(
        "ix_confirmations_email_created_at", "confirmations", ["email", "created_at"]
    )


def upgrade() -> None:
    """Add the consent and pause columns and the confirmations, rate_counts, secrets tables."""
    op.add_column("subscriptions", sa.Column("consent_method", sa.String(40), nullable=True))
    op.add_column("subscriptions", _ts("paused_until"))
    _create_confirmations()
    op.create_table(
        "rate_counts",
        sa.Column("key", sa.String(100), nullable=False),
        _ts("window_start", nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name="pk_rate_counts"),
    )
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_secrets"),
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` added."""
    op.drop_table("secrets")
    op.drop_table("rate_counts")
    op.drop_index("ix_confirmations_email_created_at", table_name="confirmations")
    op.drop_table("confirmations")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("paused_until")
        batch.drop_column("consent_method")
