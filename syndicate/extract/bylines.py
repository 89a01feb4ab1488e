"""Reporter names from Korean bylines, and the byline patterns the body cleaner removes.

A reporter is a Korean personal name (2-4 syllables starting with a common
surname) followed by a title such as 기자 or 특파원; several may be joined by
``·``, ``,`` or spaces before one title (``홍길동·김철수 기자``). Outlets and
portals (연합뉴스, 네이버, anything ending in 뉴스/일보/신문/방송...) are never
names. Recognised forms::

    [아이뉴스24 박진영 기자]            (서울=연합뉴스) 김병수 특파원 =
    /박진영 기자(sunlight@inews24.com)  홍길동 기자 hong@x.co.kr
    박준석 기자 외 1명                  Hong Gil-dong (structured fields only)
"""

from __future__ import annotations

import re

__all__ = [
    "HEAD_BYLINE_RE",
    "TAIL_BYLINE_RE",
    "is_outlet",
    "names_from_field",
    "names_from_text",
]

_SURNAMES = (
    "남궁", "황보", "제갈", "선우", "독고", "사공", "서문", "동방", "김", "이", "박", "최",
    "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권", "황", "안", "송", "전",
    "홍", "유", "고", "문", "양", "손", "배", "백", "허", "남", "심", "노", "하", "곽", "성",
    "차", "주", "우", "구", "민", "류", "나", "진", "지", "엄", "채", "원", "천", "방", "공",
    "현", "함", "변", "염", "여", "추", "도", "소", "석", "선", "설", "마", "길", "연", "위",
    "표", "명", "기", "반", "라", "왕", "금", "옥", "육", "인", "맹", "제", "모", "탁", "국",
    "어", "은", "편", "용", "예", "경", "봉", "사", "부", "가", "복", "태", "목", "형", "피",
    "두", "감", "음", "빈", "동", "온", "호", "범", "좌", "팽", "승", "간", "상", "시", "갈",
    "단", "견", "당", "화", "창", "옹", "순", "빙", "묵", "운", "리",
    "계", "판", "평", "대", "초", "매", "필", "후", "해", "곡",
)  # fmt: skip
TITLES = (
    "선임기자", "전문기자", "객원기자", "인턴기자", "수습기자", "사진기자", "영상기자", "취재기자",
    "기자", "특파원", "통신원", "논설위원", "논설실장", "편집위원", "객원논설위원", "대기자",
    "칼럼니스트", "기상캐스터", "앵커", "리포터", "PD", "에디터", "선임연구원", "연구원",
)  # fmt: skip
_TITLE = "(?:" + "|".join(sorted(TITLES, key=len, reverse=True)) + ")"
_NAME = r"[가-힣]{2,4}"
_RUN_NAME = rf"(?!{_TITLE}(?![가-힣]))[가-힣]{{2,4}}"
_NAMES = rf"{_RUN_NAME}(?:(?:\s*[·∙ㆍ,/및&]\s*|\s+){_RUN_NAME})*"
_NAME_RUN_RE = re.compile(rf"(?<![가-힣])(?P<names>{_NAMES})\s*(?P<title>{_TITLE})(?![가-힣])")
_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_OUTLET_END = ("뉴스", "일보", "신문", "방송", "미디어", "경제", "투데이", "타임즈", "타임스",
               "저널", "데일리", "닷컴", "포스트", "프레스", "헤럴드", "통신", "매일", "비즈",
               "채널", "스포츠", "일간", "코리아", "TV", "tv", "넷")  # fmt: skip
_OUTLETS = frozenset(
    (
        "연합뉴스", "뉴시스", "뉴스1", "네이버", "다음", "카카오", "네이트", "줌", "구글",
        "아이뉴스24", "연합", "한겨레", "경향", "조선", "중앙", "동아", "한국", "매경", "한경",
        "머니투데이", "이데일리", "헤럴드", "지디넷", "전자신문", "블로터", "KBS", "MBC",
        "SBS", "YTN", "JTBC", "MBN", "TV조선", "채널A", "연합뉴스TV", "편집국", "편집부",
        "온라인뉴스팀", "디지털뉴스팀", "뉴스팀", "취재팀", "사회부", "정치부", "경제부",
        "산업부", "국제부", "문화부", "체육부", "디지털뉴스부", "온라인팀", "뉴스부", "관리자",
        "운영자", "admin",
    )
)  # fmt: skip
_NOT_NAMES = frozenset(
    (
        "사진", "영상", "그래픽", "자료", "제공", "출처", "기자", "특파원", "취재", "이날",
        "오늘", "지난", "당시", "현재", "관련", "본문", "이번", "이후", "이어", "이에", "대해",
        "대한", "위해", "한편", "또한", "다만", "이상", "이하", "정도", "모두", "우리", "전체",
        "구독", "공유", "댓글", "좋아요", "추천", "전문", "기사", "정치", "경제", "사회",
        "문화", "국제", "세계", "스포츠", "연예", "포토", "이메일", "메일", "제보", "무단",
        "배포", "금지", "저작", "편집", "담당", "인턴", "수습", "선임", "객원", "사진부",
    )
)  # fmt: skip

