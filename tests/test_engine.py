"""The edition engine: one body per section set, messages assembled from it (bytes equal to
the email package's), sends claimed in batches, and a kill -9 mid-edition resumed."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from markupsafe import escape

from syndicate import pipeline, render
from syndicate.assemble import Bodies
from syndicate.config import Config, load_config
from syndicate.digest import build_edition, digests_for
from syndicate.mail import compose
from syndicate.model import SendState, Subscription, body_variant
from syndicate.store import Store
from syndicate.subscribers import import_subscribers
from tests.conftest import SmtpSink

FRIDAY_0800 = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)  # Friday 08:00 in Seoul
NAMES = ["김민지", 'Kim "KJ" <x>', "", "Ünïcode Ñame", "이름이 꽤 긴 구독자 " * 4, "a&b"]
SECTIONS = ["it industry", "politics economy", "", "national society"]


def write_subscribers(path: Path, count: int, digest: str = "morning") -> Path:
    """A CSV of ``count`` subscribers over a few names and section sets."""
    rows = ["email,name,digest,sections,consented_at"]
    for n in range(count):
        name = NAMES[n % len(NAMES)].replace('"', '""')
        sections = SECTIONS[n % len(SECTIONS)]
        rows.append(f'r{n}+tag@example.com,"{name}",{digest},{sections},2026-11-02T08:15:00+09:00')
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def world(example_site: Path) -> tuple[Config, Store]:
    config = load_config(example_site / "schedules.yaml")
    store = pipeline.open_store(config)
    import_subscribers(config, store, write_subscribers(example_site / "many.csv", 24))
    pipeline.run_collect(config, store, now=FRIDAY_0800)
    return config, store


def test_assembled_bytes_equal_what_the_email_package_composes(world: tuple[Config, Store]) -> None:
    config, store = world
    edition, _ = build_edition(config, store, "morning", now=FRIDAY_0800)
    digests = digests_for(config, edition, store.subscriptions("morning"))
    renderer = render.Renderer.for_config(config)
    bodies = Bodies(store, lambda: renderer)
    assert len({body_variant(d) for d in digests}) > 4
    for digest in digests:
        expected = compose(renderer.render(digest), now=FRIDAY_0800).as_bytes()
        assembled = bodies.message(digest, now=FRIDAY_0800).as_bytes()
        assert assembled == expected
        parsed = email.message_from_bytes(assembled, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        subscriber = digest.subscription.subscriber
        assert subscriber.email.lower() in str(parsed["To"]).lower()
        if subscriber.name:  # (Python's parser may put spaces between encoded-words)
            shown = parsed["To"].addresses[0].display_name
            assert "".join(shown.split()) == "".join(subscriber.name.split())
        html = parsed.get_body(("html",))
        assert html is not None
        assert digest.subscription.token in html.get_content()


def test_two_readers_of_one_section_set_differ_only_in_their_personal_parts(
    world: tuple[Config, Store],
) -> None:
    config, store = world
    edition, _ = build_edition(config, store, "morning", now=FRIDAY_0800)
    digests = digests_for(config, edition, store.subscriptions("morning"))
    first, second = [d for d in digests if body_variant(d) == body_variant(digests[0])][:2]
    bodies = Bodies(store, lambda: render.Renderer.for_config(config))

    def html(subscription: Subscription) -> str:
        digest = next(d for d in digests if d.subscription == subscription)
        parsed = email.message_from_bytes(
            bodies.message(digest, now=FRIDAY_0800).as_bytes(), policy=email.policy.default
        )
        part = parsed.get_body(("html",))
        assert part is not None
        text = str(part.get_content())
        sub = subscription.subscriber
        return (
            text.replace(subscription.token, "T")
            .replace(sub.email, "E")
            .replace(str(escape(sub.name)), "N")
        )

    assert html(first.subscription) == html(second.subscription)


def test_render_and_inline_run_once_per_section_set_and_never_on_resume(
    world: tuple[Config, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, store = world
    calls: Counter[str] = Counter()
    inline, body = render.inline_css, render.Renderer.render_body

    def counted_inline(*args: Any, **kwargs: Any) -> str:
        calls["inline"] += 1
        return inline(*args, **kwargs)

    def counted_body(self: render.Renderer, *args: Any, **kwargs: Any) -> Any:
        calls["render"] += 1
        return body(self, *args, **kwargs)

    monkeypatch.setattr(render, "inline_css", counted_inline)
    monkeypatch.setattr(render.Renderer, "render_body", counted_body)
    run = pipeline.run_digest(config, store, "morning", now=FRIDAY_0800)
    digests = digests_for(config, run.edition, store.subscriptions("morning"))
    variants = {body_variant(d) for d in digests}
    assert run.sent == len(digests) == 24
    assert calls == {"render": len(variants), "inline": len(variants)}
    calls.clear()
    more = write_subscribers(config.resolve(Path("more.csv")), 27)  # 3 more, same sets
    import_subscribers(config, store, more)
    again = pipeline.send_edition(config, store, run.edition, now=FRIDAY_0800)
    assert again.sent == 3 and calls == {}  # the stored bodies were used


def test_claims_are_batched_and_carry_a_lease(store_url: str) -> None:
    from syndicate.lease import lease_for, this_process
    from syndicate.store.sends import SendOutcome

    store = Store(store_url)
    store.ensure_current()
    edition, _ = store.create_edition("morning", FRIDAY_0800, 0, [], now=FRIDAY_0800)
    ids = [store.upsert_subscriber(f"p{n}@example.kr").id for n in range(5)]
    lease = lease_for(FRIDAY_0800)
    claimed = store.claim_sends(edition.id, [(i, f"<{i}@x>") for i in ids], lease, now=FRIDAY_0800)
    assert claimed == dict.fromkeys(ids, 1)
    assert store.claim_sends(edition.id, [(ids[0], "<again>")], lease, now=FRIDAY_0800) == {}
    assert store.lease_owners(edition.id) == [this_process()]
    outcomes = [
        SendOutcome(ids[0], SendState.SENT),
        SendOutcome(ids[1], SendState.DEFERRED, "451 later", FRIDAY_0800),
        SendOutcome(ids[2], SendState.FAILED, "554 5.7.1 no"),
    ]
    assert store.finish_sends(edition.id, outcomes, owner=lease.owner, now=FRIDAY_0800) == 3
    store.release_sends(edition.id, [ids[3]], lease.owner, now=FRIDAY_0800)
    states = store.send_states(edition.id)
    assert states == {
        ids[0]: SendState.SENT,
        ids[1]: SendState.DEFERRED,
        ids[2]: SendState.FAILED,
        ids[4]: SendState.SENDING,
    }
    # a dead owner's claims expire at once, a live owner's lease holds until it ends
    assert store.expire_claims(edition.id, now=FRIDAY_0800) == 0
    assert store.expire_claims(edition.id, now=FRIDAY_0800, dead=[lease.owner]) == 1
    again = store.claim_sends(
        edition.id, [(ids[1], "<x>"), (ids[4], "<y>")], lease, now=FRIDAY_0800
    )
    assert again == {ids[1]: 2, ids[4]: 2}
    store.close()


def _smtp_config(example_site: Path, port: int, connections: int = 1) -> Path:
    path = example_site / "schedules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["digests"][0]["delivery"] = {
        "kind": "smtp", "host": "127.0.0.1", "port": port, "security": "none", "batch_size": 50,
        "connections": connections,
    }  # fmt: skip
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _start_digest(cwd: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    return subprocess.Popen(
        [sys.executable, "-m", "syndicate", "digest", "morning", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for(sink: SmtpSink, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while len(sink.messages) < count:
        assert process.poll() is None, "the sender ended before the kill"
        assert time.monotonic() < deadline, "the sender is too slow"
        time.sleep(0.005)


@pytest.mark.parametrize(
    ("kill", "connections"),
    [(signal.SIGKILL, 1), (signal.SIGKILL, 4), (signal.SIGTERM, 4)],
)
def test_a_killed_sender_resumes_and_everyone_gets_the_edition_once_within_the_bound(
    example_site: Path, smtp_server: tuple[SmtpSink, int], kill: signal.Signals, connections: int
) -> None:
    sink, port = smtp_server
    config = load_config(_smtp_config(example_site, port, connections))
    subscribers = 2000  # issue 8: an edition of at least 2,000 (40 batches of 50)
    with pipeline.open_store(config) as store:
        import_subscribers(config, store, write_subscribers(example_site / "many.csv", subscribers))
        pipeline.run_collect(config, store)
    first = _start_digest(example_site)
    _wait_for(sink, 700, first)
    first.send_signal(kill)
    started = time.monotonic()
    assert first.wait(timeout=30) != 0 or kill is signal.SIGTERM
    assert first.stderr is not None
    first.stderr.close()
    if kill is signal.SIGTERM:
        assert time.monotonic() - started < 10
    arrived_before = len(sink.messages)
    assert arrived_before < subscribers  # the kill came partway through
    second = _start_digest(example_site, "--resume")
    _, errors = second.communicate(timeout=300)
    assert second.returncode in (0, 3), errors.decode()
    by_address: dict[str, list[str]] = {}
    for _, rcpts, content in sink.messages:
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        by_address.setdefault(rcpts[0], []).append(str(parsed["Message-ID"]))
    assert len(by_address) == subscribers  # everyone at least once
    duplicates = {a: ids for a, ids in by_address.items() if len(ids) > 1}
    assert len(duplicates) <= connections  # messages in flight at the kill: connections x 1
    if kill is signal.SIGTERM:
        assert duplicates == {}  # stopped at a batch boundary: nothing was in flight
    assert all(len(ids) == 2 for ids in duplicates.values())  # one extra copy at most
    assert all(len(set(ids)) == 1 for ids in duplicates.values())  # same Message-ID
