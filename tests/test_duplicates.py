"""The same story from two sources is stored once: URL and title matching, future dates.

Pure decisions first (syndicate.matching, syndicate.decide), then real feeds
served over HTTP on 127.0.0.1 collected into SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

from syndicate.collect import collect_all
from syndicate.config import load_config
from syndicate.decide import Candidate, Stored, plan_batch, prepare_batch
from syndicate.matching import Matching, match_title, match_url, title_key, url_key
from syndicate.model import Article, UpsertResult
from syndicate.store import Store

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


# --- URL and title normalisation ----------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "https://news.example.kr/article/1",
        "http://news.example.kr/article/1/",
        "https://www.news.example.kr/article/1?utm_source=rss&utm_medium=feed",
        "https://m.news.example.kr/article/1?fbclid=IwAR0abc#comments",
        "https://NEWS.example.kr:443/article/1?gclid=x&UTM_Campaign=y",
    ],
)
def test_tracking_parameters_mobile_hosts_scheme_and_fragment_do_not_name_a_story(
    variant: str,
) -> None:
    assert match_url(variant) == "//news.example.kr/article/1"
    assert url_key(variant) == url_key("https://news.example.kr/article/1")


def test_parameters_that_name_the_story_stay_and_their_order_does_not_matter() -> None:
    one = match_url("https://news.example.kr/view?idxno=1&sc=it&utm_source=x")
    assert one == "//news.example.kr/view?idxno=1&sc=it"
    assert match_url("https://news.example.kr/view?sc=it&idxno=1") == one
    assert match_url("https://news.example.kr/view?idxno=2&sc=it") != one
    assert match_url("https://news.example.kr:8443/view?idxno=1&sc=it") != one


def test_the_lists_are_configurable() -> None:
    own = Matching(drop_params=("ref",), fold_hosts=("mobile.",))
    assert match_url("https://mobile.news.example.kr/a?ref=home&utm_source=x", own) == (
        "//news.example.kr/a?utm_source=x"
    )
    assert match_url("https://m.news.example.kr/a", own) == "//m.news.example.kr/a"
    assert match_url("https://m.example.kr/a") == "//example.kr/a"
    assert match_url("https://m.kr/a") == "//m.kr/a"  # a domain of its own stays


def test_urls_that_are_not_web_links_have_no_key() -> None:
    assert url_key("mailto:desk@example.kr") is None
    assert url_key("https://[bad/") is None
    assert url_key("") is None


def test_titles_match_without_tags_punctuation_case_or_width() -> None:
    assert match_title("[속보] 한국은행, 기준금리 3.25% 동결") == "한국은행기준금리325동결"
    assert match_title("【단독】 한국은행 기준금리 3.25％ 동결!") == "한국은행기준금리325동결"
    assert title_key("AI 스타트업 투자 늘어") == title_key("ai 스타트업, 투자 늘어…")
    assert title_key("오늘의 날씨") is None  # too short to tell stories apart


# --- decisions ----------------------------------------------------------------------------


def article(source: str, guid: str, **fields: Any) -> Article:
    values: dict[str, Any] = {
        "source_id": source, "guid": guid, "url": f"https://{source}.example.kr/{guid}",
        "title": f"{source} 기사 {guid} 제목입니다", "section_id": "economy", "published_at": NOW,
    }  # fmt: skip
    values.update(fields)
    return Article(**values)


def candidate(seq: int, item: Article) -> Candidate:
    (prepared,) = prepare_batch([item])
    return Candidate(seq, item.source_id, prepared.url_key, prepared.title_key, NOW)


def test_same_url_from_another_source_is_a_duplicate_at_any_distance_in_time() -> None:
    stored = article("yna", "1", url="https://news.example.kr/a/1")
    late = article("kbs", "x", url="https://m.news.example.kr/a/1?utm_source=rss",
                   published_at=NOW + timedelta(days=30))  # fmt: skip
    plan = plan_batch(
        prepare_batch([late]), {}, [candidate(7, stored)], now=NOW + timedelta(days=31)
    )
    assert [(seq, item.article.guid) for seq, item in plan.duplicates] == [(7, "x")]
    assert plan.new == []
    assert plan.result() == UpsertResult(duplicates=1)


def test_same_title_matches_within_the_window_only() -> None:
    stored = article("yna", "1", title="[속보] 한국은행 기준금리 동결 결정")
    close = article(
        "kbs", "2", title="한국은행, 기준금리 동결 결정", published_at=NOW + timedelta(hours=47)
    )
    far = article(
        "sbs", "3", title="한국은행 기준금리 동결 결정", published_at=NOW + timedelta(hours=49)
    )
    later = NOW + timedelta(days=3)
    plan = plan_batch(prepare_batch([close, far]), {}, [candidate(7, stored)], now=later)
    assert [(seq, item.article.source_id) for seq, item in plan.duplicates] == [(7, "kbs")]
    assert [item.article.source_id for item in plan.new] == ["sbs"]


def test_the_same_source_never_duplicates_itself() -> None:
    stored = article("yna", "1", url="https://news.example.kr/a/1")
    again = article("yna", "2", url="https://news.example.kr/a/1")
    plan = plan_batch(prepare_batch([again]), {}, [candidate(7, stored)], now=NOW)
    assert (len(plan.new), len(plan.duplicates)) == (1, 0)


def test_a_story_twice_in_one_batch_of_two_sources_points_at_the_new_one() -> None:
    first = article("yna", "1", url="https://news.example.kr/a/1")
    second = article("kbs", "2", url="https://www.news.example.kr/a/1?gclid=z")
    plan = plan_batch(prepare_batch([first, second]), {}, [], now=NOW)
    assert [item.article.source_id for item in plan.new] == ["yna"]
    assert [(seq, item.article.source_id) for seq, item in plan.duplicates] == [(-1, "kbs")]


def test_matching_disabled_stores_every_copy() -> None:
    first = article("yna", "1", url="https://news.example.kr/a/1")
    second = article("kbs", "2", url="https://news.example.kr/a/1")
    off = Matching(enabled=False)
    plan = plan_batch(prepare_batch([first, second], off), {}, [], now=NOW, matching=off)
    assert (len(plan.new), len(plan.duplicates)) == (2, 0)


def test_another_sources_copy_already_remembered_is_unchanged_whatever_its_content() -> None:
    item = article("kbs", "2", title="고친 제목이 들어간 기사")
    (prepared,) = prepare_batch([item])
    plan = plan_batch([prepared], {prepared.stored_key: Stored(7, "", alias=True)}, now=NOW)
    assert plan.result() == UpsertResult(unchanged=1)


def test_future_dates_are_clamped_to_the_time_first_seen() -> None:
    future = article("yna", "1", published_at=NOW + timedelta(days=400),
                     updated_at=NOW + timedelta(days=401))  # fmt: skip
    plan = plan_batch(prepare_batch([future]), {}, now=NOW)
    assert (plan.new[0].article.published_at, plan.new[0].article.updated_at) == (NOW, NOW)
    (prepared,) = prepare_batch([future])
    seen = NOW - timedelta(days=2)
    held = Stored(3, "0" * 64, first_seen_at=seen)  # stored earlier, content changed since
    plan = plan_batch([prepared], {prepared.stored_key: held}, now=NOW)
    assert plan.updated[0][1].article.published_at == seen
    assert plan.updated[0][1].content_hash == prepared.content_hash  # of what the source says


# --- collected over HTTP into SQLite and PostgreSQL --------------------------------------


def rss(items: list[dict[str, Any]]) -> bytes:
    """An RSS 2.0 document of ``items`` (guid, link, title, published)."""
    entries = "".join(
        f"<item><guid isPermaLink='false'>{escape(i['guid'])}</guid>"
        f"<link>{escape(i['link'])}</link><title>{escape(i['title'])}</title>"
        f"<description>{escape(i['title'])} 본문</description>"
        f"<pubDate>{format_datetime(i['published'])}</pubDate></item>"
        for i in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>피드</title><link>https://example.kr/</link><description>d</description>{entries}"
        "</channel></rss>"
    ).encode()


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    with Store(migrated_store_url) as opened:
        opened.upgrade()
        yield opened


def test_the_same_story_from_two_feeds_is_stored_once_with_both_sources(
    http_root: tuple[Path, str], write_config: Callable[..., Path], store: Store
) -> None:
    root, base = http_root
    story = "https://news.example.kr/article/77"
    (root / "yna.xml").write_bytes(rss([
        {"guid": "yna-77", "link": f"{story}?utm_source=yna&utm_medium=rss",
         "title": "[속보] 반도체 수출 역대 최대", "published": NOW - timedelta(hours=2)},
        {"guid": "yna-78", "link": "https://yna.example.kr/78",
         "title": "서울 첫눈 관측, 평년보다 늦어", "published": NOW - timedelta(hours=5)},
        {"guid": "yna-79", "link": "https://yna.example.kr/79",
         "title": "내년 예산안 국회 본회의 통과", "published": NOW - timedelta(days=5)},
    ]))  # fmt: skip
    (root / "kbs.xml").write_bytes(rss([
        {"guid": "kbs-1", "link": "https://m.news.example.kr/article/77/?fbclid=abc",
         "title": "반도체 수출 역대 최대 기록", "published": NOW - timedelta(hours=1)},
        {"guid": "kbs-2", "link": "https://kbs.example.kr/2",
         "title": "서울 첫눈 관측… 평년보다 늦어", "published": NOW - timedelta(hours=4)},
        {"guid": "kbs-3", "link": "https://kbs.example.kr/3",
         "title": "내년 예산안, 국회 본회의 통과", "published": NOW - timedelta(hours=3)},
        {"guid": "kbs-4", "link": "https://kbs.example.kr/4",
         "title": "미래에서 온 기사 날짜 오류", "published": NOW + timedelta(days=3)},
    ]))  # fmt: skip
    config = load_config(write_config(sources=[
        {"id": "yna", "kind": "feed", "location": f"{base}yna.xml", "section": "economy"},
        {"id": "kbs", "kind": "feed", "location": f"{base}kbs.xml", "section": "economy"},
    ]))  # fmt: skip
    collect_all(config, store, source_ids=["yna"], now=NOW)
    (outcome,) = collect_all(config, store, source_ids=["kbs"], now=NOW)
    # the URL twin and the title twin (1 h apart) are stored once; the budget story
    # of five days earlier is another story; the future one is new
    assert (outcome.new, outcome.updated, outcome.unchanged) == (2, 0, 0)
    assert store.count_articles() == 5
    listed = {e.article.guid: e.sources for e in store.list_articles()}
    assert listed == {
        "yna-77": ("yna", "kbs"), "yna-78": ("yna", "kbs"), "yna-79": ("yna",),
        "kbs-3": ("kbs",), "kbs-4": ("kbs",),
    }  # fmt: skip
    assert {e.article.guid for e in store.list_articles(source_id="kbs")} == {
        "yna-77", "yna-78", "kbs-3", "kbs-4"
    }  # fmt: skip
    clamped = next(e.article for e in store.list_articles() if e.article.guid == "kbs-4")
    assert clamped.published_at == NOW
    for feed in ("yna.xml", "kbs.xml"):  # newer files: read again, not a 304
        later = (root / feed).stat().st_mtime + 10
        os.utime(root / feed, (later, later))
    again = collect_all(config, store, now=NOW + timedelta(hours=1))
    assert [(o.new, o.updated, o.unchanged) for o in again] == [(0, 0, 3), (0, 0, 4)]
    assert store.count_articles() == 5


def test_duplicates_can_be_switched_off(
    http_root: tuple[Path, str], write_config: Callable[..., Path], store: Store
) -> None:
    root, base = http_root
    item = {"guid": "1", "link": "https://news.example.kr/a?utm_source=x",
            "title": "반도체 수출 역대 최대", "published": NOW}  # fmt: skip
    (root / "a.xml").write_bytes(rss([item]))
    (root / "b.xml").write_bytes(rss([replace_guid(item, "2")]))
    config = load_config(write_config(duplicates={"enabled": False}, sources=[
        {"id": "a", "kind": "feed", "location": f"{base}a.xml", "section": "it"},
        {"id": "b", "kind": "feed", "location": f"{base}b.xml", "section": "it"},
    ]))  # fmt: skip
    assert [o.new for o in collect_all(config, store, now=NOW)] == [1, 1]
    assert store.count_articles() == 2


def replace_guid(item: dict[str, Any], guid: str) -> dict[str, Any]:
    return {**item, "guid": guid}


def test_config_names_a_bad_duplicates_key(write_config: Callable[..., Path]) -> None:
    from syndicate.errors import ConfigError

    with pytest.raises(ConfigError, match=r"duplicates\.fold_hosts\[0\].*one label and a dot"):
        load_config(write_config(duplicates={"fold_hosts": ["mobile"]}))
    with pytest.raises(ConfigError, match=r"id_date.*YYYY-MM-DD"):
        load_config(write_config(id_date="last tuesday"))


def test_the_same_story_from_two_feeds_of_one_batch_is_stored_once(
    http_root: tuple[Path, str], write_config: Callable[..., Path], store: Store
) -> None:
    """Sources stored in one transaction are decided together: the twin is a duplicate."""
    root, base = http_root
    story = "https://news.example.kr/article/88"
    (root / "yna.xml").write_bytes(rss([
        {"guid": "yna-88", "link": f"{story}?utm_source=yna", "title": "환율 1,400원 돌파",
         "published": NOW - timedelta(hours=2)},
        {"guid": "yna-89", "link": "https://yna.example.kr/89", "title": "첫 한파 특보",
         "published": NOW - timedelta(hours=3)},
    ]))  # fmt: skip
    (root / "kbs.xml").write_bytes(rss([
        {"guid": "kbs-9", "link": f"{story}#top", "title": "원달러 환율 1400원 넘어",
         "published": NOW - timedelta(hours=1)},
    ]))  # fmt: skip
    config = load_config(write_config(sources=[
        {"id": "yna", "kind": "feed", "location": f"{base}yna.xml", "section": "economy"},
        {"id": "kbs", "kind": "feed", "location": f"{base}kbs.xml", "section": "economy"},
    ]))  # fmt: skip
    outcomes = {o.source_id: o for o in collect_all(config, store, now=NOW)}
    assert (outcomes["yna"].new, outcomes["kbs"].new) == (2, 0)
    assert outcomes["kbs"].error is None
    listed = {e.article.guid: e.sources for e in store.list_articles()}
    assert listed == {"yna-88": ("yna", "kbs"), "yna-89": ("yna",)}
