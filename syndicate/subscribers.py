"""Import subscribers from a CSV file.

Columns (header row required, order free): ``email`` (required), ``name``,
``digest``, ``sections``, ``consented_at``, ``status``. ``sections`` holds
section ids or display names separated by spaces, commas, ``;`` or ``|``; empty
means every section the digest offers. The file is validated completely before
anything is stored: one bad line means nothing is imported, and every problem
is reported as ``file:line: problem``. UTF-8 (with or without BOM) is expected;
CP949, which Korean spreadsheet programs write, is recognised too.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from syndicate.config import Config
from syndicate.errors import SubscriberFileError
from syndicate.model import Subscription, normalize_email, utcnow
from syndicate.store import Store
from syndicate.textcodec import decode_local_text

logger = logging.getLogger(__name__)

STATUSES = ("active", "unsubscribed")
_SPLIT = re.compile(r"[\s,;|]+")
_MAX_PROBLEMS = 20


@dataclass(frozen=True)
class SubscriberRow:
    """One validated line of a subscribers file."""

    line: int
    email: str
    name: str
    digest_id: str
    sections: tuple[str, ...]
    consent_at: datetime | None
    status: str


@dataclass
class ImportReport:
    """What an import did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_unsubscribed: int = 0

    @property
    def total(self) -> int:
        """Rows taken into account."""
        return self.created + self.updated + self.unchanged + self.kept_unsubscribed


