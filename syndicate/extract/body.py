"""The article body: strip clutter from a copy of its container.

The container comes from :mod:`syndicate.extract.container` (or is trafilatura's
body). From a copy of it we remove: soft hyphens and zero-width spaces; scripts,
forms, widgets and ruby readings; hidden elements (hidden auto-summaries);
share, font-size, print, comment, related, ranking, subscription, ad and
reporter-card boxes (by class/id, never an element holding most of the text);
blocks made of links (related-article lists, teaser cards) with the short label
before them; short boilerplate blocks (``글자크기``, ``공유하기``, ``첫 번째 댓글``,
``로딩중``, copyright lines); the headline and the subheads opening the body (a
subhead after body text heads a section and stays); every repeat of a photo
caption; the byline at the head (``[아이뉴스24 박진영 기자]``, ``(서울=연합뉴스)
홍길동 기자 =``) and at the tail (``/박진영 기자(x@y.com)``), copyright lines,
promotion and follow-us lines and ``(끝)`` markers at the end.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin

from lxml import etree
from lxml import html as lxml_html

from syndicate.extract.bylines import HEAD_BYLINE_RE, TAIL_BYLINE_RE, names_from_text
from syndicate.extract.context import Page, class_tokens, node_lines, node_text
from syndicate.extract.metadata import SECTION_HEADING_AFTER, SECTION_HEADING_TAGS, SUBHEAD_RE

__all__ = ["Body", "clean_body"]

_JUNK_TAGS = ("script", "style", "noscript", "iframe", "form", "button", "input", "select",
              "textarea", "svg", "nav", "aside", "footer", "object", "embed", "template",
              "ins", "audio", "video", "canvas", "map", "h1", "rt", "rp")  # fmt: skip
_CLUTTER_RE = re.compile(
    r"(?:^|[-_])(?:share|sns|social|font[-_]?size|font[-_](?:tool|control|zoom|resize|up|down)"
    r"|te?xt_?size|print|scrap|copy_?url|url_?copy"
    r"|related|relation|rel_news|recommend|recom|ranking|rank|popular|most_?view\w*|hot_?news"
    r"|best|reporter|journalist|byline|writer|author|profile|comments?|reply|cmt|ad|ads|adv"
    r"|advert\w*|banner|promotion|promo|subscribe|subscription|newsletter|tags?|keywords?"
    r"|hashtag|copyright|footer|btns?|button|tools?|toolbar|util\w*|layer|popup|modal"
    r"|more_?news|more[-_]?(?:articles?|stories)|(?:top|hot|live|interest)[-_]?issues?"
    r"|other_?news|series|sponsor\w*|dable|taboola|outbrain|like|reaction|emotion"
    r"|vote|list_?news|news_?list|article_?list|aside|widget|nav|menu|gnb|lnb|breadcrumb"
    r"|location|paging|pagination|app_?down|kakao|thumb_?list|summary_?bot|ai_?summary"
    r"|dates?|datetime|dateline|pub_?date|input_?date|up_?date|view_?date|article_?date)"
    r"(?:$|[-_\d])"
)
_BOILER_RE = re.compile(
    r"^(?:본문\s*)?글자\s*크기|공유하기|주소가 복사|URL\s*복사|첫 번째 댓글"
    r"|댓글\s*(?:쓰기|바로가기)|^로딩\s*중|^(?:관련\s*기사|많이 본 뉴스|인기\s*기사|추천\s*기사"
    r"|주요\s*뉴스|최신\s*뉴스|이 시각|(?:당신이\s*)?관심\s*있을\s*만한"
    r"|(?:함께|같이)\s*보면\s*좋은)"
    r"|기자의 다른 기사|기자\s*프로필|^구독(?:하기)?$|^좋아요"
    r"|^기사\s*제보|카카오톡\s*(?:공유|채널)|^기사\s*제공"
    r"|^(?:최초\s*)?(?:기사\s*)?(?:입력|수정|등록|송고|업데이트|승인)\s*(?:시간|일시)?\s*[:：]?\s*\d{4}"
    r"|무단\s*전재|재배포\s*금지|^\s*[<\[(]?\s*(?:ⓒ|©|\(c\)|copyright|저작권자)",
    re.IGNORECASE,
)
_LINK_BLOCK_TAGS = ("ul", "ol", "div", "section", "p", "table", "dl", "h2", "h3", "h4")
_LINK_BLOCK_SHARE = 0.7  # of a block's text inside links, from which it is a link block
_BOILER_TAGS = ("p", "div", "span", "li", "ul", "dl", "table", "strong", "em", "b", "a", "h2", "h3",
                "h4", "section")  # fmt: skip
_CAPTION_RE = re.compile(r"caption|(?:^|[-_])cap(?:$|[-_])|desc|photo_?txt|img_?txt|txt_?img"
                         r"|photo_?info|img_?info|pic_?txt|source|figcaption")  # fmt: skip
_PHOTO_RE = re.compile(r"photo|img|image|pic|figure|thumb|visual|media")
_TAIL_RES = (
    re.compile(r"\s*[(<\[/]\s*끝\s*[)>\]/]\s*$"),
    re.compile(r"\s*[<\[(]?\s*(?:ⓒ|©|\(c\)|copyright|저작권자)[^\n]{0,200}$", re.IGNORECASE),
    re.compile(r"\s*[^\n.?!]{0,80}무단\s*전재[^\n]{0,120}$"),
    re.compile(r"\s*[▶☞►▷]\s*[^\n]{0,150}$"),
    re.compile(r"\s*(?:[/=-]\s*)?[\w.+-]+@[\w-]+(?:\.[\w-]+)+\s*$"),
    # "이정훈 (futures@edaily.co.kr)": a name and e-mail without a title
    re.compile(r"^\s*[가-힣]{2,4}\s*[(（<\[]\s*[\w.+-]+@[\w-]+(?:\.[\w-]+)+\s*[)）>\]]\s*$"),
    re.compile(r"^\s*[◎◆■●]?\s*[^\n.!?]{0,20}(?:뉴스|뉴시스|뉴스1|일보|신문|방송|통신)\s*$"),
    re.compile(
        r"^\s*[(\[]?\s*(?:촬영|영상|그래픽|편집|취재|사진)\s?[가-힣]{0,4}\s*[:：=][^\n]{0,80}$"
    ),
    re.compile(
        r"^\s*(?:[A-Za-z가-힣]{0,12}\s*뉴스|[A-Z]{2,6})\s*[가-힣]{2,4}(?:\s*기자)?입니다\.?\s*$"
    ),
    re.compile(r"^[^\n]{0,80}제보[^\n]{0,200}(?:카카오톡|카톡|전화|메일|@)[^\n]{0,120}$"),
    # "Follow us on Twitter @x", "Subscribe to our newsletter", "Email the reporter at x@y"
    re.compile(
        r"^\s*(?:Follow|Sign up|Subscribe|E-?mail|Reach|Contact|Like us|Get (?:the|our)|Join"
        r"|Download|Listen to|Have a tip)\b[^\n]{0,250}(?:twitter|facebook|instagram|linkedin"
        r"|newsletter|inbox|podcast|\bapp\b|@|https?://)[^\n]{0,200}$",
        re.IGNORECASE,
    ),
)
_SENTENCE_END = re.compile(r"(?:^|[.?!。\"”’')\]]|다)\s*$")
# soft hyphen, zero-width space, BOM; and the C0 controls lxml refuses in text it is given
_INVISIBLE = dict.fromkeys([0xAD, 0x200B, 0xFEFF, *range(9), 0x0B, 0x0C, *range(0x0E, 0x20)])
_LAZY_SRC = ("data-src", "data-original", "data-lazy-src", "data-lazy", "data-url", "src")


@dataclass
class Body:
    """A cleaned body: sanitizable HTML, captions (each once), byline names, first image."""

    html: str
    captions: list[str] = field(default_factory=list)
    byline_names: list[str] = field(default_factory=list)
    image: str = ""
    link_share: float = 0.0
    text_size: int = 0


# --- cleaning -------------------------------------------------------------------------


def _drop(node: lxml_html.HtmlElement) -> None:
    """Remove ``node`` but keep its tail text."""
    if node.getparent() is not None:
        node.drop_tree()


def _is_hidden(node: lxml_html.HtmlElement) -> bool:
    style = (node.get("style") or "").replace(" ", "").lower()
    classes = set(class_tokens(node))
    return (
        node.get("hidden") is not None
        or node.get("aria-hidden") == "true"
        or "display:none" in style
        or "visibility:hidden" in style
        or bool(classes & {"blind", "hidden", "hide", "sr-only", "screen_out", "visually-hidden"})
    )


def _remove_clutter(root: lxml_html.HtmlElement, total: int) -> None:
    for node in list(root.iterdescendants()):
        if not isinstance(node.tag, str):
            if isinstance(node, etree._Comment):
                _drop(node)
            continue
        if node.tag in _JUNK_TAGS or _is_hidden(node):
            _drop(node)
            continue
        tokens = [t for t in class_tokens(node) if not t.startswith("has-")]  # style modifiers
        cluttered = any(_CLUTTER_RE.search(t) for t in tokens) or (
            any(SUBHEAD_RE.match(t) for t in tokens) and not _section_heading(node)
        )
        if cluttered and len(node_text(node)) < max(200, total // 2):
            _drop(node)


def _section_heading(node: lxml_html.HtmlElement) -> bool:
    """A heading inside the body, after text of its own (``<h3 class="article-subheadline">``
    between paragraphs), not the subtitle or summary that opens it."""
    if node.tag not in SECTION_HEADING_TAGS:
        return False
    before = 0
    for text in node.xpath("preceding::text()"):
        before += len(str(text).strip())
        if before >= SECTION_HEADING_AFTER:
            return True
    return False


def _remove_link_blocks(root: lxml_html.HtmlElement, total: int) -> None:
    """Drop blocks made of links (related-article lists and teasers, "read more" lines)
    and the short label just before one ("Related", "Mehr zum Thema", "Veja também")."""
    for node in list(root.iterdescendants(*_LINK_BLOCK_TAGS)):
        if node.getparent() is None or node.find(".//a") is None:
            continue
        size = _size(node)  # scripts are gone by now, so the C-level text is right
        if not size or size >= max(200, total // 2) or not _mostly_links(node, size):
            continue
        if node.find(".//figcaption") is not None:
            continue
        label = node.getprevious()
        _drop(node)
        if label is not None and _is_label(label):
            _drop(label)


def _mostly_links(node: lxml_html.HtmlElement, size: int) -> bool:
    linked = sum(_size(a) for a in node.iter("a"))
    return linked >= size * _LINK_BLOCK_SHARE


def _size(node: lxml_html.HtmlElement) -> int:
    """The length of ``node``'s text with runs of white space counted as one."""
    return len(" ".join(node.text_content().split()))


