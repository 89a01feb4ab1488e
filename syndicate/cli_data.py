"""Moving a store: ``syndicate export`` and ``syndicate import`` (JSON Lines).

Registered on the ``syndicate`` group by :mod:`syndicate.cli`. The store and
the transfer stage are imported inside the commands, so ``--help`` loads neither.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

import click

from syndicate.cli_base import Context, errors_to_exit, fail, pass_ctx

if TYPE_CHECKING:  # imported where used: `--help` loads no pathlib
    from pathlib import Path


def counts_line(counts: dict[str, int]) -> str:
    """``12 articles, 3 subscribers`` (tables with rows only, in export order)."""
    shown = [f"{count:,} {kind}" for kind, count in counts.items() if count]
    return ", ".join(shown) or "nothing"


@click.command("export")
@click.argument("output", default="-", metavar="[FILE]")
@pass_ctx
def export_command(ctx: Context, output: str) -> None:
    """Write the whole store to FILE (default: standard output) as JSON Lines.

    Articles with their ingest sequence and public id (and their further
    sources and takedowns), source states, subscribers with their consent and
    unsubscribe dates, subscriptions, editions with their article lists and
    stored bodies, and sends. Pending confirmation requests, rate counters and
    generated secrets are left out. A FILE is written whole or not at all.

    \b
    Example:
        syndicate export backup.jsonl
        syndicate export | gzip > backup.jsonl.gz
    """
    from pathlib import Path

    from syndicate.model import utcnow
    from syndicate.transfer import export_store

    with errors_to_exit(ctx):
        store = ctx.store()
        if output == "-":
            counts = export_store(store, sys.stdout, now=utcnow())
        else:
            counts = _export_file(Path(output), lambda out: export_store(store, out, now=utcnow()))
        click.echo(f"exported {counts_line(counts)}", err=True)


def _export_file(path: Path, write: Callable[[IO[str]], dict[str, int]]) -> dict[str, int]:
    """Run ``write`` into a temporary file beside ``path``, renamed into place when done."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="\n") as out:
            counts = write(out)
        os.replace(partial, path)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return counts


@click.command("import")
@click.argument("source", metavar="FILE")
@click.option("--replace", is_flag=True, help="Delete everything the store holds first.")
@pass_ctx
def import_command(ctx: Context, source: str, replace: bool) -> None:
    """Load an export (FILE, or - for standard input) into an empty store.

    Every line is checked; the first bad one is named (line number, table,
    column) and then nothing is stored. A store that already holds rows is
    refused unless --replace is given, which deletes them in the same
    transaction. Ids are kept: feeds and links built from the new store match
    the old ones.

    \b
    Example:
        syndicate --config new.yaml import backup.jsonl
        gunzip -c backup.jsonl.gz | syndicate import - --replace
    """
    from pathlib import Path

    from syndicate.transfer import import_store

    with errors_to_exit(ctx):
        store = ctx.store()
        if source == "-":
            counts = import_store(store, sys.stdin.buffer, replace=replace)
        else:
            try:
                with Path(source).open("rb") as lines:
                    counts = import_store(store, lines, replace=replace)
            except OSError as exc:
                fail(f"cannot read {source}: {exc.strerror or exc}")
        click.echo(f"imported {counts_line(counts)}")
