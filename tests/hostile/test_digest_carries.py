"""Issue 6 item 5: a Digest carries what render and mail need; no configuration is loaded."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = r"""
import sys
from datetime import UTC, datetime
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

from syndicate.mail import compose
from syndicate.model import (
    Article, Digest, Edition, Masthead, Section, SectionGroup, Subscriber, Subscription,
)
from syndicate.render import Renderer

slot = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
it = Section("it", "IT·과학", 1)
eco = Section("eco", "경제", 2)
article = Article(
    source_id="s", guid="g1", url="/news/1", title="반도체 수출 回復", section_id="it",
    summary_html="<p>요약</p>", published_at=slot, seq=1,
)
masthead = Masthead(
    digest_id="evening", title="저녁 브리핑", sender="편집국 <desk@preview.example.kr>",
    reply_to=None, host="preview.example.kr", public_base_url="https://preview.example.kr/",
    timezone=ZoneInfo("Asia/Seoul"),
)
reader = Subscriber(5, "kim@example.kr", "김독자")
subscription = Subscription(reader, "evening", (), "active", "t/1")
edition = Edition(3, "evening", slot, 9, slot, (article,))
digest = Digest(
    edition, subscription, (SectionGroup(it, (article,)),), masthead, (it, eco),
    "https://preview.example.kr/bye?t=t%2F1",
)
rendered = Renderer().render(digest)
message = message_from_bytes(compose(rendered, now=slot).as_bytes(), policy=policy.default)
loaded = sorted(name for name in ("syndicate.config", "syndicate.digest") if name in sys.modules)
assert loaded == [], loaded
assert rendered.subject.startswith("저녁 브리핑 · 11월 28일"), rendered.subject
assert "https://preview.example.kr/news/1" in rendered.html
assert "IT·과학" in rendered.text and "경제" in rendered.text, rendered.text
assert "https://preview.example.kr/bye?t=t%2F1" in rendered.html
assert message["List-Id"] == "저녁 브리핑 <evening.preview.example.kr>", message["List-Id"]
assert message["List-Unsubscribe"] == "<https://preview.example.kr/bye?t=t%2F1>"
assert message["From"].addresses[0].addr_spec == "desk@preview.example.kr"
assert message["Message-ID"].endswith("@preview.example.kr>")
assert message["Date"] == "Sat, 28 Nov 2026 07:00:00 +0900", message["Date"]
print("ok")
"""


def test_render_and_compose_a_digest_without_config() -> None:
    """A preview builds a Digest by hand: rendering and composing never load the config."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
