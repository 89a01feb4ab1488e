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

A bad file is logged as a warning naming the file and the problem, and skipped.
"""

from __future__ import annotations

import html
import logging
import re
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urljoin

import markdown
import yaml

from syndicate.config import SourceConfig
from syndicate.errors import SourceError
from syndicate.model import Article
from syndicate.textcodec import decode_local_text

logger = logging.getLogger(__name__)

SUFFIXES = frozenset({".md", ".markdown", ".html", ".htm"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
MARKDOWN_EXTENSIONS = ["extra", "sane_lists"]
_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*(?:\r?\n|\Z)", re.DOTALL | re.M)


class BadFile(Exception):
    """One file of a folder source cannot be used; the message says why."""


def list_files(folder: Path) -> list[Path]:
    """Return article files under ``folder``, recursively and sorted, skipping hidden ones."""
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix.lower() in SUFFIXES and path.is_file():
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def read_text(path: Path, max_bytes: int) -> str:
    """Read a file as UTF-8 (BOM allowed), falling back to cp949 with a warning."""
    try:
        if path.stat().st_size > max_bytes:
            raise BadFile(f"larger than {max_bytes} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise BadFile(f"cannot read: {exc.strerror or exc}") from exc
    try:
        text, encoding = decode_local_text(data)
    except UnicodeDecodeError:
        raise BadFile("not UTF-8 (nor cp949) text") from None
    if encoding != "utf-8":
        logger.warning("%s: not UTF-8; read as %s", path, encoding)
    return text


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Return the front matter mapping and the body of a file's text."""
    match = _FRONT_MATTER_RE.match(text)
    if not match:
        raise BadFile("no front matter (the file must start with a '---' line)")
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise BadFile(f"bad YAML front matter{where}: {problem}") from None
    if not isinstance(data, dict):
        raise BadFile("front matter is not a mapping of keys")
    return data, text[match.end() :]


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


def _body_html(body: str, suffix: str) -> str:
    if suffix in MARKDOWN_SUFFIXES:
        return markdown.markdown(body, extensions=MARKDOWN_EXTENSIONS)
    return body.strip()


def _section(data: dict[str, Any], source: SourceConfig, sections: set[str]) -> str:
    section = _string(data, "section")
    if not section:
        return source.section
    if section not in sections:
        raise BadFile(f"unknown section {section!r} (known: {', '.join(sorted(sections))})")
    return section


def _default_url(public_base_url: str, source_id: str, relative: PurePosixPath) -> str:
    path = quote(relative.with_suffix("").as_posix(), safe="/")
    return f"{public_base_url}articles/{source_id}/{path}"


def file_to_article(
    path: Path,
    relative: PurePosixPath,
    text: str,
    source: SourceConfig,
    *,
    zone: tzinfo,
    public_base_url: str,
    sections: set[str],
) -> Article:
    """Build an :class:`Article` from one file's text (raise :class:`BadFile` if unusable)."""
    data, body = split_front_matter(text)
    title = _string(data, "title")
    if not title:
        raise BadFile("front matter has no 'title'")
    url = _string(data, "url") or _default_url(public_base_url, source.id, relative)
    summary = _string(data, "summary")
    image = _string(data, "image")
    return Article(
        source_id=source.id,
        guid=_string(data, "id", "guid") or relative.as_posix(),
        url=url,
        title=title,
        section_id=_section(data, source, sections),
        summary_html=f"<p>{html.escape(summary)}</p>" if summary else "",
        content_html=_body_html(body, path.suffix.lower()),
        author=_string(data, "author"),
        categories=_categories(data),
        published_at=parse_date(data.get("date"), "date", zone),
        updated_at=parse_date(data.get("updated"), "updated", zone),
        image_url=urljoin(url, image) if image else "",
    )


def read_folder(
    source: SourceConfig,
    *,
    zone: tzinfo,
    public_base_url: str,
    sections: set[str],
    max_bytes: int,
) -> list[Article]:
    """Read every article file of a folder source; bad files are logged and skipped."""
    folder = Path(source.location)
    if not folder.is_dir():
        raise SourceError(source.id, f"folder not found: {folder}")
    articles = []
    for path in list_files(folder):
        relative = PurePosixPath(path.relative_to(folder).as_posix())
        try:
            text = read_text(path, max_bytes)
            article = file_to_article(
                path, relative, text, source,
                zone=zone, public_base_url=public_base_url, sections=sections,
            )  # fmt: skip
        except BadFile as exc:
            logger.warning("source %s: skipping %s: %s", source.id, path, exc)
            continue
        articles.append(article)
    return articles
