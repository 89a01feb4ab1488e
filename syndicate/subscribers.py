"""Import subscribers from a CSV file.

Columns (header row required, order free): ``email`` (required), ``name``,
``digest``, ``sections``, ``consented_at``, ``status`` (``active`` or
``unsubscribed``). ``sections`` holds section ids or display names separated
by spaces, commas, ``;`` or ``|``; empty means every section the digest
offers. The file is validated completely before anything is stored: one bad
line means nothing is imported, and every problem is reported as
``file:line: problem``. UTF-8 (with or without BOM) is expected; CP949, which
Korean spreadsheet programs write, is recognised too.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syndicate.addresses import normalize_address
from syndicate.config import Config
from syndicate.errors import SubscriberFileError, one_line
from syndicate.files import UnreadableFile, read_regular_file
from syndicate.model import (
    ConsentMethod,
    Subscription,
    SubscriptionState,
    requested_subscription,
    utcnow,
)
from syndicate.store import Store, SubscriptionEntry
from syndicate.textcodec import decode_local_text

if TYPE_CHECKING:
    from _csv import Reader as _CsvReader

logger = logging.getLogger(__name__)

_KEPT = frozenset(
    state
    for state in SubscriptionState
    if all(requested_subscription(state, asked) is state for asked in SubscriptionState)
)
"""States an import never changes (unsubscribed, bounced), even when reached meanwhile."""
_SPLIT = re.compile(r"[\s,;|]+")
_MAX_PROBLEMS = 20
MAX_NAME = 200
MAX_FIELD = 1000
MAX_FILE_BYTES = 50_000_000


@dataclass(frozen=True)
class SubscriberRow:
    """One validated line of a subscribers file."""

    line: int
    email: str
    name: str
    digest_id: str
    sections: tuple[str, ...]
    consent_at: datetime | None
    status: SubscriptionState


@dataclass
class ImportReport:
    """What an import did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_unsubscribed: int = 0


