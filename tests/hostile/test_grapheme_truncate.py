"""Cutting text never splits what a reader sees as one character (a grapheme cluster).

Flags (regional-indicator pairs), ZWJ emoji families, skin tones, Hangul
syllables written as conjoining jamo, bases with combining marks and Indic
conjuncts are kept whole or left out, wherever the cut falls; the cut stays
linear on long runs of flags, marks and emoji.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from syndicate.mail import header_text
from syndicate.sanitize import grapheme_cut, truncate

KR, JP, US = "\U0001f1f0\U0001f1f7", "\U0001f1ef\U0001f1f5", "\U0001f1fa\U0001f1f8"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
RAINBOW = "\U0001f3f3\ufe0f\u200d\U0001f308"
THUMB = "\U0001f44d\U0001f3fd"
JAMO_HAN = "\u1112\u1161\u11ab"  # 한 written as three conjoining jamo
JAMO_GUK = "\u1100\u116e\u11a8"  # 국
E_ACUTE = "e\u0301"
ZALGO = "a\u0301\u0302\u0303\u0304"
KSSA = "\u0915\u094d\u0937"  # क्ष, an Indic conjunct
CLUSTERS = [KR, JP, US, FAMILY, RAINBOW, THUMB, JAMO_HAN, JAMO_GUK, E_ACUTE, ZALGO, KSSA]
CLUSTERS += ["한", "국", "어", " ", "a", ",", "\n", "\r\n"]


def clusters(text: str) -> list[str]:
    """The text's grapheme clusters, by the regex package's full-text ``\\X``."""
    return regex.findall(r"\X", text)


def boundaries(text: str) -> set[int]:
    """Every index at which a grapheme cluster starts or the text ends."""
    found, end = {0}, 0
    for cluster in clusters(text):
        end += len(cluster)
        found.add(end)
    return found


def assert_whole_clusters(text: str, result: str, limit: int, ellipsis: str) -> None:
    assert len(result) <= limit
    head = result[: len(result) - len(ellipsis)] if result.endswith(ellipsis) else result
    assert text.startswith(head)
    assert len(head) in boundaries(text), (text, result)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        (KR + JP + US + "\U0001f1eb\U0001f1f7", 2, "…"),  # was "🇰…": half a flag
        (KR + JP + US, 4, KR + "…"),
        (KR + JP + US, 5, KR + JP + "…"),
        (FAMILY * 2, 9, FAMILY + "…"),
        (FAMILY * 2, 7, "…"),
        (RAINBOW * 3, 4, "…"),
        (RAINBOW * 3, 5, RAINBOW + "…"),
        (THUMB * 3, 4, THUMB + "…"),
        (JAMO_HAN + JAMO_GUK + "어", 5, JAMO_HAN + "…"),
        (JAMO_HAN + JAMO_GUK + "어", 3, "…"),
        (E_ACUTE * 4, 4, E_ACUTE + "…"),
        (ZALGO + "b", 4, "…"),
        (KSSA + "र", 3, "…"),
        ("대한민국 " + KR + " 만세", 7, "대한민국…"),
    ],
)
def test_cuts_fall_between_clusters(text: str, limit: int, expected: str) -> None:
    assert truncate(text, limit) == expected


def test_without_ellipsis_and_below_its_length() -> None:
    assert truncate(KR + JP, 3, ellipsis="") == KR
    assert truncate(KR + JP, 1) == ""
    assert truncate(FAMILY, 5, ellipsis="") == ""
    assert truncate(JAMO_HAN * 3, 8, ellipsis="") == JAMO_HAN * 2


@pytest.mark.parametrize("prefix", ["", "a", "한", KR, "a" + KR + "b"])
def test_flag_parity_is_counted_from_the_start_of_the_run(prefix: str) -> None:
    text = prefix + KR * 50 + JP
    for cut in range(len(text) + 1):
        assert grapheme_cut(text, cut) == max(b for b in boundaries(text) if b <= cut)


def test_korean_text_cut_at_a_word() -> None:
    text = "서울 시내 버스 파업이 사흘째 이어지고 있습니다"
    assert truncate(text, 12) == "서울 시내 버스…"
    assert truncate(text, 100) == text


def test_mail_header_cut_keeps_clusters() -> None:
    name = "김이" + KR * 150
    shown = header_text(name, 200)
    assert len(shown) <= 200 and shown.endswith("…")
    assert len(shown) - 1 in boundaries(name)


@given(st.lists(st.sampled_from(CLUSTERS), max_size=40), st.integers(0, 120), st.booleans())
def test_any_cut_keeps_whole_clusters(parts: list[str], limit: int, ellipsis: bool) -> None:
    text = "".join(parts)
    mark = "…" if ellipsis else ""
    assert_whole_clusters(text, truncate(text, limit, ellipsis=mark), limit, mark)
    cut = grapheme_cut(text, limit)
    assert cut == max(b for b in boundaries(text) if b <= limit)


LONG_RUNS = [
    "KR * 500_000",
    "KR * 500_000 + 'x' + '\\u0301' * 5000",
    "'a' + '\\u0301' * 1_000_000",
    "FAMILY * 200_000",
    "JAMO_HAN * 300_000",
    "'\\u1100' * 1_000_000",
    "KSSA * 300_000",
]


def test_cutting_long_runs_is_linear() -> None:
    """Three cuts of each million-character run finish well inside the timeout.

    The regex package's ``\\X`` is quadratic on a run of regional indicators
    (10,000 flags take seconds); the cut must never scan such a run with it.
    """
    names = f"KR, FAMILY, JAMO_HAN, KSSA = {KR!r}, {FAMILY!r}, {JAMO_HAN!r}, {KSSA!r}\n"
    code = (
        "from syndicate.sanitize import truncate\n"
        + names
        + f"for text in [{', '.join(LONG_RUNS)}]:\n"
        + "    for cut in (len(text) // 2, len(text) - 7, len(text) - 1):\n"
        + "        truncate(text, cut, ellipsis='')\n"
        + "        truncate(text, cut)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