def _is_label(node: lxml_html.HtmlElement) -> bool:
    """A short heading-like line with no link and no sentence end (a list's label)."""
    if (
        not isinstance(node.tag, str)
        or node.find(".//a") is not None
        or node.find(".//img") is not None
    ):
        return False
    text = node_text(node)
    return 0 < len(text) <= 40 and not text.rstrip().endswith((".", "!", "?", "다"))


def _remove_boilerplate(root: lxml_html.HtmlElement, title: str) -> None:
    for node in list(root.iterdescendants(*_BOILER_TAGS)):
        if node.getparent() is None or node.find(".//img") is not None:
            continue
        raw = node.text_content()  # scripts are gone by now, so the C-level text is right
        if len(raw) > 400:
            continue
        text = " ".join(raw.split())
        if text and len(text) <= 160 and (_BOILER_RE.search(text) or text == title):
            lines = node_lines(node)
            if len(lines) > 1 and not all(_BOILER_RE.search(line) for line in lines):
                continue  # "홍길동 기자<br>ⓒ 무단전재…": the tail stripper takes it line by line
            _drop(node)


def _photo_wrapper(
    img: lxml_html.HtmlElement, root: lxml_html.HtmlElement
) -> lxml_html.HtmlElement:
    """The nearest ancestor (up to 4 levels) holding one image and its caption."""
    node = img
    for _ in range(4):
        parent = node.getparent()
        if parent is None:
            break
        node = parent
        if len(node.findall(".//img")) > 1:
            break
        if next(_caption_nodes(node), None) is not None:
            return node
        if node is root:
            break
    return img.getparent() if img.getparent() is not None else root


