"""Public ids that never change: a store rebuilt from an export, or collected again on
another day, serves the same ids. ``syndicate export`` / ``import`` on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import yaml

from syndicate.collect import collect_all
from syndicate.config import Config, load_config
from syndicate.model import ConsentMethod, SendState, SubscriptionState
from syndicate.pipeline import run_digest
from syndicate.store import Store, SubscriptionEntry
from tests.conftest import BASE_CONFIG, folder_handler, invoke_syndicate, serving_http

MONDAY = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 10:00 in Seoul
ID_DATE = date(2024, 5, 1)
DIGEST: dict[str, Any] = {
    "id": "morning", "title": "아침 브리핑", "schedule": "0 7 * * *",
    "sections": ["it", "economy"], "first_window": "2d", "grace": "7d",
    "sender": "테스트뉴스 <news@news.example.kr>",
    "delivery": {"kind": "file", "folder": "outbox"},
}  # fmt: skip


def rss(source: str, count: int) -> bytes:
    items = "".join(
        f"<item><guid>{source}-{n}</guid><link>https://{source}.example.kr/{n}</link>"
        f"<title>{escape(f'{source} 기사 {n}번: 반도체와 경제 소식')}</title>"
        f"<description>본문 {n}</description>"
        f"<pubDate>{format_datetime(MONDAY - timedelta(hours=n))}</pubDate></item>"
        for n in range(1, count + 1)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>t</title>"
        f"<link>https://{source}.example.kr/</link><description>d</description>{items}"
        "</channel></rss>"
    ).encode()


def site(folder: Path, store_url: str, base: str) -> Config:
    """A config in ``folder`` collecting two feeds of ``base`` into ``store_url``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = dict(BASE_CONFIG, store=store_url, id_date=ID_DATE.isoformat(), digests=[DIGEST])
    data["sources"] = [
        {"id": "yna", "kind": "feed", "location": f"{base}yna.xml", "section": "it"},
        {"id": "kbs", "kind": "feed", "location": f"{base}kbs.xml", "section": "economy"},
    ]
    path = folder / "schedules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_config(path)


@pytest.fixture
def feeds(http_root: tuple[Path, str]) -> str:
    root, base = http_root
    write_feeds(root)
    return base


def write_feeds(root: Path) -> None:
    """The two feeds the sites collect, into the served folder ``root``."""
    (root / "yna.xml").write_bytes(rss("yna", 6))
    (root / "kbs.xml").write_bytes(rss("kbs", 4))


def public_ids(store: Store) -> dict[str, str]:
    return {e.article.guid: e.article.public_id or "" for e in store.list_articles(limit=1000)}


def export_lines(store: Store) -> list[str]:
    return [
        json.dumps([kind, values], ensure_ascii=False) for kind, values in store.export_records()
    ]


def test_collecting_into_an_empty_store_on_another_day_mints_the_same_ids(
    tmp_path: Path, feeds: str, store_url: str
) -> None:
    first_config = site(tmp_path / "first", f"sqlite:///{tmp_path / 'first.db'}", feeds)
    second_config = site(tmp_path / "second", store_url, feeds)
    with Store(first_config.store) as first, Store(second_config.store) as second:
        first.upgrade()
        second.upgrade()
        collect_all(first_config, first, now=MONDAY)
        collect_all(second_config, second, now=MONDAY + timedelta(days=40))
        ids = public_ids(first)
        assert len(ids) == 10
        assert ids == public_ids(second)
    assert all(i.startswith("tag:news.example.kr,2024-05-01:") for i in ids.values())


