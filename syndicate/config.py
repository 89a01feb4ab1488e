"""Load ``schedules.yaml`` once into validated, immutable objects.

Every problem is reported with the file name and the key path, e.g.
``schedules.yaml: digests[0].schedule: invalid schedule '0 25 * * *': hour: 25 ...``.
Relative paths are resolved against the folder of the config file. Field types
live in :mod:`syndicate.config_fields`, the sources' models in
:mod:`syndicate.config_sources`, and the validation layer the models are
declared with in :mod:`syndicate.config_model`.
"""

import os
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from syndicate import CONFIG_ENV, DEFAULT_CONFIG, STORE_ENV, __version__
from syndicate.addresses import normalize_address, normalize_domain, parse_mailbox
from syndicate.config_articles import DEFAULT_ID_DATE, DuplicatesConfig, IdDate
from syndicate.config_checks import Invalid, Length, Range, Tagged, base_folder, before, yaml_type
from syndicate.config_database import DatabaseConfig
from syndicate.config_digest import (
    DEFAULT_GRACE,
    DEFAULT_SIZE_BUDGET,
    BrandColor,
    Grace,
    ImagesConfig,
    LogoConfig,
    PublisherConfig,
    QuietHours,
    SizeBudget,
)
from syndicate.config_fields import (
    DurationField,
    Flag,
    Ident,
    Line,
    PathField,
    ScheduleField,
    Seconds,
    Text,
    Url,
    ZoneField,
    http_url,
)
from syndicate.config_model import ConfigModel, hidden, model, nested
from syndicate.config_sched import SchedulerConfig
from syndicate.config_sources import Source, SourceConfig
from syndicate.config_web import WebConfig
from syndicate.dburl import check_store_url, resolve_store_url
from syndicate.errors import ConfigError
from syndicate.schedule import Schedule
from syndicate.yamlfile import load_yaml, printable_line

if TYPE_CHECKING:  # imported where used: ``check`` never builds the domain objects
    from syndicate.model import Section

RESERVED_SECTION_IDS = ("all",)  # "all" names the combined feed (all.rss.xml)


def _section_id(value: str) -> str:
    if value in RESERVED_SECTION_IDS:
        raise ValueError(f"section id {value!r} is reserved (it names the combined feed)")
    return value


@model
class SectionConfig(ConfigModel):
    """A section: ``id`` used in rules and subscriptions, ``name`` shown to readers."""

    id: Annotated[Ident, _section_id]
    name: Line
    order: Annotated[int, Range(ge=-1_000_000, le=1_000_000)] | None = None


def _served_path(value: str) -> str:
    """A URL path below ``public_base_url`` (``feeds/``): no leading, one trailing ``/``."""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.query or parts.fragment or "\\" in value:
        raise ValueError(f"{value!r}: give a path below public_base_url, such as 'feeds/'")
    if any(segment in (".", "..") for segment in value.split("/")):
        raise ValueError(f"{value!r}: '.' and '..' are not allowed in the feeds path")
    path = value.strip("/")
    if not path:
        raise ValueError(f"{value!r}: give a path below public_base_url, such as 'feeds/'")
    return path + "/"


