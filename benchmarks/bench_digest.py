"""Speed and memory of sending one digest edition, with the naive per-subscriber baseline.

Run: .venv/bin/python benchmarks/bench_digest.py [--quick]

Sizes: 10,000 and 100,000 subscribers (``--quick``: 2,000 and 10,000), over
20 distinct section sets, and one edition of 6 sections x 10 articles with
https lead images. Each size gets a fresh SQLite file (set up in this process,
not timed), then a child process sends the edition through the real path,
``pipeline.send_edition``: keyset pages of subscriptions, send records read,
claimed in batches under a lease, the crash journal written per message, bodies
rendered once per section set and stored with the edition, every message
assembled to its wire bytes, outcomes recorded in batches. Only the transport
is replaced: the ``file`` entry of the delivery registry builds a null
transport whose ``send`` takes the message's bytes and discards them.

Measured per size (in the child): the wall time of ``send_edition`` alone
(start-up, config and the SQLite setup excluded; DB reads and writes
included), messages/s, and peak memory as the child's ``ru_maxrss`` (resident
set, the whole process: interpreter and libraries included), also shown as
growth over the RSS just before sending.

Baseline in the same run, on a sample of 300 subscribers (their own store):
the message built per subscriber as before the engine, ``Renderer.render``
(Jinja2 + premailer, its inline cache off, so premailer runs every time) then
``mail.compose`` (an ``EmailMessage``) and its bytes, into the same null
transport. The baseline does no DB work, so the ``ratio`` line (engine
messages/s at the larger size / naive messages/s) understates the engine's
advantage. For comparison, one more line gives the same per-subscriber path
with the Renderer's inline cache on (premailer once per distinct document, as
digests were sent just before the engine) and the engine's rate over it.
"""

from __future__ import annotations

import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from syndicate import digest as digest_stage
from syndicate.config import load_config
from syndicate.model import Article, SubscriptionState
from syndicate.store import Store
from syndicate.store.imports import SubscriptionEntry

SECTIONS = ["it", "economy", "politics", "society", "culture", "global"]
NAMES = ["IT·과학", "경제", "정치", "사회", "문화·생활", "글로벌"]
PER_SECTION = 10
FAMILY = "김이박최정강조윤장임한오서신권황안송류홍"
GIVEN = ["민준", "서연", "도윤", "하은", "지호", "수아", "예준", "지우", "시우", "하린"]
SLOT = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)  # 07:00 in Seoul
SAMPLE = 300
SETUP_CHUNK = 10_000


def section_sets() -> list[tuple[str, ...]]:
    """20 distinct section choices: every section, each set of 5, and 13 sets of 4."""
    sets = [tuple(c) for size in (6, 5, 4) for c in itertools.combinations(SECTIONS, size)]
    return sets[:20]


def make_config(folder: Path) -> Path:
    """A config with six sections and one file-delivered digest with images."""
    data = {
        "timezone": "Asia/Seoul",
        "public_base_url": "https://news.example.kr/",
        "store": "sqlite:///bench.db",
        "sections": [{"id": s, "name": n} for s, n in zip(SECTIONS, NAMES, strict=True)],
        "sources": [{"id": "bench", "kind": "feed", "location": "x.xml", "section": "it"}],
        "digests": [
            {
                "id": "morning",
                "title": "벤치 브리핑",
                "schedule": "0 7 * * *",
                "max_per_section": PER_SECTION,
                "sender": "벤치뉴스 <news@news.example.kr>",
                "delivery": {"kind": "file", "folder": "outbox"},
            }
        ],
    }
    path = folder / "schedules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def make_articles(now: datetime) -> list[Article]:
    """Ten articles per section, each with a summary and an https lead image."""
    articles = []
    for i in range(PER_SECTION * len(SECTIONS)):
        section = SECTIONS[i % len(SECTIONS)]
        articles.append(
            Article(
                source_id="bench",
                guid=f"https://news.example.kr/{section}/{i}",
                url=f"https://news.example.kr/{section}/{i}",
                title=f"{i}번째 기사: 반도체 수출 {i % 30}% 증가, 업계 기대감 커져",
                section_id=section,
                summary_html=f"<p>{'산업통상자원부는 27일 발표에서 수출 동향을 밝혔다. ' * 3}</p>",
                published_at=now - timedelta(minutes=7 * i),
                image_url=f"https://img.news.example.kr/2026/11/{i:04d}.jpg",
            )
        )
    return articles


