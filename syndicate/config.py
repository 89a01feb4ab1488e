"""Load ``schedules.yaml`` once into validated, immutable objects.

Every problem is reported with the file name and the key path, e.g.
``schedules.yaml: digests[0].schedule: invalid schedule '0 25 * * *': hour: 25 ...``.
Relative paths are resolved against the folder of the config file.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from syndicate import __version__
from syndicate.errors import ConfigError
from syndicate.model import Section
from syndicate.schedule import Schedule, parse_duration

DEFAULT_CONFIG = "schedules.yaml"
CONFIG_ENV = "SYNDICATE_CONFIG"
STORE_ENV = "SYNDICATE_STORE_URL"
SOURCE_KINDS = ("feed", "folder", "page", "sitemap")
URL_SCHEMES = ("http", "https", "file")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _schedule(value: Any) -> Schedule:
    if isinstance(value, Schedule):
        return value
    return Schedule.parse(value)


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int):
        raise ValueError(f"invalid duration {value!r}: add a unit, e.g. {value}m or {value}h")
    return parse_duration(str(value))


def _zone(value: Any) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {value!r} (use an IANA name such as Asia/Seoul)"
        ) from None


def _ident(value: Any) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ValueError(
            f"invalid id {value!r}: use lowercase letters, digits, '-' or '_' (at most 64)"
        )
    return value


ScheduleField = Annotated[Schedule, BeforeValidator(_schedule)]
DurationField = Annotated[timedelta, BeforeValidator(_duration)]
ZoneField = Annotated[ZoneInfo, BeforeValidator(_zone)]
Ident = Annotated[str, BeforeValidator(_ident)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class SectionConfig(_Model):
    """A section: ``id`` used in rules and subscriptions, ``name`` shown to readers."""

    id: Ident
    name: str = Field(min_length=1)
    order: int | None = None


class RuleConfig(_Model):
    """Map articles to a section by feed category or by URL path prefix."""

    section: str
    category: str | None = None
    path: str | None = None

    @model_validator(mode="after")
    def _one_matcher(self) -> RuleConfig:
        if (self.category is None) == (self.path is None):
            raise ValueError("a rule needs exactly one of 'category' or 'path'")
        return self


class PagesConfig(_Model):
    """Article pages to fetch (``page``/``sitemap`` sources, ``fulltext`` feeds) and how fast.

    ``urls`` lists article pages; ``select`` (CSS) or ``pattern`` (regular
    expression) picks article links on the listing page at ``location``;
    ``limit`` caps pages per run; ``delay`` (seconds) spaces requests to one
    host and ``concurrency`` caps requests in flight per host; ``max_age`` skips
    sitemap entries older than that.
    """

    urls: tuple[str, ...] = ()
    select: str | None = None
    pattern: str | None = None
    limit: int = Field(default=30, ge=1, le=5000)
    delay: float = Field(default=1.0, ge=0, le=300)
    concurrency: int = Field(default=2, ge=1, le=32)
    max_age: DurationField | None = None

    @field_validator("select")
    @classmethod
    def _css(cls, value: str | None) -> str | None:
        if value is not None:
            from lxml.cssselect import CSSSelector, SelectorError

            try:
                CSSSelector(value)
            except SelectorError as exc:
                raise ValueError(f"invalid CSS selector {value!r}: {exc}") from None
        return value

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value


class SourceConfig(_Model):
    """Where articles come from: a ``feed``, a ``folder``, article ``page``s or a ``sitemap``."""

    id: Ident
    kind: str
    location: str = ""
    section: str
    timezone: ZoneField | None = None
    rules: tuple[RuleConfig, ...] = ()
    enabled: bool = True
    fulltext: bool = False
    pages: PagesConfig = PagesConfig()

    @model_validator(mode="after")
    def _has_location(self) -> SourceConfig:
        if not self.location and not (self.kind == "page" and self.pages.urls):
            raise ValueError(
                "location: required key is missing (a page source may list pages.urls)"
            )
        if self.fulltext and self.kind != "feed":
            raise ValueError("fulltext: only a feed source can fetch full text")
        return self

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in SOURCE_KINDS:
            raise ValueError(f"unknown source kind {value!r} (known: {', '.join(SOURCE_KINDS)})")
        return value

    @property
    def is_url(self) -> bool:
        """True when ``location`` is an http(s) URL rather than a path."""
        return urlsplit(self.location).scheme in ("http", "https")


class FeedsConfig(_Model):
    """The feeds written for readers: RSS and/or Atom, per section and combined."""

    output: Path = Path("public/feeds")
    formats: tuple[Literal["rss", "atom"], ...] = ("rss", "atom")
    per_section: bool = True
    combined: bool = True
    limit: int = Field(default=50, ge=1, le=1000)
    title: str = Field(default="syndicate", min_length=1)
    description: str = ""

    @field_validator("formats")
    @classmethod
    def _some_format(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("list at least one of rss, atom")
        return tuple(dict.fromkeys(value))


class FileDelivery(_Model):
    """Write each message as an ``.eml`` file into ``folder``."""

    kind: Literal["file"]
    folder: Path = Path("outbox")


class SmtpDelivery(_Model):
    """Send through an SMTP server; the password is read from ``password_env``."""

    kind: Literal["smtp"]
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    timeout: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=100, ge=1)

    def password(self) -> str | None:
        """Return the SMTP password from the environment, if configured."""
        return os.environ.get(self.password_env) if self.password_env else None


Delivery = Annotated[FileDelivery | SmtpDelivery, Field(discriminator="kind")]


class DigestConfig(_Model):
    """An e-mail digest: which sections, when, from whom, and how it is delivered."""

    id: Ident
    title: str = Field(min_length=1)
    sections: tuple[str, ...] = ()
    schedule: ScheduleField
    first_window: DurationField = timedelta(days=1)
    max_per_section: int = Field(default=10, ge=1, le=200)
    sender: str
    reply_to: str | None = None
    delivery: Delivery

    @field_validator("sender", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            _, address = parseaddr(value)
            if "@" not in address:
                raise ValueError(
                    f"{value!r} is not an e-mail address (e.g. 'News <news@example.kr>')"
                )
        return value


class CollectConfig(_Model):
    """How and when sources are collected."""

    schedule: ScheduleField = Schedule.parse("every 10m")
    timeout: float = Field(default=20.0, gt=0)
    user_agent: str = f"syndicate/{__version__}"
    max_bytes: int = Field(default=20_000_000, ge=1024)


class Config(_Model):
    """The whole, validated configuration. Build it with :func:`load_config`."""

    timezone: ZoneField
    public_base_url: str
    store: str = "sqlite:///var/syndicate.db"
    templates: Path | None = None
    sections: tuple[SectionConfig, ...] = Field(min_length=1)
    sources: tuple[SourceConfig, ...] = ()
    feeds: FeedsConfig = FeedsConfig()
    digests: tuple[DigestConfig, ...] = ()
    collect: CollectConfig = CollectConfig()
    path: Path = Path(DEFAULT_CONFIG)

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/") + "/"

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the config are resolved against."""
        return self.path.parent

    @property
    def host(self) -> str:
        """The host name of ``public_base_url``, used in ids and headers."""
        return urlsplit(self.public_base_url).hostname or "localhost"

    def section_list(self) -> list[Section]:
        """Sections in display order (explicit ``order`` first, then file order)."""
        keyed = sorted(
            enumerate(self.sections),
            key=lambda p: (p[1].order if p[1].order is not None else 10**6, p[0]),
        )
        return [Section(s.id, s.name, rank) for rank, (_, s) in enumerate(keyed)]

    def section(self, section_id: str) -> Section:
        """Return one section by id (KeyError if unknown)."""
        for section in self.section_list():
            if section.id == section_id:
                return section
        raise KeyError(section_id)

    def source(self, source_id: str) -> SourceConfig:
        """Return one source by id (KeyError if unknown)."""
        for source in self.sources:
            if source.id == source_id:
                return source
        raise KeyError(source_id)

    def digest(self, digest_id: str) -> DigestConfig:
        """Return one digest by id (KeyError if unknown)."""
        for digest in self.digests:
            if digest.id == digest_id:
                return digest
        raise KeyError(digest_id)

    def digest_sections(self, digest: DigestConfig) -> list[Section]:
        """The sections a digest offers, in display order."""
        offered = set(digest.sections) if digest.sections else None
        return [s for s in self.section_list() if offered is None or s.id in offered]

    def resolve(self, path: Path) -> Path:
        """Resolve a config-relative path to an absolute one."""
        return path if path.is_absolute() else (self.base_dir / path).resolve()