def _read(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES (never a FIFO or device)."""
    try:
        return read_regular_file(path, MAX_FILE_BYTES)
    except UnreadableFile as exc:
        if exc.too_large:
            limit = MAX_FILE_BYTES // 1_000_000
            raise SubscriberFileError(f"{path}: larger than {limit} MB; split it") from None
        raise SubscriberFileError(f"{path}: {exc}") from None


def _decode(path: Path) -> str:
    raw = _read(path)
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
        self._offers: dict[str, frozenset[str]] = {}

    def parse(self, line: int, row: dict[str | None, Any]) -> SubscriberRow:
        """Return a validated row or raise ValueError with the problem."""
        _check_fields(row)
        email = normalize_address(row.get("email") or "")
        digest_id = (row.get("digest") or "").strip() or self.default_digest
        if not digest_id:
            raise ValueError("no digest given (add a 'digest' column or pass --digest)")
        offered = self._offered(digest_id)
        sections = self._sections(row.get("sections") or "", offered, digest_id)
        status = SubscriptionState.parse(row.get("status") or SubscriptionState.ACTIVE)
        if status is SubscriptionState.PENDING:
            raise ValueError("status 'pending' is only set by the subscribe form")
        consent = _parse_time(row.get("consented_at") or "", self.config)
        name = one_line(row.get("name") or "")
        if len(name) > MAX_NAME:
            raise ValueError(f"name is longer than {MAX_NAME} characters")
        return SubscriberRow(line, email, name, digest_id, sections, consent, status)

    def _offered(self, digest_id: str) -> frozenset[str]:
        """The section ids ``digest_id`` offers (looked up once per digest)."""
        if digest_id not in self._offers:
            try:
                digest = self.config.digest(digest_id)
            except KeyError:
                raise ValueError(f"unknown digest {digest_id!r}") from None
            self._offers[digest_id] = frozenset(s.id for s in self.config.digest_sections(digest))
        return self._offers[digest_id]

    def _sections(self, text: str, offered: frozenset[str], digest_id: str) -> tuple[str, ...]:
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


def _check_fields(row: dict[Any, Any]) -> None:
    """Refuse NUL characters and over-long fields (before anything else looks at them)."""
    for key, value in row.items():
        column = "an extra column" if key is None else f"column {key!r}"
        for text in value if isinstance(value, list) else [value or ""]:
            if "\x00" in text:
                raise ValueError(f"{column} contains a NUL character")
            if len(text) > MAX_FIELD:
                raise ValueError(f"{column} is longer than {MAX_FIELD} characters")


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


def _reader(text: str, path: Path) -> tuple[list[str], _CsvReader]:
    """Return the lowercased column names and the reader positioned after the header row."""
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect=dialect)
    try:
        fields = [f.strip().lower() for f in next(reader, [])]
    except csv.Error as exc:
        raise SubscriberFileError(
            f"{path}:1: cannot read the header row: {_csv_reason(exc)}"
        ) from None
    if "email" not in fields:
        raise SubscriberFileError(f"{path}:1: header row needs an 'email' column")
    return fields, reader


def _rows(
    fields: list[str], reader: _CsvReader, problems: list[str], path: Path
) -> Iterator[tuple[int, dict[str | None, Any]]]:
    """Yield (first line, row) for each non-blank row; an unreadable line becomes a problem.

    Like :class:`csv.DictReader`: missing cells are ``None``, extra cells go to key ``None``.
    """
    end = reader.line_num
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.append(f"{path}:{start}: cannot read the line: {_csv_reason(exc)}")
            continue
        finally:
            end = reader.line_num
        row: dict[str | None, Any] = dict(zip(fields, cells, strict=False))
        row.update({f: None for f in fields[len(cells) :]})
        if len(cells) > len(fields):
            row[None] = cells[len(fields) :]
        if any(c.strip() for c in cells):
            yield start, row


def _csv_reason(exc: csv.Error) -> str:
    text = one_line(str(exc))
    limit = csv.field_size_limit()
    if "field larger than field limit" in text:
        return f"a field is longer than {limit} characters"
    return text


def _summary(problems: list[str]) -> str:
    more = len(problems) - _MAX_PROBLEMS
    return "\n".join(problems[:_MAX_PROBLEMS] + ([f"... and {more} more"] if more > 0 else []))


def read_subscribers(
    path: Path, config: Config, *, default_digest: str | None = None
) -> list[SubscriberRow]:
    """Read and validate a whole subscribers file; raise SubscriberFileError on any problem.

    Every bad line is reported as ``file:line: problem`` (the first 20, then a count).
    """
    fields, reader = _reader(_decode(path), path)
    parser = _RowParser(config, default_digest)
    rows: list[SubscriberRow] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in _rows(fields, reader, problems, path):
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
        raise SubscriberFileError(_summary(problems))
    return rows


def import_subscribers(
    config: Config, store: Store, path: Path, *, default_digest: str | None = None
) -> ImportReport:
    """Validate ``path`` completely, then create or update its subscribers and subscriptions.

    Someone who unsubscribed is never re-subscribed by an import.
    """
    rows = read_subscribers(path, config, default_digest=default_digest)
    existing = _existing_subscriptions(store, rows)
    report = ImportReport()
    now = utcnow()
    entries: list[SubscriptionEntry] = []
    for row in rows:
        current = existing.get((row.email, row.digest_id))
        was = current.status if current is not None else None
        if requested_subscription(was, row.status) is not row.status:
            logger.info("%s stays unsubscribed from %s", row.email, row.digest_id)
            report.kept_unsubscribed += 1
        elif current is not None and _same(current, row):
            report.unchanged += 1
        else:
            consent = row.consent_at or (current.consent_at if current else None) or now
            # the file vouches for consent when it is new or names its time
            method = ConsentMethod.IMPORT if current is None or row.consent_at else None
            entries.append(
                SubscriptionEntry(
                    row.email, row.name, row.digest_id, row.sections, row.status, consent, method
                )
            )
            report.created += current is None
            report.updated += current is not None
    store.save_subscriptions(entries, keep=_KEPT)
    return report


def _same(current: Subscription, row: SubscriberRow) -> bool:
    return (
        current.sections == row.sections
        and current.status == row.status
        and (not row.name or current.subscriber.name == row.name)
        and (row.consent_at is None or current.consent_at == row.consent_at)
    )


def _existing_subscriptions(
    store: Store, rows: list[SubscriberRow]
) -> dict[tuple[str, str], Subscription]:
    """(address, digest id) -> the stored subscription, for the addresses in ``rows``."""
    found = store.subscriptions_for([row.email for row in rows])
    return {(sub.subscriber.email, sub.digest_id): sub for sub in found}


def unsubscribe(store: Store, who: str, *, digest_id: str | None = None) -> list[Subscription]:
    """Unsubscribe an address (from every digest, or ``digest_id``) or one subscription token.

    Returns the subscriptions that were active and are now unsubscribed.
    """
    found = _find_subscriptions(store, who)
    changed = []
    for sub in found:
        if not sub.status.receives or (digest_id and sub.digest_id != digest_id):
            continue
        changed.append(
            store.set_subscription(
                sub.subscriber.id,
                sub.digest_id,
                sub.sections,
                status=SubscriptionState.UNSUBSCRIBED,
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
        address = normalize_address(who)
    except ValueError as exc:
        raise SubscriberFileError(str(exc)) from None
    for subscriber, subscriptions in store.list_subscribers():
        if subscriber.email == address:
            return subscriptions
    return []
