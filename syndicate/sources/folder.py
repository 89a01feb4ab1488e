"""Read a folder of Markdown and HTML files with YAML front matter into articles.

Each file starts with a front matter block between ``---`` lines::

    ---
    title: 제목            # required
    date: 2024-05-01T09:00 # ISO 8601; without an offset the source/config timezone applies
    updated: ...           # optional, same format
    author: 홍길동
    summary: 한 줄 요약    # plain text
    section: opinion       # optional override; must be a configured section
    categories: [칼럼]     # or tags
    url: https://...       # default: <public_base_url>articles/<source id>/<path>
    id: ...                # or guid; default: the relative path
    image: https://...
    ---
    Markdown (or HTML) body

A bad file is logged as a warning naming the file and the problem, and skipped; nothing
in one file stops the others from being read. Which files are read, and from where, is
described in :mod:`syndicate.sources.localfiles`; front matter is read by the bounded loader
of :mod:`syndicate.sources.frontmatter`, Markdown converted under the limits of
:mod:`syndicate.sources.markup`.
"""

from __future__ import annotations

import html
import logging
import re
from contextlib import nullcontext
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urljoin

from syndicate.config_sources import FolderSource
from syndicate.errors import SourceError
from syndicate.model import Article
from syndicate.sources import SourceContext, SourceResult
from syndicate.sources.frontmatter import FrontMatterError, load_front_matter
from syndicate.sources.localfiles import BadFile, Entry, list_files, read_entry, shown
from syndicate.sources.markup import MarkdownConverter, MarkdownError
from syndicate.textcodec import decode_local_text

logger = logging.getLogger(__name__)

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*(?:\r?\n|\Z)", re.DOTALL | re.M)

__all__ = ["BadFile", "file_to_article", "list_files", "read_folder", "read_folder_source"]


def decode_text(data: bytes, name: str) -> str:
    """Decode a file by evidence (UTF-8, else the encoding its bytes show), with a warning."""
    if b"\x00" in data:
        raise BadFile("contains NUL bytes: a binary file, or UTF-16 text (save it as UTF-8)")
    try:
        text, encoding = decode_local_text(data)
    except UnicodeDecodeError:
        raise BadFile("not text in any encoding its bytes show (save it as UTF-8)") from None
    if encoding != "utf-8":
        logger.warning("%s: not UTF-8; read as %s", name, encoding)
    return text


def split_front_matter(text: str) -> tuple[dict[str, Any], str, bool]:
    """Return the front matter mapping, the body and whether front matter text was cleaned."""
    match = _FRONT_MATTER_RE.match(text)
    if not match:
        raise BadFile("no front matter (the file must start with a '---' line)")
    try:
        data, cleaned = load_front_matter(match.group(1))
    except FrontMatterError as exc:
        raise BadFile(str(exc)) from None
    return data, text[match.end() :], cleaned


