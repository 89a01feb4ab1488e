"""Send and subscription states: one table decides what may follow what, and runs report honestly.

The transition functions are pure and tested here without a database; the
last test runs the real ``digest`` command (in-process) over an edition whose
earlier sends were sent, failed for good, interrupted and failed for now, and
checks that each is reported under its own name.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from syndicate import pipeline
from syndicate.cli import cli
from syndicate.config import load_config
from syndicate.digest import build_edition, masthead_for
from syndicate.mail import message_id_for
from syndicate.model import (
    SendState,
    Subscriber,
    Subscription,
    SubscriptionState,
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
    (SendState.SENDING, SendState.FAILED_TEMPORARY),
    (SendState.SENDING, SendState.FAILED_PERMANENT),
    (SendState.FAILED_TEMPORARY, SendState.SENDING),
}
BEFORE: list[SendState | None] = [None, *SendState]
FRIDAY_0800 = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)  # Friday 08:00 in Seoul


def test_stored_values_are_the_strings_the_database_holds() -> None:
    assert [s.value for s in SendState] == [
        "sending",
        "sent",
        "failed_temporary",
        "failed_permanent",
    ]
    assert [s.value for s in SubscriptionState] == ["pending", "active", "unsubscribed"]
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
    assert {s for s in SendState if s.is_final} == {SendState.SENT, SendState.FAILED_PERMANENT}
    assert {s for s in BEFORE if may_claim(s)} == {None, SendState.FAILED_TEMPORARY}
    assert {s for s in SendState if s.delivered} == {SendState.SENT}
    # an interrupted send is neither final nor claimable: it may have gone out
    assert not SendState.SENDING.is_final and not may_claim(SendState.SENDING)


def test_subscription_states_and_requests() -> None:
    active, gone = SubscriptionState.ACTIVE, SubscriptionState.UNSUBSCRIBED
    assert active.receives and not gone.receives
    assert requested_subscription(None, active) is active
    assert requested_subscription(None, gone) is gone
    assert requested_subscription(active, gone) is gone
    assert requested_subscription(gone, active) is gone  # never re-subscribed by a list
    assert SubscriptionState.parse(" Unsubscribed ") is gone
    with pytest.raises(
        ValueError, match="status 'paused' is not one of pending, active, unsubscribed"
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
    with pipeline.open_store(config) as store:
        import_subscribers(config, store, example_site / "examples" / "subscribers.csv")
        pipeline.run_collect(config, store)
        edition, _ = build_edition(config, store, "morning", now=FRIDAY_0800)
        people = [s.subscriber for s in store.subscriptions("morning")]
        outcomes = [
            SendState.SENT,
            SendState.FAILED_PERMANENT,
            None,  # claimed, then the run died: interrupted
            SendState.FAILED_TEMPORARY,
        ]
        for person, outcome in zip(people, outcomes, strict=False):
            assert store.claim_send(
                edition.id,
                person.id,
                message_id_for(masthead_for(config, config.digests[0]), edition, person),
            )
            if outcome is not None:
                store.finish_send(edition.id, person.id, outcome, error="earlier")
        total = len(people)

    result = CliRunner().invoke(
        cli, ["-c", str(example_site / "schedules.yaml"), "digest", "morning"]
    )
    assert result.exit_code == 0, result.output
    summary = result.stdout.strip().splitlines()[0]
    sent = int(summary.split(": ", 1)[1].split(" sent")[0])
    empty = int(summary.split(" sent, ")[1].split(" with nothing new")[0])
    assert "1 already sent, 1 failed earlier, 0 failed" in summary
    assert sent + empty == total - 3  # the temporary failure was retried with the rest
    assert "1 sends were interrupted earlier and are not retried" in result.stderr
    assert "claimed by another run" not in result.output
