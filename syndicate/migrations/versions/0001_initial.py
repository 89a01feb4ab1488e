"""Initial schema: articles, source states, subscribers, subscriptions, editions, sends.

Revision ID: 0001
Revises:
Create Date: 2025-11-28 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    """A UTC timestamp column: timestamptz on PostgreSQL, naive UTC DATETIME on SQLite."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _create_articles() -> None:
    op.create_table(
        "articles",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("guid", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("public_id", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("section_id", sa.String(200), nullable=False),
        sa.Column("summary_html", sa.Text(), nullable=False),
        sa.Column("content_html", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("image_url", sa.Text(), nullable=False),
        _ts("published_at"),
        _ts("updated_at"),
        _ts("first_seen_at", nullable=False),
        _ts("changed_at", nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.UniqueConstraint("source_id", "key_hash", name="uq_articles_source_id_key_hash"),
        sa.UniqueConstraint("public_id", name="uq_articles_public_id"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_articles_section_id_published_at", "articles", ["section_id", "published_at"]
    )
    op.create_index("ix_articles_first_seen_at", "articles", ["first_seen_at"])


def _create_source_states() -> None:
    op.create_table(
        "source_states",
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("etag", sa.Text()),
        sa.Column("last_modified", sa.Text()),
        _ts("last_checked_at"),
        _ts("last_success_at"),
        sa.Column("last_error", sa.Text()),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source_id", name="pk_source_states"),
    )


def _create_subscribers() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscribers"),
        sa.UniqueConstraint("email", name="uq_subscribers_email"),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("digest_id", sa.String(200), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        _ts("consent_at"),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name="fk_subscriptions_subscriber_id_subscribers",
        ),
        sa.UniqueConstraint(
            "subscriber_id", "digest_id", name="uq_subscriptions_subscriber_id_digest_id"
        ),
        sa.UniqueConstraint("token", name="uq_subscriptions_token"),
    )
    op.create_index(
        "ix_subscriptions_digest_id_status", "subscriptions", ["digest_id", "status"]
    )


def _create_editions() -> None:
    op.create_table(
        "editions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("digest_id", sa.String(200), nullable=False),
        _ts("slot", nullable=False),
        sa.Column("cutoff_seq", sa.Integer(), nullable=False),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_editions"),
        sa.UniqueConstraint("digest_id", "slot", name="uq_editions_digest_id_slot"),
    )
    op.create_table(
        "edition_articles",
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("edition_id", "article_id", name="pk_edition_articles"),
        sa.ForeignKeyConstraint(
            ["edition_id"], ["editions.id"], name="fk_edition_articles_edition_id_editions"
        ),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name="fk_edition_articles_article_id_articles"
        ),
    )


def _create_sends() -> None:
    op.create_table(
        "sends",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("message_id", sa.Text()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        _ts("sent_at"),
        sa.PrimaryKeyConstraint("id", name="pk_sends"),
        sa.ForeignKeyConstraint(
            ["edition_id"], ["editions.id"], name="fk_sends_edition_id_editions"
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["subscribers.id"], name="fk_sends_subscriber_id_subscribers"
        ),
        sa.UniqueConstraint(
            "edition_id", "subscriber_id", name="uq_sends_edition_id_subscriber_id"
        ),
    )


def upgrade() -> None:
    """Create every table of the initial schema."""
    _create_articles()
    _create_source_states()
    _create_subscribers()
    _create_editions()
    _create_sends()


def downgrade() -> None:
    """Drop every table of the initial schema."""
    for table in (
        "sends",
        "edition_articles",
        "editions",
        "subscriptions",
        "subscribers",
        "source_states",
        "articles",
    ):
        op.drop_table(table)