def _caption_nodes(wrapper: lxml_html.HtmlElement) -> Iterator[lxml_html.HtmlElement]:
    for node in wrapper.iter():
        if node is wrapper or not isinstance(node.tag, str) or node.find(".//img") is not None:
            continue
        if node.tag == "figcaption" or any(_CAPTION_RE.search(t) for t in class_tokens(node)):
            yield node


def _captions(root: lxml_html.HtmlElement) -> list[str]:
    """Collect each photo caption once and remove every later repeat of it."""
    captions: list[str] = []
    for img in list(root.iter("img")):
        wrapper = _photo_wrapper(img, root)
        for node in list(_caption_nodes(wrapper)):
            text = node_text(node)
            if text and text not in captions:
                captions.append(text)
                node.tag = "figcaption"
                if wrapper is not root and len(wrapper.findall(".//img")) == 1:
                    wrapper.tag = "figure"
    keys = {_key(c) for c in captions}
    alts = _alt_captions(root, keys)
    if not keys and not alts:
        return captions
    longest = max(len(c) for c in [*captions, *alts.values()]) * 2 + 20
    kept: set[str] = set()
    for node in list(root.iter("p", "span", "div", "figcaption", "em", "dd", "td", "strong")):
        if node.getparent() is None or node.find(".//img") is not None:
            continue
        raw = node.text_content()
        key = _key(raw) if len(raw) <= longest else ""
        if key and any(_key(child.text_content()) == key for child in node):
            continue  # a wrapper of the caption: judge the innermost element instead
        if key in keys and (key in kept or not _in_figcaption(node)):
            _drop(node)
        elif key in alts and key in kept:
            _drop(node)  # an unmarked caption (same text as the image's alt) printed again
        elif key in alts:
            captions.append(alts[key])
        kept.add(key)
    return captions


