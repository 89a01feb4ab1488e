"""Article metadata, each field from the most reliable place the page offers.

The order, first hit wins (a later source only fills what an earlier one lacks):

* **title**: ``og:title``, ``twitter:title``, JSON-LD ``headline``/``name``, a
  headline element (``h1``-``h3`` or ``*title*``/``*headline*`` classes, not the
  logo), then ``<title>``; every candidate loses the site-name prefix or suffix
  (`` : 아이뉴스24``, `` | 한국일보``, ``-정치ㅣ한국일보``, ``[연합뉴스]``), and one
  that is only the site name is skipped.
* **published**: ``article:published_time`` (and its aliases), JSON-LD
  ``datePublished``, ``<time datetime>`` / ``itemprop=datePublished``,
  ``data-date-time`` attributes, Korean text after a label (``입력``,
  ``기사입력``, ``등록``), then the first date in a date-like element. A date
  without a time of day gives way to a later source with a time on the same day.
  A ``+00:00`` value whose wall time the page also prints as local time is read
  as local time (a common mislabelling). **updated** likewise with
  ``article:modified_time``, ``dateModified`` and ``수정``/``업데이트``.
* **section**: ``article:section``, JSON-LD ``articleSection``, breadcrumbs
  (JSON-LD ``BreadcrumbList``, then breadcrumb elements; the first crumb that is
  neither home, the site nor the title: the top-level section), then
  ``<meta name="section|category">``, category labels (Naver's
  ``media_end_categorize_item``), then the menu item marked current
  (``class="on|active|selected|current"``). A Korean label wins over an
  earlier ASCII slug (``national``).
* **summary**: the subheads (``*subtitle*``, ``*sub_title*``, ``*summary*``
  elements) when the page has them, else ``og:description``, ``description``,
  JSON-LD ``description``.
* **image**: ``og:image``, ``twitter:image``, JSON-LD ``image``, then the first
  body image (chosen by :mod:`syndicate.extract.body`).

Authors are read by :mod:`syndicate.extract.authors`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from copy import deepcopy
from datetime import UTC, datetime, tzinfo
from urllib.parse import urljoin, urlsplit

from lxml import html as lxml_html

from syndicate.extract.bylines import HEAD_BYLINE_RE, is_outlet
from syndicate.extract.context import Page, class_tokens, node_text
from syndicate.extract.dates import (
    PUBLISHED_LABELS,
    UPDATED_LABELS,
    Stamp,
    find_text_dates,
    labelled_dates,
    parse_machine_date,
)
from syndicate.extract.jsonld import LinkedData, texts

__all__ = ["find_image", "find_section", "find_summary", "find_times", "find_title"]

PUBLISHED_META = ("article:published_time", "og:article:published_time", "og:published_time",
                  "published_time", "datepublished", "pubdate", "publishdate", "publish-date",
                  "publish_date", "article.published", "dc.date.issued", "dc.date",
                  "dcterms.created", "sailthru.date", "date", "parsely-pub-date",
                  "article:published", "cxenseparse:recs:publishtime", "og:regdate",
                  "dable:published_time")  # fmt: skip
UPDATED_META = ("article:modified_time", "og:article:modified_time", "og:updated_time",
                "modified_time", "datemodified", "lastmod", "last-modified",
                "article.updated", "dc.date.modified", "dcterms.modified",
                "article:modified")  # fmt: skip
_SEPARATORS = r"\s+[|:\-–—/·»>＜<]\s+|\s*[ㅣ｜]\s*|\s+::\s+|\s*\|\s*"
_PAGE_WORDS = frozenset(
    {"기사본문", "기사", "뉴스", "본문", "전체기사", "홈", "기사보기", "뉴스홈"}
)
_HOME = frozenset({"홈", "home", "뉴스홈", "메인", "main", "news", "뉴스", "전체기사", "기사"})
_CRUMB_XPATH = (
    "//*[contains(translate(@class,'BREADCUMB','breadcumb'),'breadcrumb') "
    "or contains(translate(@id,'BREADCUMB','breadcumb'),'breadcrumb') "
    "or contains(@class,'location') or contains(@class,'navi_path') "
    "or contains(@class,'page_path') or contains(@class,'crumb') "
    "or contains(@aria-label,'breadcrumb') or contains(@aria-label,'Breadcrumb') "
    "or contains(@itemtype,'BreadcrumbList')]"
)
_LOWER = (
    "translate(concat(@class,' ',@id),'ABCDEFGHIJKLMNOPQRSTUVWXYZ','abcdefghijklmnopqrstuvwxyz')"
)
_DATE_NODE_XPATH = (
    "//*[self::span or self::em or self::p or self::div or self::li or self::dd or self::time]"
    f"[contains({_LOWER},'date') or contains({_LOWER},'time') or contains({_LOWER},'info')"
    f" or contains({_LOWER},'byline') or contains({_LOWER},'write') or contains({_LOWER},'reg')"
    f" or contains({_LOWER},'day')]"
)
SECTION_WORDS = frozenset(
    (
        "정치", "경제", "사회", "국제", "세계", "문화", "스포츠", "연예", "오피니언", "산업",
        "증권", "부동산", "생활", "사설", "칼럼", "전국", "지역", "과학", "IT", "IT·과학",
        "IT/과학", "라이프", "엔터", "연예·스포츠", "문화·생활", "생활/문화", "금융", "기업",
        "국방", "북한", "교육", "건강", "여행", "날씨", "포토", "영상", "글로벌", "테크",
        "경제일반", "정치일반", "사회일반", "종합", "환경", "국회", "대통령실", "청와대",
        "노동", "복지", "여성", "인권", "법원", "검찰", "사건", "사건·사고", "미디어", "종교",
        "책", "음악", "영화", "방송", "골프", "야구", "축구", "농구", "배구", "해외", "미국",
        "중국", "일본", "유럽", "중동", "아시아", "국제일반", "재테크", "자동차", "유통",
        "주식", "증시", "외환", "게임", "모바일", "인터넷", "통신", "보안", "반도체", "헬스",
        "푸드", "패션", "뷰티", "피플", "인물", "부고", "사람", "이슈",
    )
)  # fmt: skip
_RUBRIC_RE = re.compile(r"^(?:포토|카드|영상|그래픽|인포|모닝|이슈|핫|단독|오늘의|주간|월간)")
_SITE_IN_TEXT_RE = re.compile(
    r"[\[【]\s*([^\]】\s=]{2,12})\s+[가-힣]{2,4}\s*(?:기자|특파원)\s*[\]】]"
    r"|(?:ⓒ|©|Copyright|\(c\)|저작권자)\s*(?:\(c\)|ⓒ|©)?\s*([^\s,.&<>()]{2,15})",
    re.IGNORECASE,
)
_LOGO_XPATH = (
    "//*[contains(@class,'logo') or contains(@id,'logo')]//img/@alt"
    "|//*[contains(@class,'logo') or contains(@id,'logo')][not(*)]/text()"
    "|//*[contains(@class,'logo') or contains(@id,'logo')]/a[not(*)]/text()"
)
_HEADLINE_XPATH = (
    "//h1|//*[self::h2 or self::h3 or self::div or self::strong or self::p or self::span]"
    "[contains(@class,'title') or contains(@class,'headline') or contains(@class,'subject')"
    " or contains(@class,'tit') or contains(@class,'ttl') or contains(@id,'title')]"
)
_CATEGORY_XPATH = (
    "//*[contains(translate(@class,'-','_'),'categorize_item')"
    " or contains(translate(@class,'-','_'),'categorization_item')"
    " or contains(translate(@class,'-','_'),'article_category')"
    " or contains(translate(@class,'-','_'),'news_category')"
    " or contains(translate(@class,'-','_'),'cate_name')"
    " or contains(translate(@class,'-','_'),'category_name')"
    " or contains(translate(@class,'-','_'),'section_name')"
    " or contains(translate(@class,'-','_'),'sect_name')]"
)
_CURRENT_MENU_XPATH = (
    "//*[self::nav or contains(@class,'gnb') or contains(@id,'gnb') or contains(@class,'menu')"
    " or contains(@class,'nav')]//*[self::li or self::a][contains(concat(' ',@class,' '),' on ')"
    " or contains(concat(' ',@class,' '),' active ')"
    " or contains(concat(' ',@class,' '),' selected ')"
    " or contains(concat(' ',@class,' '),' current ') or @aria-current='page']"
)
SUBHEAD_RE = re.compile(
    r"^(?:sub[-_]?(?:title|tit|head|headline|heading)s?|.*[-_]sub[-_]?(?:title|tit|head).*"
    r"|.*subtitle.*|.*subhead.*|summary|article[-_]summary|media_end_summary|stit|tit[-_]sub"
    r"|deck|lead|article[-_]lead|news[-_]sub.*|.*[-_]summary|summary[-_].*|sub[-_]copy)$",
    re.IGNORECASE,
)


# --- title ------------------------------------------------------------------------


def site_names(page: Page) -> list[str]:
    """Names the page gives its site: ``og:site_name``, publisher, application name, host."""
    if "sites" not in page.memo:
        page.memo["sites"] = _site_names(page)
    return list(page.memo["sites"])


def _site_names(page: Page) -> list[str]:
    names = page.meta_all("og:site_name", "application-name", "twitter:site", "author:site")
    names += page.linked.publisher_names
    names += [str(v) for v in page.tree.xpath(_LOGO_XPATH)[:4]]
    for text in (page.full_text[-6000:], page.full_text[:20000]):
        names += [m.group(1) or m.group(2) for m in _SITE_IN_TEXT_RE.finditer(text)][:4]
    host = urlsplit(page.url).hostname or ""
    labels = host.split(".")[:-1]  # the top-level domain ("de", "eu") names no site
    names += [part for part in labels if part not in ("www", "m", "news", "co", "kr")]
    return [n.strip().lstrip("@") for n in names if n and n.strip()]


# What may stand beside a site's name in the name itself ("MBC 뉴스", "연합뉴스TV").
_NAME_DECORATIONS = frozenset((
    "news", "online", "tv", "com", "net", "korea", "media",
    "뉴스", "닷컴", "신문", "방송", "일보", "코리아", "온라인", "미디어",
))  # fmt: skip


def _is_site(part: str, sites: list[str]) -> bool:
    """Whether ``part`` is the site's name: one of ``sites``, or (up to 20 characters) site
    names with at most a decoration or three more characters ("Wir sind NEOS" is a title)."""
    compact = re.sub(r"[\s\[\]()<>]", "", part).casefold()
    if not compact:
        return True
    keys = sorted({re.sub(r"\s", "", site).casefold() for site in sites}, key=len, reverse=True)
    if compact in keys:
        return True
    rest = compact
    for key in keys:
        if len(key) >= 2:
            rest = rest.replace(key, "")
    if rest != compact and len(compact) <= 20:
        rest = rest.strip("-_.·|:")
        if len(rest) <= 3 or rest in _NAME_DECORATIONS:
            return True
    return bool(re.fullmatch(r"[\w.-]+\.(?:com|co\.kr|kr|net|org)", compact))


def _is_affix(part: str, sites: list[str]) -> bool:
    """A title part that names the site: a known name, or a short outlet-like name."""
    text = part.strip()
    outlet = len(text.split()) <= 2 and len(text) <= 12 and is_outlet(text)
    return _is_site(text, sites) or (outlet and text not in SECTION_WORDS)


def strip_site(title: str, sites: list[str]) -> str:
    """Remove the site-name prefix/suffix (and a section label next to it) from a title."""
    text = " ".join(title.split())
    text = re.sub(r"^\s*[\[【<]([^\]】>]{1,20})[\]】>]\s*", _keep_unless_site(sites), text)
    text = re.sub(r"\s*[\[【<]([^\]】>]{1,20})[\]】>]\s*$", _keep_unless_site(sites), text)
    parts = [p for p in re.split(f"({_SEPARATORS})", text)]
    words, seps = parts[0::2], parts[1::2]
    removed = False
    while len(words) > 1 and _is_affix(words[-1], sites):
        words, seps, removed = words[:-1], seps[:-1], True
    while len(words) > 1 and _is_affix(words[0], sites):
        words, seps, removed = words[1:], seps[1:], True
    while removed and len(words) > 1 and words[-1].strip() in SECTION_WORDS | _PAGE_WORDS:
        words, seps = words[:-1], seps[:-1]  # "제목 < 경제 < 기사본문 - 시사저널": labels go too
    joined = "".join(w + s for w, s in zip(words, [*seps, ""], strict=False)).strip()
    if removed:
        joined = re.sub(r"(?<=\S)-\s?([^\s-]{1,8})$", _drop_section, joined)  # "제목-정치ㅣ"
    return "" if _is_site(joined, sites) and len(joined) <= 20 else joined


def _drop_section(match: re.Match[str]) -> str:
    label = match.group(1)
    return "" if label in SECTION_WORDS or re.fullmatch(r"[가-힣·]{1,6}", label) else match.group(0)


def _keep_unless_site(sites: list[str]) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        """Drop a bracketed affix that names the site or an outlet; keep rubrics."""
        inner = match.group(1).strip()
        outlet = re.search(r"(뉴스|일보|신문|방송|통신|TV|닷컴)$", inner) and not _RUBRIC_RE.match(
            inner
        )
        return " " if _is_site(inner, sites) or outlet else match.group(0)

    return replace


_NOT_HEADLINE_RE = re.compile(
    r"sub|logo|site|brand|reply|comment|relat|rank|popular|list|menu|nav|side|footer|more|"
    r"recommend|banner|caption|photo|section|category|bottom|copy|tit_area|layer|pop"
)


def _headline_nodes(page: Page) -> Iterable[str]:
    sites = site_names(page)
    for node in page.tree.xpath(_HEADLINE_XPATH)[:60]:
        tokens = class_tokens(node)
        if any(_NOT_HEADLINE_RE.search(t) for t in tokens) or page.hidden(node):
            continue
        text = node_text(node)
        if 4 <= len(text) <= 300 and not _is_site(text, sites):
            yield text


def find_title(page: Page) -> str:
    """The article's title, without site affixes (see the module docstring for the order)."""
    sites = site_names(page)
    candidates = [*page.meta_all("og:title", "twitter:title", "title")]
    candidates += texts(page.linked.article.get("headline")) + texts(
        page.linked.article.get("name")
    )
    candidates += list(_headline_nodes(page))
    title_tag = page.tree.find(".//title")
    if title_tag is not None:
        candidates.append(node_text(title_tag))
    for raw in candidates:
        title = strip_site(raw, sites)
        if len(title) >= 2:
            return title
    return ""


