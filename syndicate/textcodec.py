"""Decode untrusted bytes to text by evidence, for feeds and local files alike.

The order is: a byte-order mark; UTF-16/32 recognised by the pattern of zero
bytes around ASCII markup; a declared charset the bytes really decode with;
UTF-8, repairing a few stray Windows-1252 bytes when the rest is UTF-8; CP949
only when the bytes look Korean; a detector (``charset-normalizer``) for other
scripts; Windows-1252 last. Charsets that rewrite ASCII (UTF-7, ``unicode_escape``)
are never used, and the result never holds a lone surrogate or half a character.
"""

from __future__ import annotations

import codecs
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from charset_normalizer import CharsetMatch, CharsetMatches

logger = logging.getLogger(__name__)

KOREAN = "cp949"
_KOREAN_LABELS = {"euc-kr", "euckr", "euc_kr", "ks_c_5601-1987", "ks_c_5601", "ksc5601",
                  "ksc_5601", "x-windows-949", "windows-949", "cp949", "ms949", "uhc",
                  "korean"}  # fmt: skip
_LATIN_LABELS = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii",
                 "ansi_x3.4-1968", "646", "windows-1252", "cp1252"}  # fmt: skip
_WIDE = ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be")
# Korean is decided by its own check (_by_korean); wide encodings by zero bytes or a BOM.
_NOT_DETECTED = frozenset({KOREAN, "johab", *_WIDE})
_REWRITING = {"utf-7", "idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined"}
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Which byte of each 4-byte group is zero for ASCII text: (codec, zero positions mod 4).
_ZERO_PATTERNS = (
    ("utf-32-be", (0, 1, 2)),
    ("utf-32-le", (1, 2, 3)),
    ("utf-16-be", (0, 2)),
    ("utf-16-le", (1, 3)),
)
_ASCII_PROBE = "<?xml version=\"1.0\"?>\n<RSS a='b'>+-&amp;\\~ \\u0041\\x41</RSS>"
_UTF8_SEQ = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_HIGH = bytes(range(0x80, 0x100))
_ADJACENT_HIGH = re.compile(rb"[\x80-\xff]{2}")
_SAMPLE = 4096
_KOREAN_SAMPLE = 1 << 16
_DETECTOR_SAMPLE = 1 << 17
_DETECTOR_MIN_HIGH_BYTES = 8  # fewer non-ASCII bytes than this tell nothing about a script
_COHERENCE_MARGIN = 0.1
_KOREAN_CONFIRM = 4
_OTHER_CJK = {"gb2312", "gbk", "gb18030", "hz", "big5", "big5hkscs", "cp950", "euc_jp",
              "euc_jis_2004", "euc_jisx0213", "shift_jis", "shift_jis_2004", "shift_jisx0213",
              "cp932", "iso2022_jp"}  # fmt: skip
_WORD_PUNCTUATION = "\u2019\u2018\u00b4\u00b7\u2010\u2011\u2013\u2014\u00ad"
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@dataclass(frozen=True)
class Decoded:
    """Text decoded from bytes, the codec used and why it was chosen."""

    text: str
    encoding: str
    evidence: str


# --- charset labels ----------------------------------------------------------------


def normalize_charset(label: str | None) -> str | None:
    """Return the Python codec for a charset label, or None when unknown or unsafe.

    Korean labels map to ``cp949`` (EUC-KR's superset), Latin-1 and ASCII to
    ``cp1252`` (as browsers do); codecs that are no text encoding or that do not
    leave ASCII markup as it is (UTF-7, ``unicode_escape``, ``idna``) give None.
    """
    if not label:
        return None
    name = label.strip().strip("\"'").strip().lower()
    if name in _KOREAN_LABELS:
        return KOREAN
    if name in _LATIN_LABELS:
        return "cp1252"
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if info.name in _WIDE or (info.name not in _REWRITING and _keeps_ascii(info.name)):
        return info.name
    return None


def _keeps_ascii(codec: str) -> bool:
    try:
        raw = _ASCII_PROBE.encode(codec)
        return raw == _ASCII_PROBE.encode("ascii") and raw.decode(codec) == _ASCII_PROBE
    except (LookupError, UnicodeError, TypeError):
        return False


