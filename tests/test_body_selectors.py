"""The body selectors are matched in one walk of the page: the same elements as CSS would find.

Every page fixture, plus pages made to trip the matching (classes split by tabs
and newlines, a selector's name inside a longer class, upper case, repeated
tokens), is read both ways: lxml's CSSSelector per selector, and the one walk.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest
from lxml.cssselect import CSSSelector

from syndicate.extract.container import BODY_SELECTORS, _selected, _selector_key, find_container
from syndicate.extract.context import Page
from syndicate.extract.document import decode_page, parse_page
from tests.conftest import DATA

PAGES = sorted((DATA / "pages").glob("*.html"))
TRICKY = (
    "<html><body><div class='x article_view'><p>a</p></div>"
    "<div class=\"news_view\tother\"><div class='article_view\narticle_view'>b</div></div>"
    "<div class='Article_View'>c</div><div class='article_viewer'>d</div>"
    "<section id='articleBody'>e</section><section id='articleBody '>f</section>"
    "<div itemprop='articleBody'>g</div><div itemprop='articleBody text'>h</div>"
    "<span class=' view_txt '>i</span><!-- <div class='article_body'> --></body></html>"
)


def _page(source: str) -> Page:
    return Page.build(parse_page(source, "test"), "https://news.example.kr/a/1", UTC)


@pytest.mark.parametrize("source", [*PAGES, TRICKY], ids=lambda s: getattr(s, "name", "tricky"))
def test_one_walk_finds_what_each_css_selector_finds(source: Path | str) -> None:
    text = source if isinstance(source, str) else decode_page(source.read_bytes(), None)
    page = _page(text)
    selected = _selected(page)
    for selector in BODY_SELECTORS:
        expected = CSSSelector(selector)(page.tree)
        assert selected.get(_selector_key(selector), []) == expected, selector


def test_the_tricky_page_matches_what_css_says() -> None:
    selected = _selected(_page(TRICKY))
    assert [n.text_content() for n in selected[("class", "article_view")]] == ["a", "b"]
    assert [n.text_content() for n in selected[("id", "articleBody")]] == ["e"]
    assert [n.text_content() for n in selected[("itemprop", "articleBody")]] == ["g"]


def test_a_selector_of_another_form_is_refused_at_import() -> None:
    with pytest.raises(ValueError, match=r"not #id, \.class"):
        _selector_key("div > p")


def test_article_cards_marked_like_a_body_do_not_stand_for_it() -> None:
    card = "<div class='card'><h3><a href='/a/{0}'>Story {0}</a></h3><div class='article-content'>"
    card += "A short teaser of the story, one sentence long, under its linked headline.</div></div>"
    body = "<p>" + "The council met on Thursday and voted on the budget. " * 8 + "</p>"
    page = _page(
        f"<html><body><div class='story-text'>{body}</div>"
        f"<div class='cards'>{''.join(card.format(n) for n in range(3))}</div></body></html>"
    )
    container, known = find_container(page)
    assert container is not None and container.get("class") == "story-text" and not known