# --- dates ------------------------------------------------------------------------


def _machine_stamps(values: Iterable[str], zone: tzinfo) -> list[Stamp]:
    stamps = (parse_machine_date(v, zone) for v in values if v)
    return [s for s in stamps if s is not None]


def _time_elements(page: Page, itemprop: str, first_only: bool) -> list[str]:
    values = page.tree.xpath(f"//*[@itemprop='{itemprop}']/@content|//*[@itemprop='{itemprop}']"
                             "/@datetime")  # fmt: skip
    if first_only:
        values += page.tree.xpath("//time/@datetime")[:1]
        values += page.tree.xpath("//*[@data-date-time]/@data-date-time")[:1]
    else:
        values += page.tree.xpath("//*[@data-modify-date-time]/@data-modify-date-time")[:1]
    return [str(v) for v in values]


def _text_stamps(page: Page, labels: tuple[str, ...], fallback: bool) -> list[Stamp]:
    header = page.header_text()
    stamps = labelled_dates(header, labels, page.zone)
    if stamps or not fallback:
        return stamps
    found: list[Stamp] = []
    for node in page.tree.xpath(_DATE_NODE_XPATH)[:40]:
        found += find_text_dates(node_text(node), page.zone)[:2]
    timed = [s for s in found if s.has_time]
    return (timed or found)[:1]


