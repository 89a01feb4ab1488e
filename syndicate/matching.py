"""What two articles from different sources are compared on: a normalised URL and title.

Pure text functions, no I/O. :func:`match_url` drops what does not name the
story (tracking parameters such as ``utm_*`` or ``fbclid``, mobile host prefixes
such as ``m.``, the scheme, the fragment, parameter order); :func:`match_title`
keeps only the letters and digits of a title, without a leading tag such as
``[속보]``. :class:`Matching` carries the configurable lists; the keys stored
and compared are SHA-256 hashes of the normalised texts.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

TRACKING_PARAMS: tuple[str, ...] = (
    "utm_*", "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
    "mc_cid", "mc_eid", "igshid", "_ga", "_gl", "ref_src", "cmpid", "spm",
)  # fmt: skip
"""Query parameters dropped by default (``fnmatch`` patterns, matched case-insensitively)."""

FOLDED_HOSTS: tuple[str, ...] = ("www.", "m.", "mobile.", "amp.")
"""Host prefixes dropped by default, so ``m.news.example.kr`` matches ``news.example.kr``."""

TITLE_WINDOW = timedelta(hours=48)
"""How far apart two articles with the same title may be published and still be one story."""

MIN_TITLE_CHARS = 8
"""Titles shorter than this (letters and digits) never match: too many stories share them."""

_LEADING_TAG = re.compile(r"^\s*(?:[\[【〔<(（][^\]】〕>)）]{1,12}[\]】〕>)）]\s*)+")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Matching:
    """How articles are matched across sources (the ``duplicates:`` section of the config)."""

    drop_params: tuple[str, ...] = TRACKING_PARAMS
    fold_hosts: tuple[str, ...] = FOLDED_HOSTS
    title_window: timedelta = TITLE_WINDOW
    enabled: bool = True

    def dropped(self, name: str) -> bool:
        """True when query parameter ``name`` is one the config drops."""
        return _dropping(self.drop_params).match(name.lower()) is not None


@functools.lru_cache(maxsize=16)
def _dropping(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One expression for the ``fnmatch`` patterns of dropped parameters (lowercased)."""
    if not patterns:
        return re.compile(r"(?!)")
    return re.compile("|".join(fnmatch.translate(pattern.lower()) for pattern in patterns))


DEFAULT_MATCHING = Matching()
"""The default lists: what an empty ``duplicates:`` section means."""


def _host(host: str, fold: tuple[str, ...]) -> str:
    host = host.lower().rstrip(".")
    for prefix in fold:
        if host.startswith(prefix.lower()) and host.count(".") > 1:
            return host[len(prefix) :]
    return host


def match_url(url: str, matching: Matching = DEFAULT_MATCHING) -> str:
    """``url`` as compared across sources: no scheme, folded host, no tracking or fragment.

    ``""`` for anything that is not an absolute http(s) URL.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return ""
    host = _host(parts.hostname, matching.fold_hosts)
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    query = parse_qsl(parts.query, keep_blank_values=True) if parts.query else []
    kept = sorted((k, v) for k, v in query if not matching.dropped(k))
    path = parts.path.rstrip("/") or "/"
    return f"//{host}{path}" + (f"?{urlencode(kept)}" if kept else "")


def match_title(title: str) -> str:
    """``title`` as compared across sources: NFKC, case-folded, letters and digits only."""
    text = _LEADING_TAG.sub("", unicodedata.normalize("NFKC", title))
    return "".join(filter(str.isalnum, text.casefold()))


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def url_key(url: str, matching: Matching = DEFAULT_MATCHING) -> str | None:
    """The stored key of an article's URL; None when the URL cannot be matched."""
    normal = match_url(url, matching)
    return _hash(normal) if normal else None


def title_key(title: str) -> str | None:
    """The stored key of an article's title; None when it is too short to match on."""
    normal = match_title(title)
    return _hash(normal) if len(normal) >= MIN_TITLE_CHARS else None