# --- strategies ---------------------------------------------------------------------


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _by_bom(data: bytes) -> Decoded | None:
    """A byte-order mark; FF FE 00 00 is UTF-32 only if the rest decodes as UTF-32."""
    for bom, codec in _BOMS:
        rest = data[len(bom) :]
        if not data.startswith(bom) or (
            codec.startswith("utf-32") and _strict(rest, codec) is None
        ):
            continue
        return Decoded(_lenient(rest, codec), codec, "byte-order mark")
    return None


def _by_zero_bytes(data: bytes) -> Decoded | None:
    """Recognise UTF-16/32 without a BOM: ASCII markup leaves zero bytes at fixed offsets."""
    sample = data[: _SAMPLE - _SAMPLE % 4] if len(data) >= 4 else b""
    if not sample or sample.count(0) * 10 < len(sample):
        return None
    share = [sample[offset::4].count(0) / len(sample[offset::4]) for offset in range(4)]
    for codec, zeros in _ZERO_PATTERNS:
        inside = min(share[i] for i in zeros)
        outside = max((share[i] for i in range(4) if i not in zeros), default=0.0)
        if inside >= 0.2 and outside * 4 <= inside:
            return Decoded(data.decode(codec, "replace"), codec, "zero-byte pattern")
    return None


def _single_byte(codec: str) -> bool:
    return len(b"\xc3\xa9".decode(codec, "replace")) == 2


def _by_declaration(data: bytes, declared: Iterable[str | None]) -> Decoded | None:
    """Use the first declared charset the bytes decode with (valid UTF-8 beats a 1-byte one)."""
    for label in declared:
        codec = normalize_charset(label)
        if codec is None or codec in _WIDE:
            continue
        if _single_byte(codec) and _has_utf8_sequences(data) and _strict(data, "utf-8"):
            return None  # multi-byte UTF-8 is no accident: the label is wrong
        text = _strict(data, codec)
        if text is not None:
            return Decoded(text, codec, f"declared {label}")
    return None


def _has_utf8_sequences(data: bytes) -> bool:
    return _UTF8_SEQ.search(data) is not None


def _by_utf8(data: bytes) -> Decoded | None:
    """UTF-8, repairing stray bytes when valid sequences outnumber invalid bytes."""
    text = _strict(data, "utf-8")
    if text is not None:
        return Decoded(text, "utf-8", "valid UTF-8")
    sequences = _UTF8_SEQ.findall(data)
    stray = len(data) - len(data.translate(None, _HIGH)) - sum(map(len, sequences))
    if not sequences or stray > len(sequences):
        return None
    repaired = data.decode("utf-8", "syndicate-stray-cp1252")
    return Decoded(repaired, "utf-8", f"UTF-8 with {stray} stray byte(s) read as Windows-1252")


def _by_korean(data: bytes) -> Decoded | None:
    """CP949 when Hangul syllables dominate and mostly come from EUC-KR's lead-byte range.

    Lead bytes below 0xA1 are also Windows-1252 punctuation before an ASCII
    letter (``It\\x92s`` would read ``It뭩``), so they count against Korean; so
    does every byte sequence CP949 cannot decode.
    """
    text = data.decode(KOREAN, "replace")
    hangul = weak = other = 0
    for match in _NON_ASCII.finditer(text, 0, _KOREAN_SAMPLE):
        char = match.group()
        if char == "\ufffd" or char.encode(KOREAN)[0] < 0xA1:
            weak += 1 if char != "\ufffd" else 2
        elif "\uac00" <= char <= "\ud7a3":
            hangul += 1
        else:
            other += 1
    if hangul <= weak or hangul < other:
        return None
    if hangul >= _KOREAN_CONFIRM and _detected(data) in _OTHER_CJK:
        return None  # GB2312/Big5/EUC-JP use the same byte ranges; the detector can tell
    return Decoded(text, KOREAN, "looks Korean")


def _detected(data: bytes) -> str | None:
    from charset_normalizer import from_bytes  # the detector: loaded when a text needs it

    best = from_bytes(data[:_DETECTOR_SAMPLE]).best()
    return normalize_charset(best.encoding) if best is not None else None