def _some_format(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("list at least one of rss, atom, json")
    return tuple(dict.fromkeys(value))


@model
class FeedsConfig(ConfigModel):
    """The feeds written for readers: RSS, Atom and/or JSON Feed, per section and combined.

    ``url_path`` is where ``syndicate serve`` (or another web server) serves
    ``output``, below ``public_base_url``; each feed's self link is built from it.
    ``hubs`` are WebSub hubs declared in every feed and pinged after a change.
    """

    output: PathField = Path("public/feeds")
    url_path: Annotated[Line, _served_path] = "feeds/"
    formats: Annotated[tuple[Literal["rss", "atom", "json"], ...], _some_format] = ("rss", "atom")
    per_section: Flag = True
    combined: Flag = True
    per_source: Flag = False
    limit: Annotated[int, Range(ge=1, le=1000)] = 50
    title: Line = "syndicate"
    description: Text = ""
    hubs: tuple[Annotated[Url, http_url], ...] = ()


@model
class FileDelivery(ConfigModel):
    """Write each message as an ``.eml`` file into ``folder``."""

    kind: Literal["file"]
    folder: PathField = Path("outbox")


MessagesPerSecond = Annotated[float, Range(gt=0, le=100_000)]
"""A rate in messages per second (a number above 0, e.g. 10 or 0.5)."""


def _domain_key(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("a recipient domain is text, e.g. naver.com")
    if "@" in value or "." not in value.strip(". "):
        raise ValueError(f"{value!r} is not a domain name (give e.g. naver.com)")
    return normalize_domain(value.strip())  # AddressError (a ValueError) says why


RecipientDomain = Annotated[str, before(_domain_key)]
"""A recipient domain, lowercased and in ASCII (IDNA)."""


def _no_limits() -> Mapping[str, float]:
    return MappingProxyType({})


@model
class SmtpDelivery(ConfigModel):
    """Send through an SMTP server; the password is read from ``password_env``."""

    kind: Literal["smtp"]
    host: Line
    port: Annotated[int, Range(ge=1, le=65535)] = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: Line | None = None
    password_env: Line | None = None
    timeout: Seconds = 30.0
    batch_size: Annotated[int, Range(ge=1, le=100_000)] = 100
    relay_failures: Annotated[int, Range(ge=1, le=1000)] = 3
    """Consecutive failures to use the server after which an edition stops (resumed later)."""
    domain_refusals: Annotated[int, Range(ge=1, le=1000)] = 3
    """Consecutive policy refusals (5.7.x) from one domain after which it is paused."""
    envelope_from: Annotated[Line, normalize_address] | None = None  # AddressError says why
    """The envelope sender (MAIL FROM, the Return-Path bounces go to); default: the From address."""
    connections: Annotated[int, Range(ge=1, le=64)] = 4
    """Parallel SMTP connections of one pass over an edition (one message in flight on each)."""
    rate_limit: MessagesPerSecond | None = None
    """Messages per second over all connections; default: as fast as the server answers."""
    domain_limits: Mapping[RecipientDomain, MessagesPerSecond] = field(default_factory=_no_limits)
    """Messages per second to one recipient domain, e.g. ``naver.com: 10``."""

    def password(self) -> str | None:
        """Return the SMTP password from the environment, if configured."""
        return os.environ.get(self.password_env) if self.password_env else None


DELIVERY_MODELS: tuple[type[ConfigModel], ...] = (FileDelivery, SmtpDelivery)
Delivery = Annotated[FileDelivery | SmtpDelivery, Tagged("delivery")]


@model
class RetryConfig(ConfigModel):
    """When deferred sends of an edition are tried again: ``first_delay``, then three
    times longer each time up to ``max_delay``, until ``window`` after the edition began."""

    window: DurationField = timedelta(hours=24)
    first_delay: DurationField = timedelta(minutes=5)
    max_delay: DurationField = timedelta(hours=3)

    def cross_check(self, given: AbstractSet[str]) -> None:
        """A ``max_delay`` given is not shorter than the first delay."""
        if "max_delay" in given and self.max_delay < self.first_delay:
            raise Invalid.at("max_delay", "must not be shorter than first_delay")


def _mailbox(value: str) -> str:
    parse_mailbox(value)  # AddressError (a ValueError) says what is wrong
    return value


@model
class DigestConfig(ConfigModel):
    """An e-mail digest: which sections, when, from whom, and how it is delivered.

    ``archive``: whether its editions are shown on the web (``/archive``).
    ``logo``, ``brand_color`` and ``publisher`` default to the top-level keys of the
    same name; ``advertising`` puts ``(광고)`` before the subject; ``quiet_hours``
    holds editions due inside them until they end; an edition not built within
    ``grace`` of its slot (or of the end of the quiet hours) is skipped;
    ``size_budget`` caps the encoded HTML part in bytes.
    """

    id: Ident
    title: Line
    sections: tuple[Line, ...] = ()
    schedule: ScheduleField
    first_window: DurationField = timedelta(days=1)
    max_per_section: Annotated[int, Range(ge=1, le=200)] = 10
    sender: Annotated[str, _mailbox]
    reply_to: Annotated[str, _mailbox] | None = None
    delivery: Delivery
    archive: Flag = True
    retry: RetryConfig = nested(RetryConfig)
    uncertain: Literal["resend", "skip"] = "resend"
    logo: LogoConfig | None = None
    brand_color: BrandColor | None = None
    publisher: PublisherConfig | None = None
    images: ImagesConfig = nested(ImagesConfig)
    advertising: Flag = False
    quiet_hours: QuietHours = None
    grace: Grace = DEFAULT_GRACE
    size_budget: SizeBudget = DEFAULT_SIZE_BUDGET


@model
class CollectConfig(ConfigModel):
    """How and when sources are collected.

    ``host_concurrency`` caps feed fetches in flight per host and ``host_delay``
    spaces their starts (seconds); a failing source waits twice as long after each
    failure (from 5 minutes, or what ``Retry-After`` asks) up to ``backoff_max``.
    """

    schedule: ScheduleField = Schedule.parse("every 10m")
    timeout: Seconds = 20.0
    user_agent: Line = f"syndicate/{__version__}"
    max_bytes: Annotated[int, Range(ge=1024, le=2_000_000_000)] = 20_000_000
    max_entries: Annotated[int, Range(ge=1, le=100_000)] = 1000
    grace: Grace = DEFAULT_GRACE
    host_concurrency: Annotated[int, Range(ge=1, le=32)] = 2
    host_delay: Annotated[float, Range(ge=0, le=300)] = 0.0
    backoff_max: DurationField = timedelta(hours=6)


def _base_url(value: str) -> str:
    parts = urlsplit(http_url(value))
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r}: a base URL has no '?' query or '#' fragment")
    return value.rstrip("/") + "/"


def _store_url(value: str) -> str:
    base = base_folder()
    return check_store_url(value if base is None else resolve_store_url(value, base))


@model
class Config(ConfigModel):
    """The whole, validated configuration. Build it with :func:`load_config`."""

    timezone: ZoneField
    public_base_url: Annotated[Url, _base_url]
    store: Annotated[Url, _store_url] = "sqlite:///var/syndicate.db"
    templates: PathField | None = None
    sections: Annotated[tuple[SectionConfig, ...], Length(1)]
    sources: tuple[Source, ...] = ()
    feeds: FeedsConfig = nested(FeedsConfig)
    digests: tuple[DigestConfig, ...] = ()
    collect: CollectConfig = nested(CollectConfig)
    scheduler: SchedulerConfig = nested(SchedulerConfig)
    web: WebConfig = nested(WebConfig)
    database: DatabaseConfig = nested(DatabaseConfig)
    logo: LogoConfig | None = None
    brand_color: BrandColor | None = None
    publisher: PublisherConfig | None = None
    id_date: IdDate = DEFAULT_ID_DATE
    duplicates: DuplicatesConfig = nested(DuplicatesConfig)
    path: Path = hidden(Path(DEFAULT_CONFIG))
    """The config file (set by :func:`load_config`, not a key of the file)."""

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the config are resolved against."""
        return self.path.parent

    @property
    def host(self) -> str:
        """The host name of ``public_base_url``, used in ids and headers."""
        return urlsplit(self.public_base_url).hostname or "localhost"

    def section_list(self) -> "list[Section]":
        """Sections in display order (explicit ``order`` first, then file order)."""
        from syndicate.model import Section

        keyed = sorted(
            enumerate(self.sections),
            key=lambda p: (p[1].order if p[1].order is not None else 10**6, p[0]),
        )
        return [Section(s.id, s.name, rank) for rank, (_, s) in enumerate(keyed)]

    def section(self, section_id: str) -> "Section":
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

    def digest_logo(self, digest: DigestConfig) -> LogoConfig | None:
        """The digest's logo, else the top-level one."""
        return digest.logo or self.logo

    def digest_brand_color(self, digest: DigestConfig) -> str | None:
        """The digest's brand colour, else the top-level one."""
        return digest.brand_color or self.brand_color

    def digest_publisher(self, digest: DigestConfig) -> PublisherConfig | None:
        """The digest's publisher (footer sender, address, contact), else the top-level one."""
        return digest.publisher or self.publisher

    def digest_sections(self, digest: DigestConfig) -> "list[Section]":
        """The sections a digest offers, in display order."""
        offered = set(digest.sections) if digest.sections else None
        return [s for s in self.section_list() if offered is None or s.id in offered]

    @property
    def feeds_url(self) -> str:
        """The public URL of the feeds folder (``public_base_url`` + ``feeds.url_path``)."""
        return self.public_base_url + self.feeds.url_path

    def resolve(self, path: Path) -> Path:
        """Resolve a config-relative path to an absolute one."""
        return path if path.is_absolute() else (self.base_dir / path).resolve()


def _items(data: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _duplicates(data: dict[str, Any], key: str) -> list[str]:
    seen: set[str] = set()
    problems = []
    for index, item in _items(data, key):
        ident = item.get("id")
        if not isinstance(ident, str):
            continue
        if ident in seen:
            problems.append(f"{key}[{index}].id: duplicate id {ident!r}")
        seen.add(ident)
    return problems


def _check_section(known: set[str], where: str, section_id: Any) -> list[str]:
    if not isinstance(section_id, str) or section_id in known:
        return []
    return [f"{where}: unknown section {section_id!r} (known: {', '.join(sorted(known))})"]


def _cross_references(data: dict[str, Any]) -> list[str]:
    """Checks across keys, run on the raw data so they add to schema errors."""
    problems = _duplicates(data, "sections") + _duplicates(data, "sources")
    problems += _duplicates(data, "digests")
    sections = _items(data, "sections")
    known = {item["id"] for _, item in sections if isinstance(item.get("id"), str)}
    if not sections or any(not isinstance(item.get("id"), str) for _, item in sections):
        return problems  # the sections themselves are wrong and reported as such
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


def _from_env(problem: str) -> str:
    """Say that a store problem comes from the environment, not from the file."""
    if problem.startswith("store: "):
        return f"store (from {STORE_ENV}): " + problem.removeprefix("store: ")
    return problem


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read, validate and resolve a config file; raise :class:`ConfigError` listing problems."""
    config_path = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    data = load_yaml(config_path)
    if data is None:
        raise ConfigError(str(config_path), ["(top level): the file is empty"])
    if not isinstance(data, dict):
        found = yaml_type(data)
        raise ConfigError(
            str(config_path), [f"(top level): expected a mapping of keys, not {found}"]
        )
    base = config_path.resolve().parent
    data = dict(data)
    if os.environ.get(STORE_ENV):
        data["store"] = resolve_store_url(os.environ[STORE_ENV], Path.cwd())
    data["path"] = config_path.resolve()
    problems = []
    try:
        config = Config.from_mapping(data, base=base)
    except Invalid as exc:
        problems = exc.lines()
    problems += _cross_references(data)
    if os.environ.get(STORE_ENV):
        problems = [_from_env(p) for p in problems]
    if problems:
        raise ConfigError(str(config_path), [printable_line(p) for p in problems])
    return config
