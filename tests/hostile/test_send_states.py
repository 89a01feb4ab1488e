"""Send and subscription states: one table decides what may follow what, and runs report honestly.

The transition functions are pure and tested here without a database; the
last test runs the real ``digest`` command (in-process) over an edition whose
earlier sends were sent, failed, bounced, interrupted and deferred, and
checks that each is reported under its own name.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from syndicate import pipeline
from syndicate.cli import cli
from syndicate.config import load_config
from syndicate.digest import build_edition, masthead_for
from syndicate.mail import message_id_for
from syndicate.model import (
    SendRecord,
    SendState,
    Subscriber,
    Subscription,
    SubscriptionState,
    bounced_subscription,
    expired_claim,
    may_claim,
    requested_subscription,
    send_may_follow,
    send_predecessors,
    send_transition,
)
from syndicate.subscribers import import_subscribers

ALLOWED = {
    (None, SendState.SENDING),
    (SendState.SENDING, SendState.SENT),
    (SendState.SENDING, SendState.DEFERRED),
    (SendState.SENDING, SendState.FAILED),
    (SendState.SENDING, SendState.BOUNCED),
    (SendState.SENDING, SendState.UNCERTAIN),
    (SendState.DEFERRED, SendState.SENDING),
    (SendState.DEFERRED, SendState.FAILED),
    (SendState.UNCERTAIN, SendState.SENDING),
}
BEFORE: list[SendState | None] = [None, *SendState]
FRIDAY_0800 = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)  # Friday 08:00 in Seoul


def test_stored_values_are_the_strings_the_database_holds() -> None:
    assert [s.value for s in SendState] == [
        "sending",
        "sent",
        "deferred",
        "failed",
        "bounced",
        "uncertain",
    ]
    assert [s.value for s in SubscriptionState] == [
        "pending",
        "active",
        "unsubscribed",
        "bounced",
    ]
    assert "skipped" not in {s.value for s in SendState}


@pytest.mark.parametrize(("current", "new"), list(itertools.product(BEFORE, SendState)))
def test_every_send_transition_is_decided_by_one_table(
    current: SendState | None, new: SendState
) -> None:
    allowed = (current, new) in ALLOWED
    assert send_may_follow(current, new) is allowed
    assert (current in send_predecessors(new)) is allowed
    if allowed:
        assert send_transition(current, new) is new
    else:
        with pytest.raises(ValueError, match=f"send state '{new.value}' cannot follow"):
            send_transition(current, new)


def test_final_claimable_and_delivered_states() -> None:
    final = {SendState.SENT, SendState.FAILED, SendState.BOUNCED}
    assert {s for s in SendState if s.is_final} == final
    resend = {None, SendState.DEFERRED, SendState.UNCERTAIN}
    assert {s for s in BEFORE if may_claim(s)} == resend
    skip = {s for s in BEFORE if may_claim(s, resend_uncertain=False)}
    assert skip == {None, SendState.DEFERRED}
    assert {s for s in SendState if s.delivered} == {SendState.SENT}
    # a send held `sending` is never claimed again while it is: another run holds it
    assert not SendState.SENDING.is_final and not may_claim(SendState.SENDING)


def test_an_expired_claim_is_uncertain_and_nothing_else_expires() -> None:
    assert expired_claim(SendState.SENDING) is SendState.UNCERTAIN
    assert send_may_follow(SendState.SENDING, SendState.UNCERTAIN)
    assert {s for s in BEFORE if expired_claim(s) is not None} == {SendState.SENDING}


def test_a_deferred_send_is_due_when_its_next_attempt_has_come() -> None:
    later = FRIDAY_0800 + timedelta(minutes=5)
    record = SendRecord(1, SendState.DEFERRED, 1, next_attempt_at=later)
    assert not record.due(FRIDAY_0800)
    assert record.due(later)
    assert SendRecord(1, SendState.UNCERTAIN, 1).due(FRIDAY_0800)


def test_subscription_states_and_requests() -> None:
    active, gone = SubscriptionState.ACTIVE, SubscriptionState.UNSUBSCRIBED
    bounced = SubscriptionState.BOUNCED
    assert active.receives and not gone.receives and not bounced.receives
    assert requested_subscription(None, active) is active
    assert requested_subscription(None, gone) is gone
    assert requested_subscription(active, gone) is gone
    assert requested_subscription(gone, active) is gone  # never re-subscribed by a list
    assert requested_subscription(bounced, active) is bounced  # nor a bounced address
    assert requested_subscription(bounced, gone) is bounced
    assert bounced_subscription(active) is bounced
    assert bounced_subscription(gone) is gone
    assert SubscriptionState.parse(" Unsubscribed ") is gone
    with pytest.raises(
        ValueError,
        match="status 'paused' is not one of pending, active, unsubscribed, bounced",
    ):
        SubscriptionState.parse("paused")


def test_a_subscription_holds_its_state_as_the_type() -> None:
    person = Subscriber(1, "kim@example.kr")
    made = Subscription(person, "morning", (), "active", "t")  # type: ignore[arg-type]
    assert made.status is SubscriptionState.ACTIVE
    with pytest.raises(ValueError):
        Subscription(person, "morning", (), "paused", "t")  # type: ignore[arg-type]


def test_digest_command_reports_earlier_sends_under_their_own_names(
    example_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(example_site)
    monkeypatch.setattr(pipeline, "utcnow", lambda: FRIDAY_0800)
    config = load_config(example_site / "schedules.yaml")
    hour = timedelta(hours=1)
    with pipeline.open_store(config) as store:
        import_subscribers(config, store, example_site / "examples" / "subscribers.csv")
        pipeline.run_collect(config, store)
        edition, _ = build_edition(config, store, "morning", now=FRIDAY_0800)
        people = [s.subscriber for s in store.subscriptions("morning")]
        outcomes: list[tuple[SendState | None, datetime | None]] = [
            (SendState.SENT, None),
            (SendState.FAILED, None),
            (SendState.BOUNCED, None),  # the subscription is bounced: not counted any more
            (None, None),  # claimed an hour ago, then the run died: uncertain, resent
            (SendState.DEFERRED, FRIDAY_0800 - hour),  # due: retried with the rest
            (SendState.DEFERRED, FRIDAY_0800 + hour),  # not yet due: waiting
        ]
        masthead = masthead_for(config, config.digests[0])
        for person, (outcome, retry) in zip(people, outcomes, strict=False):
            message_id = message_id_for(masthead, edition, person)
            assert store.claim_send(edition.id, person.id, message_id, now=FRIDAY_0800 - hour)
            if outcome is not None:
                store.finish_send(
                    edition.id, person.id, outcome, error="earlier", next_attempt_at=retry
                )
        total = len(people)
        assert total == len(outcomes)

    result = CliRunner().invoke(
        cli, ["-c", str(example_site / "schedules.yaml"), "digest", "morning"]
    )
    assert result.exit_code == 3, result.output  # a deferred send is left waiting
    summary = result.stdout.strip().splitlines()[0]
    sent = int(summary.split(": ", 1)[1].split(" sent")[0])
    empty = int(summary.split("; ")[1].split(" with nothing new")[0])
    assert " sent, 0 deferred, 0 bounced, 0 failed, 0 uncertain; " in summary
    assert "1 already sent, 1 failed earlier, 1 waiting to retry" in summary
    assert sent + empty == total - 4  # the uncertain and the due deferred went with the rest
    assert "claimed by another run" not in result.output
    with pipeline.open_store(config) as store:
        records = store.send_records(edition.id)
    assert records[people[3].id].state is SendState.SENT  # uncertain -> resent
    assert records[people[3].id].attempts == 2
    assert records[people[5].id].state is SendState.DEFERRED