def subscription_entries(start: int, stop: int) -> list[SubscriptionEntry]:
    """Subscribers ``start`` to ``stop`` (exclusive), cycling over the 20 section sets."""
    sets = section_sets()
    consent = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        SubscriptionEntry(
            email=f"reader{i}@example{i % 7}.kr",
            name=FAMILY[i % len(FAMILY)] + GIVEN[(i // len(FAMILY)) % len(GIVEN)],
            digest_id="morning",
            sections=sets[i % len(sets)],
            status=SubscriptionState.ACTIVE,
            consent_at=consent,
        )
        for i in range(start, stop)
    ]


def set_up(folder: Path, subscribers: int) -> Path:
    """A SQLite store with the articles, ``subscribers`` subscriptions and the edition."""
    config_path = make_config(folder)
    config = load_config(config_path)
    now = datetime.now(UTC)
    store = Store(config.store)
    store.upgrade()
    store.upsert_articles(make_articles(now), tag_authority="bench", now=now)
    for start in range(0, subscribers, SETUP_CHUNK):
        store.save_subscriptions(subscription_entries(start, min(subscribers, start + SETUP_CHUNK)))
    edition, _ = digest_stage.build_edition(config, store, "morning", now=now, slot=SLOT)
    store.close()
    if len(edition.articles) != PER_SECTION * len(SECTIONS):
        raise SystemExit(f"edition has {len(edition.articles)} articles, expected 60")
    return config_path


class NullTransport:
    """A transport that takes each message's bytes and discards them (counts them)."""

    def __init__(self) -> None:
        """Nothing written, nothing counted yet."""
        self.written: list[Path] = []
        self.messages = 0
        self.size = 0

    def __enter__(self) -> NullTransport:
        """Start a batch."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Nothing to release."""

    def send(self, message: Any, recipient: str) -> None:
        """Build the message's wire bytes and drop them."""
        self.messages += 1
        self.size += len(message.as_bytes())


def use_null_transport() -> None:
    """Make the ``file`` delivery kind build a NullTransport (everything else unchanged)."""
    from syndicate import deliveries

    file_kind = deliveries.DELIVERY_KINDS["file"]
    deliveries.DELIVERY_KINDS["file"] = deliveries.DeliveryKind(
        transport=lambda config, delivery: NullTransport(),
        batch_size=file_kind.batch_size,
    )


def rss_mb() -> float:
    """This process's peak resident set so far, in MB (ru_maxrss is KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_bodies() -> list[float]:
    """Wrap ``Renderer.render_body`` to add up its time (the once-per-section-set render)."""
    from syndicate import render

    spent = [0.0]
    original = render.Renderer.render_body

    def timed(self: render.Renderer, digest: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(self, digest)
        finally:
            spent[0] += time.perf_counter() - start

    render.Renderer.render_body = timed  # type: ignore[method-assign]
    return spent


def send_child(config_path: Path) -> None:
    """In a child process: send the edition through the real path; print one JSON line."""
    from syndicate import pipeline

    use_null_transport()
    rendering = time_bodies()
    config = load_config(config_path)
    store = Store(config.store)
    edition = store.get_edition("morning", SLOT)
    if edition is None:
        raise SystemExit("no edition: set-up failed")
    before = rss_mb()
    start = time.perf_counter()
    run = pipeline.send_edition(config, store, edition)
    elapsed = time.perf_counter() - start
    (counts,) = store.edition_counts(["morning"])
    store.close()
    bodies = run.bodies.templates if run.bodies is not None else {}
    result = {
        "sent": run.sent,
        "recorded": {str(k): v for k, v in counts.sends.items()},
        "seconds": elapsed,
        "rss_before_mb": before,
        "peak_mb": rss_mb(),
        "bodies": len(bodies),
        "render_seconds": rendering[0],
    }
    print(json.dumps(result))


def run_size(subscribers: int) -> dict[str, Any]:
    """Set up a store of ``subscribers`` and time its send in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        config_path = set_up(Path(tmp), subscribers)
        setup = time.perf_counter() - started
        done = subprocess.run(
            [sys.executable, __file__, "--send", str(config_path)],
            capture_output=True, text=True, check=False, cwd=tmp,
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(f"send child failed ({done.returncode}): {done.stderr.strip()}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        result["setup"] = setup
        return result


def naive_rates() -> tuple[tuple[float, int], tuple[float, int]]:
    """Render + premailer + EmailMessage per subscriber on SAMPLE subscribers, as
    (messages/s, size) with premailer every time, and with the Renderer's inline cache on."""
    from syndicate import render

    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(set_up(Path(tmp), SAMPLE))
        store = Store(config.store)
        edition = store.get_edition("morning", SLOT)
        assert edition is not None
        digests = digest_stage.digests_for(config, edition, store.subscription_page("morning"))
        store.close()
    cache_size, render.INLINE_CACHE_SIZE = render.INLINE_CACHE_SIZE, 0
    naive = per_subscriber(render.Renderer.for_config(config), digests)
    render.INLINE_CACHE_SIZE = cache_size
    cached = per_subscriber(render.Renderer.for_config(config), digests)
    return naive, cached


def per_subscriber(renderer: Any, digests: list[Any]) -> tuple[float, int]:
    """Messages/s and mean size of ``Renderer.render`` + ``mail.compose`` per digest."""
    from syndicate import mail

    renderer.render(digests[0])  # templates loaded and the size fit decided, as in a run
    transport = NullTransport()
    start = time.perf_counter()
    for item in digests:
        message = mail.compose(renderer.render(item))
        transport.send(message, item.subscription.subscriber.email)
    elapsed = time.perf_counter() - start
    return len(digests) / elapsed, transport.size // max(1, transport.messages)


def report(subscribers: int, result: dict[str, Any]) -> float:
    """Print one size's numbers; return its messages/s."""
    rate = result["sent"] / result["seconds"]
    growth = result["peak_mb"] - result["rss_before_mb"]
    print(
        f"  {subscribers:>7,} subscribers: {result['sent']:,} sent in {result['seconds']:.1f} s"
        f" = {rate:,.0f} messages/s; peak RSS {result['peak_mb']:.0f} MB"
        f" ({growth:+.0f} MB over {result['rss_before_mb']:.0f} MB before sending);"
        f" {result['bodies']} bodies rendered in {result['render_seconds']:.1f} s of it;"
        f" records {result['recorded']}; set-up {result['setup']:.0f} s"
    )
    return float(rate)


def main() -> None:
    """Run both sizes and the baseline; print rates, memory and the ratio."""
    quick = "--quick" in sys.argv[1:]
    sizes = (2_000, 10_000) if quick else (10_000, 100_000)
    sets = len(section_sets())
    print(
        f"digest send: {sets} section sets, edition of {len(SECTIONS)} sections x {PER_SECTION}"
        " articles with https lead images; SQLite file; null transport (bytes built, dropped)"
    )
    print("measured: pipeline.send_edition wall time, DB claims/records/journal included;")
    print("peak memory: ru_maxrss of the sending child process (whole process)")
    results = {size: run_size(size) for size in sizes}
    rates = {size: report(size, result) for size, result in results.items()}
    small, large = sizes
    (naive, size), (cached, _) = naive_rates()
    print(
        f"naive baseline ({SAMPLE} subscribers; Renderer.render with premailer every time"
        f" + mail.compose + as_bytes, no DB work): {naive:,.1f} messages/s, {size // 1000} KB each"
    )
    print(
        f"  for comparison, the same with the Renderer's inline cache on (premailer once per"
        f" distinct document): {cached:,.1f} messages/s; engine / that: {rates[large] / cached:.1f}"
    )
    memory = results[large]["peak_mb"] / results[small]["peak_mb"]
    print(f"peak memory {large:,} / {small:,}: {memory:.2f}x")
    print(f"ratio {rates[large] / naive:.1f} (engine at {large:,} / naive messages/s)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--send"]:
        send_child(Path(sys.argv[2]))
    else:
        main()
