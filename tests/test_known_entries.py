"""Entries a feed repeats unchanged are not normalised and decided again.

Each successful read remembers a fingerprint per entry (``SourceState.entries``);
the next read sets apart the entries whose fingerprint it finds there. The store
must end up exactly as if every entry had been decided again: the tests compare
with a second store that reads the final feed in one go.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syndicate import collect
from syndicate.collect import collect_all
from syndicate.config import load_config
from syndicate.decide import entry_salt, split_known
from syndicate.model import Article
from syndicate.store import Store

NOW = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def article(guid: str, **fields: Any) -> Article:
    values: dict[str, Any] = {
        "source_id": "s", "guid": guid, "url": f"https://news.example.kr/a/{guid}",
        "title": f"기사 {guid}", "section_id": "it",
    }  # fmt: skip
    return Article(**(values | fields))


# --- the decision (no store) -------------------------------------------------------------


def test_a_first_read_reads_every_entry() -> None:
    batch = [article("1"), article("2")]
    split = split_known(batch, (), "salt")
    assert split.fresh == batch and split.known == 0 and len(set(split.fingerprints)) == 2


def test_entries_given_unchanged_are_set_apart_and_changed_ones_are_not() -> None:
    before = [article("1"), article("2"), article("3")]
    remembered = split_known(before, (), "salt").fingerprints
    after = [article("0"), before[0], replace(before[1], summary_html="<p>고침</p>"), before[2]]
    split = split_known(after, remembered, "salt")
    assert [a.guid for a in split.fresh] == ["0", "2"]
    assert split.known == 2
    assert split.fingerprints[1] == remembered[0] and split.fingerprints[2] != remembered[1]


def test_another_salt_reads_everything_again() -> None:
    batch = [article("1"), article("2")]
    remembered = split_known(batch, (), entry_salt("1.0", "it")).fingerprints
    assert split_known(batch, remembered, entry_salt("1.0", "it")).known == 2
    assert split_known(batch, remembered, entry_salt("1.1", "it")).fresh == batch
    assert split_known(batch, remembered, entry_salt("1.0", "economy")).fresh == batch


def test_nothing_is_set_apart_when_two_entries_share_a_guid() -> None:
    batch = [article("1"), article("1", title="같은 GUID")]
    remembered = split_known(batch, (), "salt").fingerprints
    split = split_known(batch, remembered, "salt")
    assert split.fresh == batch and split.known == 0


# --- through collect, over HTTP ----------------------------------------------------------


def feed(items: list[tuple[str, str, str]]) -> bytes:
    """RSS 2.0 with (guid, title, description) items."""
    body = "".join(
        f"<item><title>{title}</title><link>https://news.example.kr/a/{guid}</link>"
        f'<guid isPermaLink="false">{guid}</guid><category>{"반도체" if guid == "2" else "기타"}'
        f"</category><pubDate>Fri, 27 Nov 2026 0{guid}:00:00 +0900</pubDate>"
        f"<description>&lt;p&gt;{text}&lt;/p&gt;</description></item>"
        for guid, title, text in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>https://news.example.kr/</link><description>d</description>{body}</channel></rss>"
    ).encode()


_STAMPS = itertools.count(1_700_000_000, 60)


def publish(path: Path, content: bytes) -> None:
    """Write the feed with a later modification time (the server answers 304 on the same second)."""
    path.write_bytes(content)
    stamp = next(_STAMPS)
    os.utime(path, (stamp, stamp))


FIRST = [("1", "하나", "본문 하나"), ("2", "둘", "본문 둘"), ("3", "셋", "본문 셋")]
SECOND = [("4", "넷", "본문 넷"), ("1", "하나", "본문 하나"), ("2", "둘", "본문 둘 (수정)"),
          ("3", "셋", "본문 셋")]  # fmt: skip


@pytest.fixture
def store(migrated_sqlite_url: str) -> Iterator[Store]:
    with Store(migrated_sqlite_url) as opened:
        yield opened


@pytest.fixture
def normalised(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The GUIDs collect normalises, in order (the real function still runs)."""
    seen: list[str] = []
    real = collect.normalize_article

    def spy(raw: Article, origin: collect.ArticleOrigin) -> Article | None:
        seen.append(raw.guid)
        return real(raw, origin)

    monkeypatch.setattr(collect, "normalize_article", spy)
    return seen