def _pick(stamps: list[Stamp]) -> Stamp | None:
    if not stamps:
        return None
    first = stamps[0]
    if first.has_time:
        return first
    same_day = [s for s in stamps[1:] if s.has_time and s.value.date() == first.value.date()]
    return same_day[0] if same_day else first


def _fix_utc_mislabel(stamp: Stamp | None, printed: list[Stamp], zone: tzinfo) -> Stamp | None:
    """A ``+00:00`` time whose wall clock the page prints as local time is local time."""
    if stamp is None or not stamp.utc or not stamp.has_time:
        return stamp
    local = stamp.value.astimezone(UTC).replace(tzinfo=zone)
    for other in printed:
        if other.has_time and other.value.replace(second=0) == local.replace(second=0):
            return Stamp(local, True)
    return stamp


def _find_time(
    page: Page, meta_keys: tuple[str, ...], ld_key: str, published: bool
) -> Stamp | None:
    labels = PUBLISHED_LABELS if published else UPDATED_LABELS
    printed = _text_stamps(page, labels, fallback=published)
    stamps = _machine_stamps(page.meta_all(*meta_keys), page.zone)
    stamps += _machine_stamps(texts(page.linked.article.get(ld_key)), page.zone)
    stamps += _machine_stamps(_time_elements(page, ld_key, published), page.zone)
    stamps += printed
    return _fix_utc_mislabel(_pick(stamps), printed, page.zone)