def _in_figcaption(node: lxml_html.HtmlElement) -> bool:
    """Whether ``node`` is a figcaption or the text holder inside one (``<p>`` in it)."""
    return node.tag == "figcaption" or any(a.tag == "figcaption" for a in node.iterancestors())


def _alt_captions(root: lxml_html.HtmlElement, known: set[str]) -> dict[str, str]:
    """Long image alt texts not yet known as captions: text equal to one is a caption."""
    alts = {}
    for img in root.iter("img"):
        alt = " ".join(str(img.get("alt") or "").split())
        if len(alt) >= 15 and _key(alt) not in known:
            alts[_key(alt)] = alt
    return alts


def _key(text: str) -> str:
    return re.sub(r"\W", "", text)


def _text_slots(root: lxml_html.HtmlElement) -> list[tuple[lxml_html.HtmlElement, str]]:
    """Every (element, "text"|"tail") that carries body text, in document order."""
    slots: list[tuple[lxml_html.HtmlElement, str]] = []
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        inside_caption = any(n.tag == "figcaption" for n in node.iterancestors())
        if node.text and node.text.strip() and not inside_caption and node.tag != "figcaption":
            slots.append((node, "text"))
        if node is not root and node.tail and node.tail.strip():
            slots.append((node, "tail"))
    return slots


def _strip_head(root: lxml_html.HtmlElement) -> list[str]:
    """Remove the byline opening the body (in one of its first text runs, since an
    unmarked photo caption may come first); return the names it held."""
    for node, attr in _text_slots(root)[:3]:
        text = getattr(node, attr) or ""
        match = HEAD_BYLINE_RE.match(text)
        if match and match.group(0).strip():
            setattr(node, attr, text[match.end() :])
            return names_from_text(match.group(0))
    return []


