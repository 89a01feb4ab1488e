"""The feeds' config fingerprint is stable: the same settings hash to the same bytes.

Feed state (``.feeds-state.json``) stores marks built from this fingerprint, so a
change in how the feeds settings are written out would re-render every feed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from syndicate import feeds_state
from syndicate.config import load_config

FEEDS = {
    "output": "/srv/news/feeds",
    "url_path": "rss/",
    "formats": ["atom", "rss", "json"],
    "per_source": True,
    "limit": 20,
    "title": "테스트뉴스",
    "description": '설명 "인용"',
    "hubs": ["https://hub.example.kr/"],
}
FEEDS_JSON = (
    '{"combined": true, "description": "설명 \\"인용\\"", "formats": ["atom", "rss", "json"], '
    '"hubs": ["https://hub.example.kr/"], "limit": 20, "output": "/srv/news/feeds", '
    '"per_section": true, "per_source": true, "title": "테스트뉴스", "url_path": "rss/"}'
)
FINGERPRINT = "27fcd04c9aedb4742fe6b5f69016c072"


def test_the_feeds_settings_are_written_out_as_before(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(write_config(feeds=FEEDS))
    parts = feeds_state.feeds_settings(config)
    assert json.dumps(parts, sort_keys=True, ensure_ascii=False) == FEEDS_JSON
    monkeypatch.setattr(feeds_state, "__version__", "0.1.0")
    assert feeds_state.config_fingerprint(config) == FINGERPRINT