def stored(store: Store) -> list[tuple[Any, ...]]:
    """What readers see of each stored article, newest first."""
    return [
        (a.guid, a.title, a.url, a.section_id, a.summary_html, a.content_html, a.published_at,
         a.public_id)
        for a in store.latest_articles(limit=100)
    ]  # fmt: skip


def config_for(write_config: Callable[..., Path], url: str, rules: list[dict[str, str]]) -> Any:
    source = {"id": "it-rss", "kind": "feed", "location": url, "section": "it", "rules": rules}
    return load_config(write_config(sources=[source]))


def test_a_changed_feed_decides_only_its_new_and_changed_entries(
    http_root: tuple[Path, str],
    write_config: Callable[..., Path],
    store: Store,
    sqlite_url: str,
    normalised: list[str],
) -> None:
    root, base = http_root
    config = config_for(write_config, f"{base}it.xml", [])
    publish(root / "it.xml", feed(FIRST))
    assert collect_all(config, store, now=NOW)[0].new == 3
    assert len(store.get_source_state("it-rss").entries) == 3
    publish(root / "it.xml", feed(SECOND))
    normalised.clear()
    (outcome,) = collect_all(config, store, now=LATER)
    assert normalised == ["4", "2"]
    assert (outcome.new, outcome.updated, outcome.unchanged) == (1, 1, 2)
    assert len(store.get_source_state("it-rss").entries) == 4
    with Store(sqlite_url) as fresh:
        fresh.upgrade()
        collect_all(config, fresh, now=LATER)
        assert stored(store) == stored(fresh)


def test_a_304_keeps_the_fingerprints_and_a_failure_too(
    http_root: tuple[Path, str], write_config: Callable[..., Path], store: Store
) -> None:
    root, base = http_root
    config = config_for(write_config, f"{base}it.xml", [])
    publish(root / "it.xml", feed(FIRST))
    collect_all(config, store, now=NOW)
    remembered = store.get_source_state("it-rss").entries
    assert collect_all(config, store, now=NOW)[0].not_modified
    assert store.get_source_state("it-rss").entries == remembered
    (root / "it.xml").unlink()
    assert collect_all(config, store, now=LATER)[0].error
    assert store.get_source_state("it-rss").entries == remembered


def test_new_rules_read_every_entry_again(
    http_root: tuple[Path, str],
    write_config: Callable[..., Path],
    store: Store,
    normalised: list[str],
) -> None:
    root, base = http_root
    publish(root / "it.xml", feed(FIRST))
    collect_all(config_for(write_config, f"{base}it.xml", []), store, now=NOW)
    publish(root / "it.xml", feed(FIRST))  # modified again, the same entries
    ruled = config_for(
        write_config, f"{base}it.xml", [{"category": "반도체", "section": "economy"}]
    )
    normalised.clear()
    (outcome,) = collect_all(ruled, store, now=LATER)
    assert sorted(normalised) == ["1", "2", "3"]
    assert (outcome.updated, outcome.unchanged) == (1, 2)
    assert {a.guid: a.section_id for a in store.latest_articles()} == {
        "1": "it", "2": "economy", "3": "it",
    }  # fmt: skip


def test_fingerprints_that_are_not_a_list_of_text_count_as_none(migrated_sqlite_url: str) -> None:
    """An edited export may hold anything in the JSON column: the next read reads everything."""
    import sqlalchemy as sa

    from syndicate.store.tables import source_states

    engine = sa.create_engine(migrated_sqlite_url)
    with Store(migrated_sqlite_url) as store:
        store.save_source_state(replace(store.get_source_state("s"), entries=("a1", "b2")))
        assert store.get_source_state("s").entries == ("a1", "b2")
        for junk, kept in ((5, ()), ({"a": 1}, ()), (["a1", 7, None], ("a1",))):
            with engine.begin() as conn:
                conn.execute(source_states.update().values(entries=junk))
            assert store.get_source_state("s").entries == kept
    engine.dispose()