def parse_date(value: Any, key: str, zone: tzinfo) -> datetime | None:
    """Return a front matter date as aware UTC; naive values are in ``zone``."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise BadFile(f"bad {key} {value!r} (use ISO 8601, e.g. 2024-05-01T09:00)") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        parsed = parsed.replace(tzinfo=zone)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise BadFile(f"bad {key} {value!r}: out of range") from None


def _string(data: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = data.get(key)
        if value is not None and not isinstance(value, dict | list):
            text = str(value).strip()
            if text:
                return text
    return ""


def _categories(data: dict[str, Any]) -> tuple[str, ...]:
    value = data.get("categories", data.get("tags"))
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).split(",")
    names = [str(item).strip() for item in items if item is not None]
    return tuple(dict.fromkeys(n for n in names if n))


def _body_html(body: str, suffix: str, converter: MarkdownConverter) -> str:
    if suffix not in MARKDOWN_SUFFIXES:
        return body.strip()
    try:
        return converter.convert(body)
    except MarkdownError as exc:
        raise BadFile(str(exc)) from None


def _section(data: dict[str, Any], default: str, sections: set[str]) -> str:
    section = _string(data, "section")
    if not section:
        return default
    if section not in sections:
        raise BadFile(f"unknown section {section!r} (known: {', '.join(sorted(sections))})")
    return section


def _default_url(public_base_url: str, source_id: str, relative: PurePosixPath) -> str:
    path = quote(relative.with_suffix("").as_posix(), safe="/")
    return f"{public_base_url}articles/{source_id}/{path}"


def file_to_article(
    relative: PurePosixPath,
    text: str,
    *,
    source_id: str,
    section: str,
    zone: tzinfo,
    public_base_url: str,
    sections: set[str],
    converter: MarkdownConverter,
) -> Article:
    """Build an :class:`Article` from one file's text (raise :class:`BadFile` if unusable).

    The article belongs to ``source_id``; ``section`` applies when the front
    matter names none (one it names must be among ``sections``).
    """
    data, body, cleaned = split_front_matter(text)
    if cleaned:
        logger.warning(
            "source %s: %s: lone surrogates or control characters in front matter replaced",
            source_id, relative,
        )  # fmt: skip
    title = _string(data, "title")
    if not title:
        raise BadFile("front matter has no 'title'")
    url = _string(data, "url") or _default_url(public_base_url, source_id, relative)
    summary = _string(data, "summary")
    image = _string(data, "image")
    return Article(
        source_id=source_id,
        guid=_string(data, "id", "guid") or relative.as_posix(),
        url=url,
        title=title,
        section_id=_section(data, section, sections),
        summary_html=f"<p>{html.escape(summary)}</p>" if summary else "",
        content_html=_body_html(body, relative.suffix.lower(), converter),
        author=_string(data, "author"),
        categories=_categories(data),
        published_at=parse_date(data.get("date"), "date", zone),
        updated_at=parse_date(data.get("updated"), "updated", zone),
        image_url=urljoin(url, image) if image else "",
    )


def _read_entry(
    folder: Path, entry: Entry, source: FolderSource, *, max_bytes: int, **context: Any
) -> Article | None:
    """Read one listed file into an article; log a warning naming it and return None if bad."""
    name = shown(folder / entry.relative)
    try:
        text = decode_text(read_entry(folder, entry, max_bytes), name)
        return file_to_article(
            entry.relative, text, source_id=source.id, section=source.section, **context
        )
    except BadFile as exc:
        _skip(source, name, str(exc))
    except Exception as exc:
        logger.debug("source %s: unexpected error reading %s", source.id, name, exc_info=True)
        _skip(source, name, f"unexpected {type(exc).__name__}: {exc}")
    return None


def _skip(source: FolderSource, name: str, problem: str) -> None:
    """Log that a file is skipped, in one printable line."""
    lines = problem.encode("utf-8", "backslashreplace").decode("utf-8").splitlines()
    logger.warning("source %s: skipping %s: %s", source.id, name, lines[0] if lines else "")


def read_folder(
    source: FolderSource,
    *,
    zone: tzinfo,
    public_base_url: str,
    sections: set[str],
    max_bytes: int,
    converter: MarkdownConverter | None = None,
) -> list[Article]:
    """Read every article file of a folder source; bad files are logged and skipped.

    Markdown is converted by ``converter`` (its worker process shared with the
    caller's other reads), else by a converter of this read's own.
    """
    folder = Path(source.location)
    if not folder.is_dir():
        raise SourceError(source.id, f"folder not found: {shown(folder)}")
    articles = []
    with nullcontext(converter) if converter else MarkdownConverter() as active:
        for entry in list_files(folder):
            article = _read_entry(
                folder, entry, source, max_bytes=max_bytes, zone=zone,
                public_base_url=public_base_url, sections=sections, converter=active,
            )  # fmt: skip
            if article is not None:
                articles.append(article)
    return articles


def read_folder_source(source: FolderSource, ctx: SourceContext) -> SourceResult:
    """Read a folder of Markdown/HTML files with YAML front matter into articles."""
    articles = read_folder(
        source,
        zone=ctx.zone(source),
        public_base_url=ctx.config.public_base_url,
        sections={s.id for s in ctx.config.sections},
        max_bytes=ctx.config.collect.max_bytes,
    )
    return SourceResult(articles, ctx.state)