_DATELINE = r"[\[【(（][^\]】)）\n=]{0,30}=[^\]】)）\n]{0,30}[\]】)）]"
# an outlet between a name and its title: "김재호 MK스포츠 특파원"
_OUTLET_WORD = r"[A-Za-z0-9가-힣]*(?:" + "|".join(_OUTLET_END) + r")"
_ONE = (
    rf"{_NAMES}\s*(?:{_OUTLET_WORD}\s+)?{_TITLE}(?:\s*외\s*\d+\s*명)?"
    rf"(?:\s*[(（<\[]?\s*{_EMAIL}\s*[)）>\]]?)?"
)
HEAD_BYLINE_RE = re.compile(
    rf"^\s*(?:[\[【]\s*[^\]】\n]{{0,40}}?{_TITLE}\s*[\]】]"
    rf"|{_DATELINE}\s*(?:{_NAMES}\s*{_TITLE}\s*=|=)?"
    rf"|[(（][^)）\n]{{0,30}}{_TITLE}\s*[)）])\s*"
)
TAIL_BYLINE_RE = re.compile(
    rf"\s*(?:[/▶■◆☞◎=]\s*)?[\[【(（<]?\s*(?:[^\]】\n=]{{0,30}}=\s*)?(?:[가-힣A-Za-z0-9]+\s+)?"
    rf"(?:(?:글|사진|글·사진|글/사진|정리|취재)\s*[=:]\s*)?{_ONE}"
    rf"(?:\s*[/·,]?\s*{_ONE})*\s*[\]】)）>]?\s*$"
)


_BETWEEN_RE = re.compile(rf"(?<=[가-힣])\s+{_OUTLET_WORD}\s+(?={_TITLE})")


def is_outlet(name: str) -> bool:
    """True when ``name`` is an outlet, portal, desk or team rather than a person."""
    compact = name.replace(" ", "")
    if compact in _OUTLETS or compact.lower() in _OUTLETS:
        return True
    if re.search(r"[가-힣]", compact) and compact.endswith(_OUTLET_END):
        return True
    return bool(re.search(r"(?:팀|부|국|실|센터|데스크|\.com|\.co\.kr|\.kr)$", compact))


def _is_person(name: str) -> bool:
    if not re.fullmatch(_NAME, name) or name in _NOT_NAMES or is_outlet(name):
        return False
    return any(name.startswith(s) and 2 <= len(name) - len(s) + 1 <= 4 for s in _SURNAMES)


def _split_names(run: str) -> list[str]:
    return [n for n in re.split(r"\s*[·∙ㆍ,/및&]\s*|\s+", run) if n]


def names_from_text(text: str) -> list[str]:
    """Reporter names in byline text, in order of appearance, each once."""
    names: list[str] = []
    text = _BETWEEN_RE.sub(" ", text)
    for match in _NAME_RUN_RE.finditer(text):
        parts = _split_names(match.group("names"))
        people = [p for p in parts if _is_person(p)]
        if len(parts) > 1 and len(people) < len(parts):
            people = [parts[-1]] if _is_person(parts[-1]) else []
        names += people
    return list(dict.fromkeys(names))


def names_from_field(value: str) -> list[str]:
    """Names from a structured author field (meta tag, JSON-LD), outlets dropped.

    ``홍길동 기자 (hong@x.kr)``, ``홍길동, 김철수`` and ``Hong Gil-dong`` all work.
    """
    text = re.sub(_EMAIL, " ", value)
    text = re.sub(r"[()\[\]<>【】]", " ", text)
    by_title = names_from_text(text)
    if by_title:
        return by_title
    names = []
    for part in re.split(r"\s*[,·∙ㆍ/;|]\s*|\s+(?:and|및|&)\s+", text):
        name = re.sub(rf"\s*{_TITLE}\s*$", "", " ".join(part.split())).strip()
        if _field_name_ok(name):
            names.append(name)
    return list(dict.fromkeys(names))


def _field_name_ok(name: str) -> bool:
    if not name or len(name) > 40 or is_outlet(name) or re.search(r"\d|https?:|www\.", name):
        return False
    if re.fullmatch(r"[가-힣]+", name):
        return _is_person(name)
    latin = re.fullmatch(r"[A-Za-z][A-Za-z .'\-]{1,39}", name)
    return bool(latin) and 2 <= len(name.split()) <= 4
