"""The ``digest`` command: build and send an edition, resume one, preview or test-copy it.

Registered on the ``syndicate`` group by :mod:`syndicate.cli`. Stages are
imported inside the command, so ``--help`` loads none of them.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from syndicate import cli_ops
from syndicate.cli_base import EXIT_PARTIAL, Context, errors_to_exit, pass_ctx
from syndicate.errors import EditionNotDue

if TYPE_CHECKING:
    from pathlib import Path

    from syndicate import pipeline
    from syndicate.config import Config


@click.command()
@click.argument("digest_id")
@click.option(
    "--resume",
    is_flag=True,
    help="Only send what earlier editions still owe; build no new edition.",
)
@click.option(
    "--preview",
    "preview_to",
    metavar="ADDRESS",
    help="Write this subscriber's next message to a file; record nothing.",
)
@click.option(
    "--to", "test_to", metavar="ADDRESS", help="Send a test copy of the next message here."
)
@click.option(
    "--slot",
    metavar="TIME",
    help="With --preview/--to: this slot (2026-11-29-0700 or ISO 8601) instead of the next.",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Folder for --preview's file.",
)
@pass_ctx
def digest(
    ctx: Context,
    digest_id: str,
    *,
    resume: bool,
    preview_to: str | None,
    test_to: str | None,
    slot: str | None,
    output: str,
) -> None:
    """Build and send the edition of DIGEST_ID's latest due slot.

    Running it again for the same slot sends nothing twice. With --resume: send
    what the digest's unfinished editions owe now (deferred sends whose next try
    is due, uncertain ones under `uncertain: resend`, never attempted ones), as
    the scheduler does at start and after each collect.

    SIGTERM stops sending at the next batch boundary (the rest waits for --resume).
    Exit code 3 when this run failed sends, left sends deferred (also those
    waiting for their next try) or uncertain, or stopped sending early;
    bounced addresses alone are normal and exit 0. An edition is not built in
    the digest's quiet hours (it waits) nor past its grace (it is skipped); both
    say so and exit 0.

    With --preview ADDRESS: write that subscriber's next message (the stored
    edition of the slot, else a draft) to an .eml file and print its path;
    nothing is recorded. With --to ADDRESS: send a test copy (subject
    "[테스트] ...", header X-Syndicate-Test) through the digest's delivery;
    nothing is recorded either.

    \b
    Example:
        syndicate digest morning
        syndicate digest morning --resume
        syndicate digest morning --preview kim@example.kr --output /tmp
        syndicate digest morning --to desk@news.example.kr --slot 2026-11-29-0700
    """
    import signal
    from pathlib import Path

    from syndicate import pipeline

    previous = signal.signal(signal.SIGTERM, lambda signum, frame: pipeline.request_stop())
    try:
        _digest(
            ctx, digest_id,
            resume=resume, preview_to=preview_to, test_to=test_to, slot=slot, output=Path(output),
        )  # fmt: skip
    finally:
        signal.signal(signal.SIGTERM, previous)


def _digest(
    ctx: Context,
    digest_id: str,
    *,
    resume: bool,
    preview_to: str | None,
    test_to: str | None,
    slot: str | None,
    output: Path,
) -> None:
    from syndicate import pipeline

    with errors_to_exit(ctx):
        try:
            ctx.config.digest(digest_id)
        except KeyError:
            known = ", ".join(d.id for d in ctx.config.digests) or "none configured"
            raise click.BadParameter(
                f"unknown digest {digest_id!r} (known: {known})", param_hint="DIGEST_ID"
            ) from None
        _one_mode(resume, preview_to, test_to, slot)
        if preview_to is not None:
            return cli_ops.preview_command(ctx, digest_id, preview_to, slot, output)
        if test_to is not None:
            return cli_ops.test_copy_command(ctx, digest_id, test_to, slot)
        if resume:
            runs = pipeline.resume_digest(ctx.config, ctx.store(), digest_id)
            if not runs:
                click.echo(f"digest {digest_id}: nothing to resume")
        else:
            try:
                runs = [pipeline.run_digest(ctx.config, ctx.store(), digest_id)]
            except EditionNotDue as exc:
                click.echo(str(exc))  # quiet hours or a slot past its grace: not a failure
                return
        for run in runs:
            print_digest(ctx.config, run)
        if any(run.unfinished for run in runs):
            sys.exit(EXIT_PARTIAL)


def _one_mode(resume: bool, preview_to: str | None, test_to: str | None, slot: str | None) -> None:
    """Refuse options that do not go together (a usage error, exit code 2)."""
    modes = [
        name
        for name, on in (("--resume", resume), ("--preview", preview_to), ("--to", test_to))
        if on
    ]
    if len(modes) > 1:
        raise click.UsageError(f"{modes[0]} and {modes[1]} cannot be used together")
    if slot is not None and not (preview_to or test_to):
        raise click.UsageError("--slot only goes with --preview or --to")


def print_digest(config: Config, run: pipeline.DigestRun) -> None:
    slot = run.edition.slot.astimezone(config.timezone).strftime("%Y-%m-%d %H:%M %Z")
    state = "new edition" if run.created else "existing edition"
    stopped = "; stopped early, the rest waits for the next run" if run.stopped else ""
    click.echo(
        f"digest {run.digest_id} {slot} ({state}, {len(run.edition.articles)} articles): "
        f"{run.sent} sent, {run.deferred} deferred, {len(run.bounced)} bounced, "
        f"{len(run.failed)} failed, {run.uncertain} uncertain; {run.empty} with nothing new, "
        f"{run.already_sent} already sent, {run.failed_earlier} failed earlier, "
        f"{run.waiting} waiting to retry"
        + (f", {run.paused} paused" if run.paused else "")
        + stopped
    )
    _print_leftovers(run)
    from syndicate.deliveries import delivery_kind

    delivery = config.digest(run.digest_id).delivery
    folder = delivery_kind(delivery).output(config, delivery)
    if folder is not None and run.sent:
        click.echo(f"  e-mails written to {folder}")


def _print_leftovers(run: pipeline.DigestRun) -> None:
    """What earlier runs left and this one will not touch, then each refused address."""
    if run.uncertain_earlier:
        click.echo(
            f"  {run.uncertain_earlier} sends are uncertain and not resent (uncertain: skip)",
            err=True,
        )
    if run.claimed_elsewhere:
        click.echo(f"  {run.claimed_elsewhere} sends were claimed by another run", err=True)
    if run.closed:
        click.echo(f"  {run.closed} deferred sends failed: the retry window ended", err=True)
    for address, reason in sorted(run.bounced.items()):
        click.echo(f"  bounced {address}: {reason}", err=True)
    for address, reason in sorted(run.failed.items()):
        click.echo(f"  failed {address}: {reason}", err=True)
