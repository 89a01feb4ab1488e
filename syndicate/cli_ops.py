"""Operator commands: ``sends``, ``sends resend`` and ``editions``, and the bodies of
``digest --preview`` and ``digest --to``.

Registered on the ``syndicate`` group by :mod:`syndicate.cli`. Stages are
imported inside the commands, so ``--help`` loads none of them.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from syndicate.cli_base import EXIT_PARTIAL, Context, errors_to_exit, pass_ctx

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from syndicate.config import Config
    from syndicate.store import EditionCounts

# Spelled out so that `--help` loads no domain model; tests/test_ops.py holds them
# equal to SendState's values.
SEND_STATES = ("sending", "sent", "deferred", "failed", "bounced", "uncertain")
COUNTED = ("sent", "deferred", "bounced", "failed", "uncertain")
"""The send states ``editions`` counts, in its column order."""


def _slot(ctx: Context, text: str | None) -> datetime | None:
    from syndicate.ops import parse_slot

    return None if text is None else parse_slot(ctx.config, text)


def preview_command(
    ctx: Context, digest_id: str, address: str, slot: str | None, output: Path
) -> None:
    """``digest ID --preview ADDRESS``: write the message, print its path."""
    from syndicate.ops import preview

    path = preview(ctx.config, ctx.store(), digest_id, address, output, slot=_slot(ctx, slot))
    click.echo(str(path))


def test_copy_command(ctx: Context, digest_id: str, address: str, slot: str | None) -> None:
    """``digest ID --to ADDRESS``: send a test copy, say where it went."""
    from syndicate.deliveries import delivery_kind
    from syndicate.mail import header_text
    from syndicate.ops import send_test

    message = send_test(ctx.config, ctx.store(), digest_id, address, slot=_slot(ctx, slot))
    delivery = ctx.config.digest(digest_id).delivery
    folder = delivery_kind(delivery).output(ctx.config, delivery)
    where = f" (written to {folder})" if folder is not None else ""
    subject = header_text(str(message["Subject"]))
    click.echo(f"test copy of {digest_id} sent to {address}: {subject}{where}")


class _SendsGroup(click.Group):
    """``sends EDITION`` lists (the ``list`` subcommand); ``sends resend ...`` resends."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Read a first argument that names no subcommand as ``list``'s EDITION."""
        first = next((a for a in args if not a.startswith("-")), None)
        if first is not None and first not in self.commands:
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_SendsGroup)
def sends() -> None:
    """List the sends of an edition, or send one again.

    EDITION is the edition's id (see `syndicate editions`) or its digest and
    archive key, DIGEST/YYYY-MM-DD-HHMM in the configured timezone.

    \b
    Example:
        syndicate sends morning/2026-11-29-0700
        syndicate sends 42 --state deferred
        syndicate sends resend morning/2026-11-29-0700 kim@example.kr
    """


@sends.command("list")
@click.argument("edition_text", metavar="EDITION")
@click.option("--state", type=click.Choice(SEND_STATES), help="Only sends in this state.")
@pass_ctx
def sends_list(ctx: Context, edition_text: str, state: str | None) -> None:
    """List the sends of EDITION, tab-separated, by address.

    Columns: address, state, attempts, last change (local time), last error.

    \b
    Example:
        syndicate sends morning/2026-11-29-0700
        syndicate sends list 42 --state failed | cut -f1
    """
    from syndicate.ops import find_edition

    with errors_to_exit(ctx):
        edition = find_edition(ctx.config, ctx.store(), edition_text)
        from syndicate.model import SendState

        chosen = None if state is None else SendState(state)
        for entry in ctx.store().list_sends(edition.id, chosen):
            when = entry.updated_at.astimezone(ctx.config.timezone).isoformat(timespec="seconds")
            click.echo(
                f"{entry.email}\t{entry.state.value}\t{entry.attempts}\t{when}\t{entry.error or ''}"
            )


@sends.command("resend")
@click.argument("edition_text", metavar="EDITION")
@click.argument("address")
@pass_ctx
def sends_resend(ctx: Context, edition_text: str, address: str) -> None:
    """Send EDITION to ADDRESS once more: a new attempt with the same Message-ID.

    The send is recorded as any other (sent, deferred, bounced, failed,
    uncertain). Exit code 3 when the message did not go out.

    \b
    Example:
        syndicate sends resend morning/2026-11-29-0700 kim@example.kr
    """
    from syndicate.errors import DeliveryError
    from syndicate.ops import edition_label, find_edition, resend

    with errors_to_exit(ctx):
        edition = find_edition(ctx.config, ctx.store(), edition_text)
        label = edition_label(ctx.config, edition)
        try:
            attempt, message_id = resend(ctx.config, ctx.store(), edition, address)
        except DeliveryError as exc:
            click.echo(f"error: {label}: {exc} ({exc.state.value})", err=True)
            sys.exit(EXIT_PARTIAL)
        click.echo(f"{label}: sent to {address} again (attempt {attempt}, {message_id})")


@click.command()
@click.argument("digest_id", required=False, metavar="[DIGEST]")
@pass_ctx
def editions(ctx: Context, digest_id: str | None) -> None:
    """List editions (of DIGEST, or every digest), newest first, with their send counts.

    Columns: id, DIGEST/YYYY-MM-DD-HHMM (give either to `syndicate sends`),
    articles, sent, deferred, bounced, failed, uncertain.

    \b
    Example:
        syndicate editions
        syndicate editions morning
    """
    with errors_to_exit(ctx):
        if digest_id is not None:
            _known_digest(ctx.config, digest_id)
        chosen = None if digest_id is None else [digest_id]
        click.echo("id\tedition\tarticles\t" + "\t".join(COUNTED))
        for entry in ctx.store().edition_counts(chosen):
            click.echo(_edition_line(ctx.config, entry))


def _known_digest(config: Config, digest_id: str) -> None:
    from syndicate.digest import digest_config

    digest_config(config, digest_id)  # one line naming the known digests


def _edition_line(config: Config, entry: EditionCounts) -> str:
    from syndicate.digest import edition_key

    key = f"{entry.digest_id}/{edition_key(entry.slot, config.timezone)}"
    from syndicate.model import SendState

    counts = "\t".join(str(entry.sends.get(SendState(state), 0)) for state in COUNTED)
    return f"{entry.edition_id}\t{key}\t{entry.article_count}\t{counts}"
