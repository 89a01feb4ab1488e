"""Hostile feed bytes (class 6): the encoding is chosen by evidence, never by habit.

BOM, then a declared charset the bytes really decode with, then UTF-8 (repairing
a few stray bytes), then CP949 only when the bytes look Korean, then a detector,
then Windows-1252. UTF-16/32 without a BOM are read; nothing is cut mid-character.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from syndicate.sources.feed import decode_feed, parse_feed
from syndicate.textcodec import decode_local_text

SEOUL = ZoneInfo("Asia/Seoul")
RSS = (
    '<rss version="2.0"><channel><title>feed</title><link>https://x.example/</link>'
    "<item><title>{}</title><link>https://x.example/1</link></item></channel></rss>"
)
DECL = '<?xml version="1.0" encoding="{}"?>\n'


def title_of(document: bytes, content_type: str | None = None) -> str:
    (article,) = parse_feed(
        document, source_id="src", section="it", zone=SEOUL, content_type=content_type
    )
    return article.title


def rss(title: bytes, declared: str | None = None) -> bytes:
    head = DECL.format(declared).encode() if declared else b""
    before, after = RSS.encode().split(b"{}")
    return head + before + title + after


@pytest.mark.parametrize("declared", [None, "utf-8"])
def test_utf8_with_one_stray_cp1252_byte_keeps_utf8(declared: str | None) -> None:
    assert title_of(rss(b"It\x92s a caf\xc3\xa9", declared)) == "It\u2019s a caf\u00e9"


def test_utf8_korean_with_stray_bytes_is_repaired_not_thrown_away() -> None:
    body = "한국 경제 ".encode() + b"\x93" + "성장".encode() + b"\x94" + " 발표".encode()
    assert title_of(rss(body, "utf-8")) == "한국 경제 \u201c성장\u201d 발표"


def test_charsets_that_rewrite_markup_are_never_used() -> None:
    for charset in ("utf-7", "unicode_escape", "rot13", "base64"):
        text = decode_feed(
            b"<rss>+ADw-script+AD4- \\x3cb\\x3e</rss>", f"text/xml; charset={charset}"
        )
        assert "<script" not in text and "<b>" not in text


@pytest.mark.parametrize(
    "text",
    ["Café crème brûlée à Noël", "\u201cQuoted\u201d \u2013 it\u2019s \u20ac5\u2026",
     "Grüße aus Köln, Straße", "Ærøskøbing søndag"],
)  # fmt: skip
@pytest.mark.parametrize("declared", [None, "iso-8859-1"])
def test_undeclared_or_declared_western_text_comes_out_right(
    text: str, declared: str | None
) -> None:
    assert title_of(rss(text.encode("cp1252"), declared)) == text


OTHER_SCRIPTS = {
    "cp1251": "Правительство сообщило сегодня о новых мерах поддержки экономики страны",
    "cp1253": "Η κυβέρνηση ανακοίνωσε σήμερα νέα μέτρα για την οικονομία της χώρας.",
    "cp1250": "Rząd ogłosił dziś nowe środki gospodarcze. Zmiany dotyczą również "
    "województwa śląskiego, powiedział minister w Łodzi.",
    "shift_jis": "東京の天気は晴れです。今日は暖かいでしょう。",
    "gb2312": "中华人民共和国国务院今天发布了关于经济发展的新政策，各地政府将积极落实。",
    "big5": "台北今天天氣晴朗，氣溫較高。",
}


@pytest.mark.parametrize("codec", sorted(OTHER_SCRIPTS))
def test_other_legacy_encodings_without_declaration_are_detected(codec: str) -> None:
    text = OTHER_SCRIPTS[codec]
    assert title_of(rss(text.encode(codec))) == text


@pytest.mark.parametrize("declared", [None, "euc-kr", "ks_c_5601-1987"])
def test_korean_legacy_bytes_still_decode(declared: str | None) -> None:
    text = "정부는 오늘 올해 경제 성장률을 발표했다 햏 똠방각하"
    assert title_of(rss(text.encode("cp949"), declared)) == text


def test_http_says_latin1_but_bytes_are_utf8_korean() -> None:
    text = "서울 한국 날씨"  # its UTF-8 bytes are also valid Windows-1252
    document = rss(text.encode(), "utf-8")
    assert title_of(document, "text/xml; charset=ISO-8859-1") == text


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("declared", [None, "utf-16", "utf-32"])
def test_utf16_and_utf32_without_bom_are_read(codec: str, declared: str | None) -> None:
    text = "세계 뉴스 \u00e9 \U0001f600"
    head = DECL.format(declared) if declared else ""
    assert title_of((head + RSS.format(text)).encode(codec)) == text


def test_truncated_character_becomes_one_replacement_not_mojibake() -> None:
    cut = "한국".encode()[:-1]  # the second character loses its last byte
    text = decode_feed(rss(b"news " + cut + b" more " + "세계".encode()))
    assert "news \ud55c\ufffd more 세계" in text


def test_local_text_uses_the_same_evidence() -> None:
    assert decode_local_text(b"It\x92s a caf\xc3\xa9")[0] == "It\u2019s a caf\u00e9"
    assert decode_local_text("Café crème brûlée".encode("cp1252"))[0] == "Café crème brûlée"
    assert decode_local_text("한똠방 기자".encode("cp949")) == ("한똠방 기자", "cp949")
    assert decode_local_text("\ufeff한글".encode()) == ("한글", "utf-8")


TEXTS = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Co", "Cn")), max_size=40
).map(lambda s: " ".join(s.split()).replace("<", "").replace("&", ""))
WIDE = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
        "utf-32-be"]  # fmt: skip


@given(text=TEXTS, codec=st.sampled_from(WIDE))
def test_unicode_feeds_round_trip_in_every_utf(text: str, codec: str) -> None:
    document = (RSS.format("x" + text)).encode(codec)
    assert f"<title>x{text}</title>" in decode_feed(document)
    assert title_of(document).startswith("x")  # feedparser's own clean-ups may follow


CONTENT_TYPES = [None, "text/xml; charset=utf-7", "text/xml; charset=base64",
                 "text/xml; charset=unicode_escape", "text/xml; charset=utf-16"]  # fmt: skip


@given(data=st.binary(max_size=300), content_type=st.sampled_from(CONTENT_TYPES))
def test_any_bytes_decode_to_text_without_surrogates(data: bytes, content_type: str | None) -> None:
    text = decode_feed(data, content_type)
    text.encode("utf-8")  # no lone surrogate survives


@given(
    words=st.lists(
        st.text(st.sampled_from("가나다한국語éüñ€ abc"), min_size=1, max_size=8),
        min_size=2, max_size=12,
    ),
    strays=st.lists(st.integers(0x80, 0xFF), max_size=3),
    data=st.data(),
)  # fmt: skip
def test_stray_bytes_inside_utf8_are_repaired_one_by_one(
    words: list[str], strays: list[int], data: st.DataObject
) -> None:
    text = "".join(words)
    assume(sum(1 for c in text if c >= "\x80") > len(strays))
    pieces, expected = [c.encode() for c in text], list(text)
    places = data.draw(st.lists(st.integers(0, len(text)), min_size=len(strays),
                                max_size=len(strays), unique=True))  # fmt: skip
    for at, stray in sorted(zip(places, strays, strict=True), reverse=True):
        pieces.insert(at, bytes([stray]))  # never two strays side by side
        expected.insert(at, bytes([stray]).decode("cp1252", "replace"))
    assert decode_local_text(b"".join(pieces))[0] == "".join(expected)