def _strip_tail_once(text: str) -> tuple[str, list[str]]:
    for pattern in _TAIL_RES:
        match = pattern.search(text)
        if match:
            return text[: match.start()], []
    match = TAIL_BYLINE_RE.search(text)
    if match and _SENTENCE_END.search(text[: match.start()]):
        return text[: match.start()], names_from_text(match.group(0))
    return text, []


def _last_line(
    root: lxml_html.HtmlElement, slots: list[tuple[lxml_html.HtmlElement, str]]
) -> list[tuple[lxml_html.HtmlElement, str]]:
    """The trailing text slots that make up the body's last visual line
    (``▶ <a><strong>한국일보닷컴 바로가기</strong></a>`` is one line in three slots)."""
    lines = node_lines(root)
    target = "".join(lines[-1].split()) if lines else ""
    joined = ""
    for index in range(len(slots) - 1, -1, -1):
        node, attr = slots[index]
        joined = "".join((getattr(node, attr) or "").split()) + joined
        if joined == target:
            return slots[index:]
        if len(joined) > len(target):
            break
    return slots[-1:]


def _strip_tail(root: lxml_html.HtmlElement) -> list[str]:
    names: list[str] = []
    for _ in range(12):
        slots = _text_slots(root)
        if not slots:
            break
        line = _last_line(root, slots)
        whole = "".join(getattr(node, attr) or "" for node, attr in line).rstrip()
        stripped, found = _strip_tail_once(whole)
        if len(line) > 1 and stripped != whole and not stripped.strip():
            for node, attr in line:
                setattr(node, attr, "")
            names = found + names
            continue
        node, attr = slots[-1]
        text = (getattr(node, attr) or "").rstrip()  # "$" must not stop at a trailing newline
        stripped, found = _strip_tail_once(text)
        if stripped == text:
            break
        names = found + names
        setattr(node, attr, stripped.rstrip())
    return names


def _drop_empty(root: lxml_html.HtmlElement) -> None:
    for node in list(root.iterdescendants("p", "div", "span", "strong", "b", "em", "li")):
        empty = not node.text_content().strip()
        if empty and node.getparent() is not None and node.find(".//img") is None:
            _drop(node)


def _fix_images(root: lxml_html.HtmlElement, base: str) -> str:
    first = ""
    for img in root.iter("img"):
        src = next((img.get(a) for a in _LAZY_SRC if (img.get(a) or "").strip()), "")
        if src and not src.startswith("data:"):
            img.set("src", urljoin(base, src.strip()))
            first = first or img.get("src", "")
    return first


def clean_body(container: lxml_html.HtmlElement, page: Page, title: str) -> Body:
    """Return the cleaned body of ``container`` (the page's tree is left untouched)."""
    root = copy.deepcopy(container)
    _strip_invisible(root)
    total = len(node_text(root))
    _remove_clutter(root, total)
    _remove_link_blocks(root, total)
    _remove_boilerplate(root, title)
    captions = _captions(root)
    names = _strip_head(root)
    names += [n for n in _strip_tail(root) if n not in names]
    _drop_empty(root)
    image = _fix_images(root, page.url)
    inner = (root.text or "") + "".join(
        etree.tostring(child, encoding="unicode", method="html") for child in root
    )
    total = len(" ".join(root.text_content().split()))
    return Body(inner, captions, names, image, _link_share(root, total), total)


def _strip_invisible(root: lxml_html.HtmlElement) -> None:
    """Remove soft hyphens and zero-width spaces: hyphenation and line-break hints that
    split words (``Mit&shy;tel&shy;al&shy;ter``) once the text leaves the browser."""
    for node in root.iter():
        text, tail = node.text, node.tail
        if text and text != (clean := text.translate(_INVISIBLE)):
            node.text = clean
        if tail and tail != (clean := tail.translate(_INVISIBLE)):
            node.tail = clean


def _link_share(root: lxml_html.HtmlElement, total: int) -> float:
    """The share of the body's text that sits inside links (high on listing pages)."""
    linked = sum(len(" ".join(a.text_content().split())) for a in root.iter("a"))
    return linked / total if total else 1.0