def format_loc(loc: tuple[int | str, ...]) -> str:
    """Format a pydantic error location as a key path: ``digests[0].schedule``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("file", "smtp") and out.endswith("delivery"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _pydantic_problems(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "required key is missing"
        problems.append(f"{format_loc(tuple(error['loc']))}: {message}")
    return list(dict.fromkeys(problems))


def _items(data: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _duplicates(data: dict[str, Any], key: str) -> list[str]:
    seen: set[Any] = set()
    problems = []
    for index, item in _items(data, key):
        ident = item.get("id")
        if isinstance(ident, str) and ident in seen:
            problems.append(f"{key}[{index}].id: duplicate id {ident!r}")
        seen.add(ident)
    return problems


def _check_section(known: set[str], where: str, section_id: Any) -> list[str]:
    if not isinstance(section_id, str) or section_id in known:
        return []
    return [f"{where}: unknown section {section_id!r} (known: {', '.join(sorted(known))})"]


def _cross_references(data: dict[str, Any]) -> list[str]:
    """Checks across keys, run on the raw data so they add to schema errors."""
    known = {str(item.get("id")) for _, item in _items(data, "sections")}
    problems = _duplicates(data, "sections") + _duplicates(data, "sources")
    problems += _duplicates(data, "digests")
    for i, source in _items(data, "sources"):
        problems += _check_section(known, f"sources[{i}].section", source.get("section"))
        for j, rule in _items(source, "rules"):
            where = f"sources[{i}].rules[{j}].section"
            problems += _check_section(known, where, rule.get("section"))
    for i, digest in _items(data, "digests"):
        offered = digest.get("sections")
        for j, section_id in enumerate(offered if isinstance(offered, list) else []):
            problems += _check_section(known, f"digests[{i}].sections[{j}]", section_id)
    return problems


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make relative paths absolute against the config folder (before validation)."""

    def absolute(value: Any) -> Any:
        if isinstance(value, str) and value and not Path(value).is_absolute():
            return str((base / value).resolve())
        return value

    for source in data.get("sources") or []:
        location = source.get("location") if isinstance(source, dict) else None
        if isinstance(location, str) and urlsplit(location).scheme not in URL_SCHEMES:
            source["location"] = absolute(location)
        pages = source.get("pages") if isinstance(source, dict) else None
        if isinstance(pages, dict) and isinstance(pages.get("urls"), list):
            pages["urls"] = [
                absolute(u) if isinstance(u, str) and urlsplit(u).scheme not in URL_SCHEMES else u
                for u in pages["urls"]
            ]
    feeds = data.get("feeds")
    if isinstance(feeds, dict) and "output" in feeds:
        feeds["output"] = absolute(feeds["output"])
    for digest in data.get("digests") or []:
        delivery = digest.get("delivery") if isinstance(digest, dict) else None
        if isinstance(delivery, dict) and "folder" in delivery:
            delivery["folder"] = absolute(delivery["folder"])
    if "templates" in data:
        data["templates"] = absolute(data["templates"])
    return data


