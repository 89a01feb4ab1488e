"""The scheduler's lease (one active daemon), its run history and what ops paused.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create ``scheduler_lease``, ``job_runs`` and ``paused``."""
    op.create_table(
        "scheduler_lease",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("holder", sa.String(200), nullable=True),
        _ts("acquired_at"),
        _ts("heartbeat_at"),
        _ts("expires_at", nullable=False),
        sa.Column("fence", sa.Integer(), nullable=False),
        _ts("reload_at"),
        sa.PrimaryKeyConstraint("name", name="pk_scheduler_lease"),
    )
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        _ts("due_at", nullable=False),
        _ts("started_at", nullable=False),
        _ts("finished_at"),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("counts", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("runner", sa.String(200), nullable=False),
        sa.Column("fence", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_job_runs"),
        sa.UniqueConstraint("job_id", "due_at", name="uq_job_runs_job_id_due_at"),
    )
    op.create_index("ix_job_runs_started_at", "job_runs", ["started_at"])
    op.create_table(
        "paused",
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        _ts("paused_at", nullable=False),
        sa.PrimaryKeyConstraint("target", name="pk_paused"),
    )


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("paused")
    op.drop_index("ix_job_runs_started_at", table_name="job_runs")
    op.drop_table("job_runs")
    op.drop_table("scheduler_lease")
