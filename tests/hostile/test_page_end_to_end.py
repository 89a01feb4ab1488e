"""An extracted article flows unchanged into feeds and digests (issue 9), over real HTTP."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser

from syndicate import pipeline
from syndicate.config import load_config
from syndicate.sanitize import html_to_text
from syndicate.subscribers import import_subscribers
from tests.extract_truth import PAGES

# 2023-06-09 12:00 in Seoul: after both pages' publication times (a date later than
# the time an article is first seen is clamped to it)
FRIDAY_NOON = datetime(2023, 6, 9, 3, 0, tzinfo=UTC)


def test_page_source_into_feeds_and_digest(
    http_root: tuple[Path, str], write_config: Any, tmp_path: Path
) -> None:
    root, base = http_root
    (root / "view").mkdir()
    shutil.copy(PAGES / "article_inews24_altman.html", root / "view" / "1601234")
    shutil.copy(PAGES / "hankook_two_reporters.html", root / "view" / "1601235")
    (root / "section.html").write_text(
        '<html><body><ul class="list"><li><a href="/view/1601234">알트만</a></li>'
        '<li><a href="/view/1601235">선거제</a></li></ul></body></html>',
        encoding="utf-8",
    )
    source = {"id": "inews", "kind": "page", "location": base + "section.html", "section": "it",
              "pages": {"select": "ul.list a", "delay": 0},
              "rules": [{"category": "정치", "section": "society"}]}  # fmt: skip
    digests = [{"id": "morning", "title": "아침 브리핑", "schedule": "0 12 * * *",
                "first_window": "7d", "sender": "뉴스 <news@news.example.kr>",
                "delivery": {"kind": "file", "folder": "outbox"}}]  # fmt: skip
    config = load_config(write_config(sources=[source], digests=digests))
    (tmp_path / "subs.csv").write_text(
        "email,name,digest,sections,consented_at\n"
        "kim@example.kr,김민지,morning,it society,2023-06-01T08:00:00+09:00\n",
        encoding="utf-8",
    )
    store = pipeline.open_store(config)
    import_subscribers(config, store, tmp_path / "subs.csv")
    report = pipeline.run_once(config, store, now=FRIDAY_NOON)
    assert [o.error for o in report.sources] == [None] and report.sources[0].new == 2

    stored = {a.title: a for a in store.latest_articles()}
    altman = stored["샘 알트만 방한이 국내 AI 생태계에 던진 화두 세가지"]
    election = stored["여야, 선거제 개편 협상 결렬…비례대표 배분 놓고 평행선"]
    assert election.section_id == "society" and election.author == "김도형, 이서희"

    feed = feedparser.parse((config.feeds.output / "all.rss.xml").read_bytes())
    entries = {e.title: e for e in feed.entries}
    entry = entries[altman.title]
    assert html_to_text(entry.content[0].value) == html_to_text(altman.content_html)
    assert base + "photo/20230609/altman_63square.jpg" in entry.content[0].value
    assert "윤석열 대통령과의 접견에서는" in entry.content[0].value
    assert entry.author_detail.name == "박진영" or entry.get("author") == "박진영"
    assert "IT·과학" in {t.term for t in entry.tags}
    published = datetime(*entry.published_parsed[:6]).replace(tzinfo=UTC)
    assert published == datetime(2023, 6, 9, 2, 35, tzinfo=UTC)
    assert "정치" in {t.term for t in entries[election.title].tags}

    messages = list((config.resolve(Path("outbox"))).glob("*.eml"))
    assert len(messages) == 1
    message = email.message_from_bytes(messages[0].read_bytes(), policy=email.policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert altman.title in text and election.title in text
    assert re.search(r"박진영", text) and "AI반도체 기술 협력" in text