def resolve_store_url(url: str, base: Path) -> str:
    """Make a relative SQLite path absolute; other URLs are returned unchanged."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        rest = url[len(prefix) :]
        if rest and not rest.startswith(":memory:") and not Path(rest).is_absolute():
            return prefix + str((base / rest).resolve())
    return url


def _read_yaml(path: Path) -> Any:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(name, ["file not found (use -c PATH or set SYNDICATE_CONFIG)"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(name, [f"cannot read: {exc}"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(name, [f"{where}YAML syntax error: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(name, [f"YAML error: {exc}"]) from None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read, validate and resolve a config file; raise :class:`ConfigError` listing problems."""
    config_path = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    data = _read_yaml(config_path)
    if not isinstance(data, dict):
        raise ConfigError(str(config_path), ["(top level): expected a mapping of keys"])
    base = config_path.resolve().parent
    data = _resolve_paths(dict(data), base)
    if isinstance(data.get("store"), str):
        data["store"] = resolve_store_url(data["store"], base)
    if os.environ.get(STORE_ENV):
        data["store"] = resolve_store_url(os.environ[STORE_ENV], Path.cwd())
    data["path"] = config_path.resolve()
    problems = []
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = _pydantic_problems(exc)
    problems += _cross_references(data)
    if problems:
        raise ConfigError(str(config_path), problems)
    return config


def environment_problems(config: Config) -> list[str]:
    """Problems the file itself cannot show: missing local sources, unset SMTP passwords."""
    problems = []
    for i, source in enumerate(config.sources):
        if source.enabled and source.location and not source.is_url:
            location = Path(source.location.removeprefix("file://"))
            if not location.exists():
                problems.append(f"sources[{i}].location: {location} does not exist")
            elif source.kind == "folder" and not location.is_dir():
                problems.append(f"sources[{i}].location: {location} is not a folder")
    for i, digest in enumerate(config.digests):
        delivery = digest.delivery
        if not isinstance(delivery, SmtpDelivery) or not delivery.password_env:
            continue
        if not os.environ.get(delivery.password_env):
            problems.append(
                f"digests[{i}].delivery.password_env: "
                f"environment variable {delivery.password_env} is not set"
            )
    return problems