def find_times(page: Page) -> tuple[datetime | None, datetime | None]:
    """(published, updated), aware, in the source's timezone."""
    published = _find_time(page, PUBLISHED_META, "datePublished", True)
    updated = _find_time(page, UPDATED_META, "dateModified", False)
    pub = published.value if published else None
    upd = updated.value if updated else None
    if pub is not None and upd is not None and upd < pub:
        upd = None
    return pub, upd


# --- section ----------------------------------------------------------------------


def _crumb_names(node: lxml_html.HtmlElement) -> list[str]:
    items = node.xpath(".//a|.//li[not(.//a)]|.//span[@itemprop='name']")
    names = [node_text(i) for i in items] or re.split(r"\s*[>›»/]\s*", node_text(node))
    return [n for n in (re.sub(r"^[>›»/\s]+|[>›»/\s]+$", "", n) for n in names) if n]


def _last_crumb(names: list[str], page: Page, title: str) -> str:
    sites = site_names(page)
    useful = [
        n for n in names
        if n.casefold() not in _HOME and not _is_site(n, sites) and not title.startswith(n[:12])
        and len(n) <= 15
    ]  # fmt: skip
    return useful[0] if useful else ""


_SECTION_META_RE = re.compile(r"[_:.-](?:section|category)$")  # content_category, news:section


