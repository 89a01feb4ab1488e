"""Takedowns: a hidden article leaves every feed, the archive and the next edition.

Real SQLite and PostgreSQL stores, the real command line (``syndicate articles``)
and the real feed writer.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from syndicate import render
from syndicate.assemble import Bodies
from syndicate.config import Config, load_config
from syndicate.digest import build_edition, digests_for
from syndicate.feeds import write_feeds
from syndicate.model import Article, body_variant
from syndicate.store import Store
from syndicate.subscribers import import_subscribers
from tests.conftest import invoke_syndicate

SEOUL_0800 = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)  # Sat 28 Nov 2026 08:00 in Seoul
SLOT_0700 = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
STORED_AT = SEOUL_0800 - timedelta(hours=5)


def _article(guid: str, section: str, title: str) -> Article:
    return Article(
        source_id="src",
        guid=guid,
        url=f"https://news.example.kr/article/{guid}",
        title=title,
        section_id=section,
        summary_html=f"<p>{title} 요약</p>",
        published_at=datetime(2026, 11, 27, 12, len(guid), tzinfo=UTC),
    )


ARTICLES = (
    _article("a", "it", "정정 요청을 받은 기사"),
    _article("bb", "it", "반도체 설비 투자 확대"),
    _article("ccc", "economy", "수출 물가 석 달째 하락"),
)


@pytest.fixture
def config(write_config: Callable[..., Path], migrated_store_url: str) -> Config:
    digest: dict[str, Any] = {
        "id": "morning", "title": "아침 브리핑", "schedule": "0 7 * * *",
        "sections": ["it", "economy"], "first_window": "1d",
        "sender": "테스트뉴스 <news@news.example.kr>",
        "delivery": {"kind": "file", "folder": "outbox"},
    }  # fmt: skip
    return load_config(write_config(store=migrated_store_url, digests=[digest]))


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    with Store(config.store) as opened:
        opened.upgrade()
        opened.upsert_articles(list(ARTICLES), tag_authority=config.host, now=STORED_AT)
        yield opened


def _seq(store: Store, guid: str) -> int:
    return next(a.seq or 0 for a in store.latest_articles() if a.guid == guid)


def _feed_texts(config: Config) -> dict[str, str]:
    folder = config.resolve(config.feeds.output)
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.xml"))}


def _cli(config: Config, *args: str) -> Any:
    return invoke_syndicate(*args, cwd=config.base_dir)


def test_a_hidden_article_disappears_from_every_feed_and_from_the_next_edition(
    config: Config, store: Store
) -> None:
    write_feeds(config, store)
    before = _feed_texts(config)
    assert len(before) == 8  # rss and atom of three sections and the combined feed
    assert sum("정정 요청을 받은 기사" in text for text in before.values()) == 4  # it, all
    seq = _seq(store, "a")
    outcome = _cli(
        config, "articles", "hide", str(seq), "--reason", "언론중재위 조정", "--by", "법무팀"
    )
    assert outcome.returncode == 0, outcome.stderr
    assert f"article {seq} (" in outcome.stdout and "hidden by 법무팀" in outcome.stdout

    report = write_feeds(config, store)
    after = _feed_texts(config)
    assert [text for text in after.values() if "정정 요청을 받은 기사" in text] == []
    assert sorted(p.name for p in report.written) == sorted(
        name for name, text in before.items() if "정정 요청을 받은 기사" in text
    )
    edition, created = build_edition(config, store, "morning", now=SEOUL_0800)
    assert created and {a.guid for a in edition.articles} == {"bb", "ccc"}

    listed = _cli(config, "articles", "list", "--hidden").stdout.splitlines()
    assert len(listed) == 1
    assert listed[0].split("\t")[:5] == [
        str(seq), "2026-11-28T03:00+09:00", "it", "src", "hidden (법무팀: 언론중재위 조정)"
    ]  # fmt: skip
    assert len(_cli(config, "articles", "list").stdout.splitlines()) == 3


def test_unhide_brings_it_back_and_every_change_is_recorded(config: Config, store: Store) -> None:
    seq = _seq(store, "a")
    public_id = next(a.public_id for a in store.latest_articles() if a.guid == "a")
    assert _cli(config, "articles", "hide", public_id or "", "--reason", "확인 중").returncode == 0
    again = _cli(config, "articles", "hide", str(seq), "--reason", "두 번째")
    assert again.returncode == 0 and "already hidden; nothing recorded" in again.stdout
    shown = _cli(config, "articles", "unhide", str(seq), "--reason", "정정 반영", "--by", "편집국")
    assert shown.returncode == 0 and "shown by 편집국" in shown.stdout
    history = store.takedown_history(seq)
    assert [(t.action, t.reason) for t in history] == [("hide", "확인 중"), ("unhide", "정정 반영")]
    assert history[0].actor  # the OS user when --by is not given
    assert store.takedowns_version() == 2
    write_feeds(config, store)
    assert sum("정정 요청을 받은 기사" in text for text in _feed_texts(config).values()) == 4


def test_a_built_edition_shown_in_the_archive_drops_a_hidden_article(
    config: Config, store: Store
) -> None:
    edition, _ = build_edition(config, store, "morning", now=SEOUL_0800)
    assert len(edition.articles) == 3
    store.set_hidden(_seq(store, "a"), True, reason="r", actor="ops")
    shown = store.get_edition("morning", SLOT_0700)
    assert shown is not None and {a.guid for a in shown.articles} == {"bb", "ccc"}
    assert [e.article_count for e in store.list_editions(["morning"], limit=5)] == [2]
    for guid in ("bb", "ccc"):
        store.set_hidden(_seq(store, guid), True, reason="r", actor="ops")
    assert store.list_editions(["morning"], limit=5) == []
    assert store.count_editions(["morning"]) == 0


def test_hide_names_an_unknown_article_in_one_line(config: Config, store: Store) -> None:
    outcome = _cli(config, "articles", "hide", "999", "--reason", "x")
    assert outcome.returncode == 1
    assert outcome.stderr == "error: no article with sequence or public id '999'\n"
    blank = _cli(config, "articles", "hide", "1", "--reason", "  ")
    assert blank.returncode == 1 and "--reason must say why" in blank.stderr
    missing = _cli(config, "articles", "hide", "1")
    assert missing.returncode == 2 and "--reason" in missing.stderr


def test_list_filters_by_source_section_and_since(config: Config, store: Store) -> None:
    def guids(*args: str) -> list[str]:
        lines = _cli(config, "articles", "list", *args).stdout.splitlines()
        return [line.split("\t")[0] for line in lines]

    seqs = {guid: str(_seq(store, guid)) for guid in ("a", "bb", "ccc")}
    assert guids("--section", "economy") == [seqs["ccc"]]
    assert guids("--source", "elsewhere") == []
    assert len(guids("--source", "src")) == 3
    assert guids("--since", "2099-01-01") == []
    assert len(guids("--since", "2026-11-28")) == 3  # stored 03:00 Seoul time that day
    bad = _cli(config, "articles", "list", "--since", "yesterday")
    assert bad.returncode == 2 and "not a duration (7d), a date" in bad.stderr


def test_a_message_still_to_be_sent_is_rendered_again_without_the_hidden_article(
    config: Config, store: Store, tmp_path: Path
) -> None:
    """A retry or a resumed edition after a hide: the stored body is not reused."""
    (tmp_path / "subs.csv").write_text(
        "email,name,digest\nreader@example.kr,독자,morning\n", encoding="utf-8"
    )
    import_subscribers(config, store, tmp_path / "subs.csv")
    edition, _ = build_edition(config, store, "morning", now=SEOUL_0800)

    def message_text() -> str:
        current = store.get_edition("morning", SLOT_0700)
        assert current is not None
        (digest,) = digests_for(config, current, store.subscriptions("morning"))
        bodies = Bodies(store, lambda: render.Renderer.for_config(config))
        return bodies.message(digest, now=SEOUL_0800).as_bytes().decode("ascii")

    def shows(title: str, raw: str) -> bool:
        parsed = email.message_from_string(raw, policy=email.policy.default)
        part = parsed.get_body(("plain",))
        return part is not None and title in str(part.get_content())

    assert shows("정정 요청을 받은 기사", message_text())  # the body is rendered and stored
    (variant,) = {
        body_variant(d) for d in digests_for(config, edition, store.subscriptions("morning"))
    }
    assert store.edition_body(edition.id, variant) is not None
    seq = _seq(store, "a")
    store.set_hidden(seq, True, reason="언론중재위", actor="법무팀")
    assert store.edition_body(edition.id, variant) is None
    again = message_text()
    assert not shows("정정 요청을 받은 기사", again) and shows("반도체 설비 투자 확대", again)
    store.set_hidden(seq, False, reason="정정 반영", actor="편집국")
    assert shows("정정 요청을 받은 기사", message_text())