def _by_detector(data: bytes) -> Decoded | None:
    """Ask charset-normalizer; a Latin-script guess must beat Windows-1252 on evidence."""
    sample = data[:_DETECTOR_SAMPLE]
    if sum(1 for byte in sample if byte >= 0x80) < _DETECTOR_MIN_HIGH_BYTES:
        return None
    from charset_normalizer import from_bytes

    matches = from_bytes(sample)
    best = matches.best()
    codec = normalize_charset(best.encoding) if best is not None else None
    if best is None or codec is None or codec in _NOT_DETECTED:
        return None
    if not _single_byte(codec) and not _ADJACENT_HIGH.search(data):
        return None  # multi-byte scripts put high bytes side by side
    text = data.decode(codec, "replace")
    if _mostly_latin(text[:_DETECTOR_SAMPLE]) and not _beats_cp1252(data, text, best, matches):
        return None
    return Decoded(text, codec, f"detected ({best.language})")


def _beats_cp1252(data: bytes, text: str, best: CharsetMatch, matches: CharsetMatches) -> bool:
    """A Latin-script guess wins when Windows-1252 puts symbols inside words (``og³osi³``)
    or the detector finds its text clearly more coherent."""
    western = data[:_DETECTOR_SAMPLE].decode("cp1252", "replace")
    if _symbols_in_words(western) > _symbols_in_words(text[:_DETECTOR_SAMPLE]):
        return True
    coherence = [m.coherence for m in matches if m.encoding in ("cp1252", "latin_1")]
    return bool(coherence) and best.coherence - max(coherence) >= _COHERENCE_MARGIN


def _symbols_in_words(text: str) -> int:
    count = 0
    for match in _NON_ASCII.finditer(text):
        at = match.start()
        if (
            not match.group().isalpha()
            and match.group() not in _WORD_PUNCTUATION
            and 0 < at < len(text) - 1
            and text[at - 1].isalpha()
            and text[at + 1].isalpha()
        ):
            count += 1
    return count


def _mostly_latin(text: str) -> bool:
    letters = [c for c in text if c >= "\x80" and c.isalpha()]
    latin = sum(1 for c in letters if unicodedata.name(c, "").startswith("LATIN"))
    return latin * 2 >= len(letters)


def _lenient(data: bytes, codec: str) -> str:
    if codec == "utf-8":
        return data.decode(codec, "syndicate-stray-cp1252")
    return data.decode(codec, "replace")


def _stray_cp1252(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: one stray byte is Windows-1252; a cut-off character is U+FFFD."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    if len(bad) > 1:
        return "\ufffd", exc.end
    return bad.decode("cp1252", "replace"), exc.end


codecs.register_error("syndicate-stray-cp1252", _stray_cp1252)


# --- public -------------------------------------------------------------------------


def http_charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of an HTTP ``Content-Type`` value, if any."""
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    return charset if isinstance(charset, str) else None


def decode_bytes(data: bytes, declared: Iterable[str | None] = ()) -> Decoded:
    """Decode ``data`` by evidence; ``declared`` lists charset labels, most trusted first."""
    decoded = (
        _by_bom(data)
        or _by_zero_bytes(data)
        or _by_declaration(data, declared)
        or _by_utf8(data)
        or _by_korean(data)
        or _by_detector(data)
    )
    if decoded is None:
        decoded = Decoded(data.decode("cp1252", "replace"), "cp1252", "fallback")
    return decoded


def decode_local_text(data: bytes) -> tuple[str, str]:
    """Return ``(text, encoding)`` of a local file decoded by evidence (a BOM is dropped).

    ``encoding`` is ``"utf-8"`` for clean UTF-8; anything else names what was used.
    Raises UnicodeDecodeError when no encoding explains the bytes (the Windows-1252
    fallback meets bytes it does not define).
    """
    decoded = decode_bytes(data)
    if decoded.evidence == "fallback" and "\ufffd" in decoded.text:
        position = decoded.text.index("\ufffd")
        raise UnicodeDecodeError("cp1252", data, position, position + 1, "no encoding fits")
    if decoded.encoding == "utf-8" and decoded.evidence not in ("valid UTF-8", "byte-order mark"):
        return decoded.text, f"utf-8 ({decoded.evidence})"
    return decoded.text, decoded.encoding
