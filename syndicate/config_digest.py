"""What a digest looks like and when it may go out: logo, brand colour, publisher
footer, images, size budget, quiet hours and grace.

Kept apart from :mod:`syndicate.config` (which uses these models in
``DigestConfig`` and at the top level) so these keys live in one short module.
Errors carry key paths such as ``digests[0].brand_color`` like every other key.
"""

import re
from datetime import time, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from syndicate.config_checks import Length, Range, before
from syndicate.config_model import ConfigModel, model
from syndicate.schedule import parse_duration

AA_CONTRAST = 4.5
DEFAULT_QUIET = ("21:00", "08:00")
DEFAULT_SIZE_BUDGET = 90_000
DEFAULT_GRACE = timedelta(hours=1)
_HEX_RE = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _channel(value: int) -> float:
    """The linear-light value of one sRGB channel (WCAG 2 relative luminance)."""
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def contrast_with_white(color: str) -> float:
    """The WCAG 2 contrast ratio of ``#rrggbb`` (or ``#rgb``) against white, 1 to 21."""
    digits = color.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    r, g, b = (_channel(int(digits[i : i + 2], 16)) for i in (0, 2, 4))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 1.05 / (luminance + 0.05)


def _brand_color(value: str) -> str:
    """A hex colour readable as text on white (headings and links use it)."""
    if not _HEX_RE.match(value):
        raise ValueError(f"{value!r} is not a hex colour such as '#1a4fa0'")
    ratio = contrast_with_white(value)
    if ratio < AA_CONTRAST:
        raise ValueError(
            f"{value!r} has a contrast of {ratio:.1f}:1 against white; headings and links "
            f"need at least {AA_CONTRAST}:1 (WCAG AA): choose a darker colour"
        )
    return value.lower()


def _https_url(value: str) -> str:
    """An absolute https URL (images in mail must not be fetched in clear)."""
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not an absolute https:// URL")
    return value


def _clock(value: Any) -> time:
    """``"21:00"`` as a time of day (YAML may also give minutes since midnight)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)  # YAML 1.1 reads 21:00 as 1260
    match = _TIME_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a time of day such as '21:00'")
    return time(int(match[1]), int(match[2]))


def _grace(value: Any) -> timedelta:
    """A duration such as ``1h`` or ``30m`` (at least a minute, at most a week)."""
    if not isinstance(value, str):
        raise ValueError("expected a duration such as 1h or 30m")
    duration = parse_duration(value)
    if not timedelta(minutes=1) <= duration <= timedelta(days=7):
        raise ValueError(f"invalid duration {value!r}: between 1m and 7d")
    return duration


BrandColor = Annotated[str, _brand_color]
HttpsUrl = Annotated[str, Length(1, 2000), _https_url]
Clock = Annotated[time, before(_clock)]
Grace = Annotated[timedelta, before(_grace)]
Pixels = Annotated[int, Range(ge=1, le=2000)]
Words = Annotated[str, Length(1, 300)]


@model
class LogoConfig(ConfigModel):
    """The masthead logo: an https image shown ``width`` x ``height`` pixels."""

    url: HttpsUrl
    width: Pixels
    height: Pixels


@model
class PublisherConfig(ConfigModel):
    """Who sends the digest, as the footer states it (정보통신망법 제50조):
    the sender's ``name``, postal ``address`` and a ``contact`` (phone or e-mail)."""

    name: Words
    address: Words
    contact: Words


@model
class ImagesConfig(ConfigModel):
    """Lead images of articles: shown (``show``) at most ``width`` x ``height`` pixels."""

    show: bool = True
    width: Pixels = 560
    height: Pixels = 315


def _quiet(value: Any) -> Any:
    """``quiet_hours: true`` means the default 21:00 to 08:00; ``false`` means none."""
    if value is True:
        return {"start": DEFAULT_QUIET[0], "end": DEFAULT_QUIET[1]}
    if value is False:
        return None
    return value


@model
class QuietHoursConfig(ConfigModel):
    """Local hours in which no edition is built: one due inside waits until ``end``."""

    start: Clock = _clock(DEFAULT_QUIET[0])
    end: Clock = _clock(DEFAULT_QUIET[1])

    def contains(self, moment: time) -> bool:
        """True when the local time of day ``moment`` is inside the quiet hours."""
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end  # across midnight


QuietHours = Annotated[QuietHoursConfig | None, before(_quiet)]
SizeBudget = Annotated[int, Range(ge=10_000, le=10_000_000)]
