"""Both source kinds on the bundled example data: Korean text, sections, dates."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syndicate.collect import collect_all
from syndicate.config import Config, load_config
from syndicate.store import Store
from tests.conftest import ROOT, copy_example


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Config, Store]]:
    """The example collected once for this module (its tests only read the store)."""
    site = copy_example(tmp_path_factory.mktemp("example"))
    config = load_config(site / "schedules.yaml")
    with Store(config.store) as store:
        store.upgrade()
        outcomes = collect_all(config, store)
        assert [o.error for o in outcomes] == [None] * len(outcomes)
        yield config, store


def _by_source(store: Store) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for article in store.latest_articles(limit=1000):
        found.setdefault(article.source_id, []).append(article.title)
    return found


def test_example_volume(collected: tuple[Config, Store]) -> None:
    _, store = collected
    articles = store.latest_articles(limit=1000)
    assert len(articles) == 29
    assert len({a.section_id for a in articles}) == 8
    assert set(_by_source(store)) == {
        "it-rss", "economy-atom", "national-euckr", "opinion-folder", "politics-pages"
    }  # fmt: skip


def test_euc_kr_feed_is_correct_korean(collected: tuple[Config, Store]) -> None:
    _, store = collected
    titles = _by_source(store)["national-euckr"]
    # '똠' exists in CP949 only: a plain EUC-KR decoder would garble or drop it
    assert "한결시 세계음식축제 개막… 똠얌꿍 요리 시연에 발길" in titles
    assert "부산~울산 광역철도 시운전 시작" in titles
    assert not any("\ufffd" in t for t in titles)


def test_naive_dates_read_in_seoul(collected: tuple[Config, Store]) -> None:
    config, store = collected
    article = next(
        a for a in store.latest_articles(limit=1000) if a.title.startswith("부산~울산 광역철도")
    )
    assert article.published_at is not None
    local = article.published_at.astimezone(config.timezone)
    raw = (ROOT / "examples/feeds/national-euckr.rss.xml").read_bytes().decode("cp949")
    block = raw[raw.index("부산~울산 광역철도") :]
    pub = block[block.index("<pubDate>") + 9 : block.index("</pubDate>")]
    assert local.strftime("%H:%M") in pub


def test_section_rules_and_folder(collected: tuple[Config, Store]) -> None:
    _, store = collected
    articles = store.latest_articles(limit=1000)
    sections_of = {(a.source_id, a.section_id) for a in articles}
    assert ("it-rss", "industry") in sections_of  # category 반도체
    assert ("economy-atom", "industry") in sections_of  # URL path /industry/
    assert ("national-euckr", "society") in sections_of  # category 사회
    folder = [a for a in articles if a.source_id == "opinion-folder"]
    assert len(folder) == 4
    assert {a.section_id for a in folder} == {"opinion", "culture"}
    assert all(a.url.startswith("https://news.example.kr/") for a in folder)
    assert all(a.author and a.published_at for a in folder)


def test_hostile_markup_in_example_is_gone(collected: tuple[Config, Store]) -> None:
    _, store = collected
    for article in store.latest_articles(limit=1000):
        html = (article.summary_html + article.content_html).lower()
        for bad in ("<script", "onerror", "onclick", "javascript:", "<iframe"):
            assert bad not in html, (article.title, bad)
