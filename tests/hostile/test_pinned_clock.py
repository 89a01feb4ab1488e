"""A cycle given a moment runs wholly at that moment: nothing in it reads the wall clock.

Tests pin the moment; before, `run_once(now=...)` collected at the real time and
built the edition at the pinned one, so an edition's first window depended on
the date the suite ran.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from syndicate import pipeline
from syndicate.config import load_config
from syndicate.subscribers import import_subscribers

# Far from today on both sides: the results may not depend on the real date.
MOMENTS = [
    datetime(2001, 2, 5, 22, 30, tzinfo=UTC),  # Tuesday 07:30 in Seoul
    datetime(2087, 6, 16, 22, 30, tzinfo=UTC),  # Tuesday 07:30 in Seoul
]


@pytest.mark.parametrize("now", MOMENTS)
def test_run_once_collects_and_sends_at_the_given_moment(example_site: Path, now: datetime) -> None:
    config = load_config(example_site / "schedules.yaml")
    store = pipeline.open_store(config)
    try:
        import_subscribers(config, store, example_site / "examples" / "subscribers.csv")
        report = pipeline.run_once(config, store, now=now)
        assert not report.has_failures, report
        stored = store.articles_for_edition(
            upto_seq=store.max_seq(), section_ids=[s.id for s in config.sections]
        )
        assert stored and {a.first_seen_at for a in stored} == {now}
        (run,) = report.digests
        assert run.edition.slot == now.replace(minute=0)
        assert len(run.edition.articles) == len(stored)
        assert run.sent == len(store.subscriptions("morning"))
    finally:
        store.close()
