"""Read the dates Korean news pages print, as aware datetimes in the source's timezone.

Machine dates (ISO 8601, RFC 822, compact ``20230609113500``) keep their own
offset; a value without one is wall time in the source's zone. Korean text
dates (``입력 2023.06.09 11:35``, ``2018. 05. 16. 오후 4:23``,
``2023년 6월 9일 15시 53분``) are always wall time in the source's zone. A
value is never shifted to UTC and back, so an article published at 02:00 KST
stays on its own day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from email.utils import parsedate_to_datetime

__all__ = ["Stamp", "find_text_dates", "labelled_dates", "parse_machine_date"]

_COMPACT_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T?(\d{2})(\d{2})(\d{2})?)?$")
_DATE_ONLY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TEXT_DATE_RE = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d{2})\s*(?:[.\-/]|년)\s*(?P<m>\d{1,2})\s*(?:[.\-/]|월)\s*"
    r"(?P<d>\d{1,2})(?!\d)\s*(?:일|\.)?\s*(?:[(（]\s*[월화수목금토일]\s*[)）])?\s*"
    r"[(（]?\s*(?:(?P<ampm>오전|오후|AM|PM|am|pm|a\.m\.|p\.m\.)\s*)?"
    r"(?:(?P<H>\d{1,2})\s*(?::|시)\s*(?P<M>\d{1,2})(?!\d)\s*분?"
    r"(?:\s*(?::|분)?\s*(?P<S>\d{1,2})(?!\d)\s*초?)?)?"
)
PUBLISHED_LABELS = ("최초입력", "최초 입력", "기사입력", "입력", "등록", "게재", "발행", "송고",
                    "작성", "승인", "전송", "보도", "Posted", "Published")  # fmt: skip
UPDATED_LABELS = ("최종수정", "최종 수정", "기사수정", "수정", "업데이트", "갱신", "Updated",
                  "Modified")  # fmt: skip
_LABEL_GAP = r"\s*(?:일시|시간|일자|시각|일)?\s*[:：|]?\s*"


@dataclass(frozen=True)
class Stamp:
    """A date found on a page: the aware value and whether the page gave a time of day."""

    value: datetime
    has_time: bool
    utc: bool = False


def _in_zone(value: datetime, zone: tzinfo) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=zone)
    return value.astimezone(zone)


def parse_machine_date(raw: str, zone: tzinfo) -> Stamp | None:
    """Parse a machine-readable date (ISO 8601, RFC 822, compact digits); None if it is none.

    A value with an offset is converted to ``zone`` (the same instant); a value
    without one is read as wall time in ``zone``.
    """
    text = " ".join(str(raw).split())
    if not text:
        return None
    value = _parse_iso(text) or _parse_rfc822(text) or _parse_compact(text)
    if value is None:
        stamps = find_text_dates(text, zone)
        return stamps[0] if stamps else None
    has_time = not _DATE_ONLY_RE.match(text) and len(text) > 8
    try:
        utc = value.utcoffset() is not None and not value.utcoffset()
        return Stamp(_in_zone(value, zone), has_time, utc)
    except (OverflowError, ValueError):
        return None


def _parse_iso(text: str) -> datetime | None:
    candidate = text.replace(" ", "T", 1) if re.match(r"^\d{4}-\d{2}-\d{2} \d", text) else text
    candidate = re.sub(r"([+-]\d{2})$", r"\1:00", candidate)
    try:
        return datetime.fromisoformat(candidate)
    except ValueError:
        return None


def _parse_rfc822(text: str) -> datetime | None:
    if not re.search(r"[A-Za-z]{3}", text):
        return None
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def _parse_compact(text: str) -> datetime | None:
    match = _COMPACT_RE.match(text)
    if not match:
        return None
    parts = [int(p) if p else 0 for p in match.groups()]
    try:
        return datetime(*parts)  # type: ignore[arg-type]
    except ValueError:
        return None


def _hour(match: re.Match[str]) -> int:
    hour = int(match.group("H"))
    ampm = (match.group("ampm") or "").lower()
    if ampm in ("오후", "pm", "p.m.") and hour < 12:
        return hour + 12
    if ampm in ("오전", "am", "a.m.") and hour == 12:
        return 0
    return hour


def _stamp(match: re.Match[str], zone: tzinfo) -> Stamp | None:
    has_time = match.group("H") is not None
    try:
        value = datetime(
            int(match.group("y")),
            int(match.group("m")),
            int(match.group("d")),
            _hour(match) if has_time else 0,
            int(match.group("M")) if has_time else 0,
            int(match.group("S") or 0) if has_time else 0,
            tzinfo=zone,
        )
    except ValueError:
        return None
    return Stamp(value, has_time)


def find_text_dates(text: str, zone: tzinfo) -> list[Stamp]:
    """Every date printed in ``text``, in order, read as wall time in ``zone``."""
    stamps = (_stamp(m, zone) for m in _TEXT_DATE_RE.finditer(text))
    return [s for s in stamps if s is not None]


def labelled_dates(text: str, labels: tuple[str, ...], zone: tzinfo) -> list[Stamp]:
    """Dates that directly follow one of ``labels`` (``입력 2023.06.09 11:35``), in order."""
    alternatives = "|".join(re.escape(label) for label in labels)
    found: list[tuple[int, Stamp]] = []
    for label in re.finditer(rf"(?:{alternatives}){_LABEL_GAP}", text):
        match = _TEXT_DATE_RE.match(text, label.end())
        stamp = _stamp(match, zone) if match else None
        if stamp is not None:
            found.append((label.start(), stamp))
    return [stamp for _, stamp in sorted(found, key=lambda pair: pair[0])]