def _section_candidates(page: Page, title: str) -> Iterator[str]:
    """Section labels in the documented order (each source computed only when asked)."""
    keys = ("article:section", "og:article:section", "articlesection", "article:section2")
    yield from page.meta_all(*keys)
    yield from texts(page.linked.article.get("articleSection"))
    yield _last_crumb(page.linked.crumbs, page, title)
    for node in page.tree.xpath(_CRUMB_XPATH)[:5]:
        yield _last_crumb(_crumb_names(node), page, title)
    yield from page.meta_all("section", "category", "article:category", "dable:section")
    yield from page.meta_all(*(key for key in page.meta if _SECTION_META_RE.search(key)))
    sites = site_names(page)
    nodes = page.tree.xpath(_CATEGORY_XPATH)[:3] + page.tree.xpath(_CURRENT_MENU_XPATH)[:2]
    yield from (text for text in map(_label_text, nodes) if not _is_site(text, sites))


_SCREEN_READER_ONLY = frozenset(("blind", "sr-only", "screen_out", "visually-hidden", "hidden"))


def _label_text(node: lxml_html.HtmlElement) -> str:
    """A menu or category label without its screen-reader-only words (``선택됨``)."""
    copy = deepcopy(node)
    for extra in copy.xpath(".//*[@class]"):
        if _SCREEN_READER_ONLY.intersection(class_tokens(extra)):
            extra.drop_tree()
    return node_text(copy)