def _decode(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SubscriberFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text, encoding = decode_local_text(raw)
    except UnicodeDecodeError:
        raise SubscriberFileError(f"{path}: not UTF-8 or CP949 text") from None
    if encoding != "utf-8":
        logger.info("%s: not UTF-8; read as %s", path, encoding)
    return text


def _section_lookup(config: Config) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for section in config.section_list():
        lookup[section.id.lower()] = section.id
        lookup[section.name.lower()] = section.id
    return lookup


class _RowParser:
    """Validates rows against the config, collecting problems."""

    def __init__(self, config: Config, default_digest: str | None) -> None:
        self.config = config
        self.sections = _section_lookup(config)
        ids = [d.id for d in config.digests]
        self.default_digest = default_digest or (ids[0] if len(ids) == 1 else None)

    def parse(self, line: int, row: dict[str, str]) -> SubscriberRow:
        """Return a validated row or raise ValueError with the problem."""
        email = normalize_email(row.get("email") or "")
        digest_id = (row.get("digest") or "").strip() or self.default_digest
        if not digest_id:
            raise ValueError("no digest given (add a 'digest' column or pass --digest)")
        try:
            digest = self.config.digest(digest_id)
        except KeyError:
            raise ValueError(f"unknown digest {digest_id!r}") from None
        offered = {s.id for s in self.config.digest_sections(digest)}
        sections = self._sections(row.get("sections") or "", offered, digest_id)
        status = (row.get("status") or "active").strip().lower()
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        consent = _parse_time(row.get("consented_at") or "", self.config)
        name = " ".join((row.get("name") or "").split())
        return SubscriberRow(line, email, name, digest_id, sections, consent, status)

    def _sections(self, text: str, offered: set[str], digest_id: str) -> tuple[str, ...]:
        chosen: list[str] = []
        for token in (t for t in _SPLIT.split(text.strip()) if t):
            section_id = self.sections.get(token.lower())
            if section_id is None:
                raise ValueError(f"unknown section {token!r}")
            if section_id not in offered:
                raise ValueError(f"digest {digest_id!r} does not offer section {section_id!r}")
            if section_id not in chosen:
                chosen.append(section_id)
        return tuple(chosen)


def _parse_time(text: str, config: Config) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"consented_at {text!r} is not an ISO 8601 time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=config.timezone)
    return value


def _reader(text: str, path: Path) -> csv.DictReader[str]:
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "email" not in fields:
        raise SubscriberFileError(f"{path}:1: header row needs an 'email' column")
    reader.fieldnames = fields
    return reader


def read_subscribers(
    path: Path, config: Config, *, default_digest: str | None = None
) -> list[SubscriberRow]:
    """Read and validate a whole subscribers file; raise SubscriberFileError on any problem."""
    reader = _reader(_decode(path), path)
    parser = _RowParser(config, default_digest)
    rows: list[SubscriberRow] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for row in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        try:
            parsed = parser.parse(line, row)
        except ValueError as exc:
            problems.append(f"{path}:{line}: {exc}")
            continue
        key = (parsed.email, parsed.digest_id)
        if key in seen:
            problems.append(f"{path}:{line}: {parsed.email} already listed on line {seen[key]}")
        seen[key] = line
        rows.append(parsed)
    if problems:
        more = len(problems) - _MAX_PROBLEMS
        shown = problems[:_MAX_PROBLEMS] + ([f"... and {more} more"] if more > 0 else [])
        raise SubscriberFileError("\n".join(shown))
    return rows


def import_subscribers(
    config: Config, store: Store, path: Path, *, default_digest: str | None = None
) -> ImportReport:
    """Validate ``path`` completely, then create or update its subscribers and subscriptions.

    Someone who unsubscribed is never re-subscribed by an import.
    """
    rows = read_subscribers(path, config, default_digest=default_digest)
    existing = _existing_subscriptions(config, store)
    report = ImportReport()
    now = utcnow()
    for row in rows:
        current = existing.get((row.email, row.digest_id))
        if current is not None and current.status == "unsubscribed" and row.status == "active":
            logger.info("%s stays unsubscribed from %s", row.email, row.digest_id)
            report.kept_unsubscribed += 1
            continue
        if current is not None and _same(current, row):
            report.unchanged += 1
            continue
        subscriber = store.upsert_subscriber(row.email, row.name)
        consent = row.consent_at or (current.consent_at if current else None) or now
        store.set_subscription(
            subscriber.id, row.digest_id, row.sections, status=row.status, consent_at=consent
        )
        if current is None:
            report.created += 1
        else:
            report.updated += 1
    return report


def _same(current: Subscription, row: SubscriberRow) -> bool:
    return (
        current.sections == row.sections
        and current.status == row.status
        and (not row.name or current.subscriber.name == row.name)
        and (row.consent_at is None or current.consent_at == row.consent_at)
    )


def _existing_subscriptions(config: Config, store: Store) -> dict[tuple[str, str], Subscription]:
    found: dict[tuple[str, str], Subscription] = {}
    for digest in config.digests:
        for sub in store.subscriptions(digest.id, status=None):
            found[(sub.subscriber.email, digest.id)] = sub
    return found


def unsubscribe(store: Store, who: str, *, digest_id: str | None = None) -> list[Subscription]:
    """Unsubscribe an address (from every digest, or ``digest_id``) or one subscription token.

    Returns the subscriptions that were active and are now unsubscribed.
    """
    found = _find_subscriptions(store, who)
    changed = []
    for sub in found:
        if sub.status != "active" or (digest_id and sub.digest_id != digest_id):
            continue
        changed.append(
            store.set_subscription(
                sub.subscriber.id,
                sub.digest_id,
                sub.sections,
                status="unsubscribed",
                consent_at=sub.consent_at,
            )
        )
        logger.info("%s unsubscribed from %s", sub.subscriber.email, sub.digest_id)
    return changed


def _find_subscriptions(store: Store, who: str) -> list[Subscription]:
    if "@" not in who:
        by_token = store.subscription_by_token(who.strip())
        return [by_token] if by_token else []
    try:
        address = normalize_email(who)
    except ValueError as exc:
        raise SubscriberFileError(str(exc)) from None
    for subscriber, subscriptions in store.list_subscribers():
        if subscriber.email == address:
            return subscriptions
    return []