def fill(config: Config, store: Store) -> None:
    """Articles, a takedown, subscribers (one unsubscribed), an edition and its sends."""
    collect_all(config, store, now=MONDAY - timedelta(hours=2))
    store.save_subscriptions([
        SubscriptionEntry(f"reader{n}@example.kr", f"독자 {n}", "morning", ["it"],
                          SubscriptionState.ACTIVE, MONDAY - timedelta(days=30 + n),
                          ConsentMethod.IMPORT)
        for n in range(3)
    ])  # fmt: skip
    leaving = store.upsert_subscriber("reader2@example.kr")
    store.unsubscribe_subscriber(leaving.id, now=MONDAY - timedelta(days=1))
    hidden = store.find_article("1")
    store.set_hidden(hidden.seq or 0, True, reason="정정 요청", actor="법무팀", now=MONDAY)
    run = run_digest(config, store, "morning", now=MONDAY)
    assert run.edition.articles and run.sent == 2, run


def test_a_store_rebuilt_from_its_export_holds_the_same_rows_and_ids(
    tmp_path: Path, feeds: str, store_url: str
) -> None:
    old_config = site(tmp_path / "old", f"sqlite:///{tmp_path / 'old.db'}", feeds)
    new_config = site(tmp_path / "new", store_url, feeds)
    with Store(old_config.store) as old:
        old.upgrade()
        fill(old_config, old)
        before, ids = export_lines(old), public_ids(old)
    out = invoke_syndicate("export", str(tmp_path / "backup.jsonl"), cwd=old_config.base_dir)
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith("exported 10 articles, 1 takedowns, 2 source_states, ")
    done = invoke_syndicate("import", str(tmp_path / "backup.jsonl"), cwd=new_config.base_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout == out.stderr.replace("exported", "imported")
    with Store(new_config.store) as new:
        assert export_lines(new) == before
        assert public_ids(new) == ids
        people = {s.email: [sub.status for sub in subs] for s, subs in new.list_subscribers()}
        assert people["reader2@example.kr"] == [SubscriptionState.UNSUBSCRIBED]
        edition = new.last_edition("morning")
        assert edition is not None
        assert set(new.send_states(edition.id).values()) == {SendState.SENT}
        collect_again(new_config, new, tmp_path)
        assert new.max_seq() == 11


def collect_again(config: Config, store: Store, tmp_path: Path) -> None:
    """One new article after the import: it gets the next sequence."""
    from syndicate.model import Article

    extra = Article("yna", "new-1", "https://yna.example.kr/new", "가져온 뒤의 새 기사 제목", "it")
    store.upsert_articles([extra], tag_authority=config.host, id_date=config.id_date, now=MONDAY)


@pytest.fixture(scope="module")
def exported_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    """The export of a filled store, made once per module (tests only read the lines)."""
    folder = tmp_path_factory.mktemp("export")
    root = folder / "www"
    root.mkdir()
    write_feeds(root)
    with serving_http() as serve:
        config = site(folder / "src", f"sqlite:///{folder / 'src.db'}", serve(folder_handler(root)))
        with Store(config.store) as store:
            store.upgrade()
            fill(config, store)
    out = invoke_syndicate("export", cwd=config.base_dir)
    assert out.returncode == 0, out.stderr
    return tuple(out.stdout.splitlines())


@pytest.fixture
def exported(exported_once: tuple[str, ...]) -> list[str]:
    """The lines of :func:`exported_once`, for the test to change."""
    return list(exported_once)


def import_text(tmp_path: Path, store_url: str, lines: list[str], *args: str) -> Any:
    config = site(tmp_path / "dst", store_url, "http://127.0.0.1:9/")
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return invoke_syndicate("import", str(tmp_path / "in.jsonl"), *args, cwd=config.base_dir)


def _edit(lines: list[str], kind: str, change: Callable[[dict[str, Any]], None]) -> int:
    """Apply ``change`` to the first record of ``kind``; its line number."""
    for index, line in enumerate(lines):
        record = json.loads(line)
        if record["type"] == kind:
            change(record)
            lines[index] = json.dumps(record, ensure_ascii=False)
            return index + 1
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "change", "message"),
    [
        ("articles", lambda r: r.pop("title"), "articles.title: must not be null"),
        ("articles", lambda r: r.update(id="7"), "articles.id: expected a whole number"),
        ("subscriptions", lambda r: r.update(consent_at="2026-11-01T09:00:00"),
         "subscriptions.consent_at: '2026-11-01T09:00:00' has no UTC offset"),
        ("sends", lambda r: r.update(colour="red"), "sends: no column 'colour'"),
        ("edition_articles", lambda r: r.update(article_id=999),
         "edition_articles.article_id: refers to articles id 999, which no earlier line holds"),
        ("takedowns", lambda r: r.update(type="rumours"), "unknown record type 'rumours'"),
    ],
)  # fmt: skip
def test_a_bad_record_is_named_by_line_and_nothing_is_stored(
    tmp_path: Path, store_url: str, exported: list[str], *, kind: str,
    change: Callable[[dict[str, Any]], None], message: str,
) -> None:  # fmt: skip
    lines = list(exported)
    number = _edit(lines, kind, change)
    outcome = import_text(tmp_path, store_url, lines)
    assert outcome.returncode == 1
    assert outcome.stderr.startswith(f"error: line {number}: {message}")
    assert outcome.stderr.count("\n") == 1
    with Store(store_url) as store:
        assert store.held_rows() == {}