def find_section(page: Page, title: str) -> str:
    """The article's section label (see the module docstring for the order).

    A label in Korean wins over an earlier ASCII slug (``national``) when both exist.
    """
    first = ""
    for raw in _section_candidates(page, title):
        value = " ".join(raw.split())
        if not value or len(value) > 20:
            continue
        if re.search(r"[가-힣]", value):
            return value
        first = first or value
    return first


# --- summary and image -------------------------------------------------------------


def subhead_nodes(page: Page) -> list[lxml_html.HtmlElement]:
    """Elements holding the article's subheads (부제), outside comment and related boxes."""
    found: list[lxml_html.HtmlElement] = []
    for node in page.tree.xpath("//*[@class or @id]"):
        if node.tag in ("html", "body", "meta", "script", "style", "img") or len(found) >= 8:
            continue
        tokens = class_tokens(node)
        if not any(SUBHEAD_RE.match(t) for t in tokens) or page.hidden(node):
            continue
        if not any(ancestor in found for ancestor in node.iterancestors()):
            found.append(node)
    return [n for n in found if 4 <= len(node_text(n)) <= 600][:4]


SECTION_HEADING_TAGS = ("h2", "h3", "h4", "h5", "h6")
SECTION_HEADING_AFTER = 160
"""Characters of text before a subhead-classed heading that make it a section heading
inside the body, not a subhead (here and in :mod:`syndicate.extract.body`)."""


def _heads_a_section(node: lxml_html.HtmlElement) -> bool:
    """Whether ``node`` follows enough text among its siblings to head a section."""
    if node.tag not in SECTION_HEADING_TAGS:
        return False
    before = 0
    for sibling in node.itersiblings(preceding=True):
        before += len(node_text(sibling)) if isinstance(sibling.tag, str) else 0
        if before >= SECTION_HEADING_AFTER:
            return True
    return False


def find_summary(page: Page) -> str:
    """Subheads when the page has them (one per line), else the description.

    A heading classed like a subhead that comes after body text heads a section of
    the body: it is not part of the summary.
    """
    lines = []
    for node in subhead_nodes(page):
        if _heads_a_section(node):
            continue
        lines += [line for line in page.lines(node) if line not in lines]
    if lines:
        return "\n".join(lines)
    values = page.meta_all("og:description", "description", "twitter:description")
    values += texts(page.linked.article.get("description"))
    sites = site_names(page)
    for value in values:
        text = HEAD_BYLINE_RE.sub("", " ".join(value.split()), count=1).strip()
        head = re.split(_SEPARATORS, text, maxsplit=1)[0]
        if text and not (head != text and _is_site(head, sites)):
            return text
    return ""


def find_image(page: Page) -> str:
    """The lead image URL from meta tags or JSON-LD (absolute), or ''."""
    values = page.meta_all("og:image", "og:image:url", "twitter:image", "twitter:image:src")
    image = page.linked.article.get("image")
    values += texts(image) if not isinstance(image, dict) else []
    if isinstance(image, dict | list):
        for item in image if isinstance(image, list) else [image]:
            if isinstance(item, dict) and isinstance(item.get("url"), str):
                values.append(item["url"])
            elif isinstance(item, str):
                values.append(item)
    for value in values:
        if value.strip() and not value.strip().startswith("data:"):
            return urljoin(page.url, value.strip())
    return ""


__all__ += ["SUBHEAD_RE", "LinkedData", "site_names", "strip_site", "subhead_nodes"]
__all__ += ["SECTION_HEADING_AFTER", "SECTION_HEADING_TAGS"]
