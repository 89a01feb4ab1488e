"""A delivery test's world: a config, a real store with one edition, and rendered digests.

Shared by the delivery and server-answer tests; the ``worlds`` fixture in
``tests/conftest.py`` builds them and closes their stores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syndicate.config import Config, load_config
from syndicate.delivery import DeliveryReport, deliver_batch
from syndicate.digest import digest_for
from syndicate.model import Edition, RenderedDigest, Subscription, SubscriptionState
from syndicate.store import Store

SLOT = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 27, 22, 1, tzinfo=UTC)
LATER = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
READERS = [("kim@example.com", "김독자"), ("lee@example.com", "이독자"), ("park@example.com", "")]


@dataclass
class World:
    """A config, a real SQLite store with one edition, and rendered digests for READERS."""

    config: Config
    store: Store
    edition: Edition
    rendered: list[RenderedDigest]

    def deliver(self, now: datetime = NOW, **kwargs: Any) -> DeliveryReport:
        """Run deliver_batch for every reader at ``now``."""
        digest = self.config.digests[0]
        return deliver_batch(self.config, self.store, digest, self.rendered, now=now, **kwargs)

    def states(self) -> dict[str, str]:
        """Send state per e-mail address."""
        by_id = self.store.send_states(self.edition.id)
        subscribers = [r.digest.subscription.subscriber for r in self.rendered]
        return {s.email: by_id[s.id] for s in subscribers if s.id in by_id}

    def errors(self) -> dict[str, str]:
        """The last error recorded per e-mail address (sends without one left out)."""
        records = self.store.send_records(self.edition.id)
        subscribers = [r.digest.subscription.subscriber for r in self.rendered]
        found = {s.email: records[s.id].error for s in subscribers if s.id in records}
        return {address: error for address, error in found.items() if error is not None}


def smtp_delivery(port: int) -> dict[str, Any]:
    """The ``delivery`` mapping of a digest sending to 127.0.0.1:port without TLS."""
    return {"kind": "smtp", "host": "127.0.0.1", "port": port, "security": "none", "timeout": 10}


def make_world(
    write_config: Callable[..., Path],
    url: str,
    delivery: dict[str, Any],
    readers: Sequence[tuple[str, str]] = READERS,
) -> World:
    """Build the config file, the store, an edition and one rendered digest per reader."""
    digest = {
        "id": "morning",
        "title": "아침 브리핑",
        "schedule": "0 7 * * *",
        "sender": "테스트뉴스 <news@news.example.kr>",
        "delivery": delivery,
    }
    config = load_config(write_config(digests=[digest]))
    store = Store(url)
    store.upgrade()
    edition, _ = store.create_edition("morning", SLOT, 0, [], now=NOW)
    rendered = []
    for address, name in readers:
        subscriber = store.upsert_subscriber(address, name)
        subscription = Subscription(
            subscriber, "morning", ("it",), SubscriptionState.ACTIVE, f"tok{subscriber.id}"
        )
        text = f"{name or address}님, 오늘의 뉴스입니다.\n"
        digest_obj = digest_for(config, edition, subscription)
        rendered.append(RenderedDigest(digest_obj, "아침 브리핑 11월 28일", f"<p>{text}</p>", text))
    return World(config, store, edition, rendered)