def test_unreadable_lines_and_headers_are_named(
    tmp_path: Path, store_url: str, exported: list[str]
) -> None:
    broken = [*exported[:3], '{"type": "articles", "id": ', *exported[3:]]
    outcome = import_text(tmp_path, store_url, broken)
    assert outcome.stderr.startswith("error: line 4: not JSON: ")
    outcome = import_text(tmp_path, store_url, exported[1:])
    assert (
        outcome.stderr == 'error: line 1: not a syndicate export (no "syndicate-export" header)\n'
    )
    twice = [*exported, exported[1]]
    outcome = import_text(tmp_path, store_url, twice)
    assert outcome.stderr == f"error: line {len(twice)}: articles: 1 is already on line 2\n"


def test_a_store_holding_rows_is_refused_unless_replace(
    tmp_path: Path, store_url: str, exported: list[str]
) -> None:
    assert import_text(tmp_path, store_url, exported).returncode == 0
    again = import_text(tmp_path, store_url, exported)
    assert again.returncode == 1
    assert "is not empty: import into an empty store, or pass --replace" in again.stderr
    replaced = import_text(tmp_path, store_url, exported, "--replace")
    assert replaced.returncode == 0, replaced.stderr
    with Store(store_url) as store:
        assert store.held_rows()["articles"] == 10


def test_migrating_keeps_stored_ids_and_keys_stored_stories(store_url: str) -> None:
    """Articles stored before revision 0007 keep their (ingest-day) ids and become matchable."""
    import sqlalchemy as sa
    from alembic import command

    from syndicate.store.migrations import alembic_config

    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0005")
            conn.execute(sa.text(
                "INSERT INTO articles (source_id, guid, key_hash, public_id, url, title, "
                "section_id, summary_html, content_html, author, categories, image_url, "
                "first_seen_at, changed_at, content_hash) VALUES ('yna', 'g1', :key, "
                "'tag:news.example.kr,2025-03-01:yna/0123456789abcdef', "
                "'https://m.news.example.kr/a/1?utm_source=x', '[속보] 반도체 수출 역대 최대', "
                "'it', '', '', '', '[]', '', :when, :when, :hash)"
            ), {"key": "k" * 64, "hash": "h" * 64, "when": MONDAY})  # fmt: skip
    finally:
        engine.dispose()
    with Store(store_url) as store:
        store.upgrade()
        (kept,) = store.latest_articles()
        assert kept.public_id == "tag:news.example.kr,2025-03-01:yna/0123456789abcdef"
        twin = kept.__class__(
            "kbs", "k1", "https://news.example.kr/a/1", "다른 제목의 같은 기사", "it"
        )
        result = store.upsert_articles([twin], tag_authority="news.example.kr", now=MONDAY)
        assert (result.new, result.duplicates) == (0, 1)
        assert [e.sources for e in store.list_articles()] == [("yna", "kbs")]
