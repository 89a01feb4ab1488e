"""What ``syndicate check`` verifies beyond the file itself: everything a run would refuse.

A valid config can still fail at run time because of the machine it runs on:
an output folder that is a file or cannot be created, a templates folder that
is missing or holds a template with a syntax error, a database driver that is
not installed, an unset SMTP password. :func:`run_problems` finds these
without writing anything, one line per problem naming the config key.
"""

from __future__ import annotations

import os
from pathlib import Path

from syndicate.config import Config
from syndicate.dburl import sqlite_path
from syndicate.deliveries import delivery_kind
from syndicate.errors import SyndicateError
from syndicate.sources import SOURCE_KINDS
from syndicate.yamlfile import printable_line

NAME_MAX = 255


def _folder_problem(key: str, folder: Path) -> str | None:
    """Why ``folder`` could not be created or written to, or None when it can."""
    if any(len(part.encode("utf-8", "surrogateescape")) > NAME_MAX for part in folder.parts):
        return f"{key}: a name in {str(folder)!r} is longer than {NAME_MAX} bytes"
    probe = folder
    try:
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir():
            return f"{key}: {probe} is not a folder"
        if not os.access(probe, os.W_OK | os.X_OK):
            return f"{key}: {probe} is not writable"
    except (OSError, ValueError) as exc:
        return f"{key}: cannot use {str(folder)!r}: {exc}"
    return None


def environment_problems(config: Config) -> list[str]:
    """Problems the file itself cannot show (missing local sources, unset SMTP passwords).

    Each source and delivery kind's registry entry says what it needs.
    """
    problems = []
    for i, source in enumerate(config.sources):
        for key, problem in SOURCE_KINDS[source.kind].environment(source):
            problems.append(f"sources[{i}].{key}: {problem}")
    for i, digest in enumerate(config.digests):
        for key, problem in delivery_kind(digest.delivery).environment(digest.delivery):
            problems.append(f"digests[{i}].delivery.{key}: {problem}")
    return problems


def folder_problems(config: Config) -> list[str]:
    """Output folders (feeds, file deliveries, the SQLite file's folder) that cannot be used."""
    folders = [("feeds.output", config.resolve(config.feeds.output))]
    for i, digest in enumerate(config.digests):
        kind = delivery_kind(digest.delivery)
        output = kind.output(config, digest.delivery)
        if output is not None:
            folders.append((f"digests[{i}].delivery.{kind.output_key}", output))
    database = sqlite_path(config.store)
    if database is not None:
        folders.append(("store", database.parent))
    return [p for key, folder in folders if (p := _folder_problem(key, folder)) is not None]


def template_problems(config: Config) -> list[str]:
    """Templates in the configured ``templates`` folder that are missing or do not compile.

    The bundled templates are checked by the test suite, so a config without its
    own ``templates`` folder costs nothing here.
    """
    if not config.digests or config.templates is None:
        return []
    import jinja2

    from syndicate import render

    try:
        renderer = render.Renderer.for_config(config)
        for name in (render.HTML_TEMPLATE, render.TEXT_TEMPLATE):
            renderer.env.get_template(name)
        renderer.css()
    except jinja2.TemplateSyntaxError as exc:
        return [f"templates: {exc.filename or exc.name}, line {exc.lineno}: {exc.message}"]
    except jinja2.TemplateNotFound as exc:
        return [f"templates: template {exc.name} not found"]
    except (jinja2.TemplateError, SyndicateError, OSError, UnicodeDecodeError) as exc:
        return [f"templates: {' '.join(str(exc).split())}"]
    return []


def run_problems(config: Config) -> list[str]:
    """Every problem a run would hit that the config file alone cannot show."""
    problems = environment_problems(config) + folder_problems(config)
    problems += template_problems(config)
    return [printable_line(problem) for problem in problems]
