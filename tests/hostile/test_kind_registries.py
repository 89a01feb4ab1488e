"""One registry per kind: sources and deliveries are asked for, never tested for.

Each kind in the config's discriminated unions has exactly one registry entry,
and replacing an entry (as adding a kind would) changes what collect, the send
loop, the pipeline and ``check`` do without any other edit. Options of one kind
are typed: another kind's key is rejected with its key path.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from syndicate import collect, deliveries, pipeline, preflight, sources, transports
from syndicate.config import DELIVERY_MODELS, load_config
from syndicate.config_model import kind_of
from syndicate.config_sources import SOURCE_MODELS
from syndicate.errors import ConfigError
from syndicate.model import Article, SourceState
from syndicate.store import Store
from tests.conftest import BASE_CONFIG, ROOT

SECTION = BASE_CONFIG["sections"][0]["id"]


def _tags(models: tuple[type[Any], ...]) -> set[str]:
    return {kind_of(model) for model in models}


def test_every_config_kind_has_one_registry_entry_and_back() -> None:
    assert _tags(SOURCE_MODELS) == set(sources.SOURCE_KINDS)
    assert _tags(DELIVERY_MODELS) == set(deliveries.DELIVERY_KINDS)


def _problems(write_config: Callable[..., Path], **overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(**overrides))
    return caught.value.problems


def _source(**fields: Any) -> dict[str, Any]:
    return {"id": "s", "section": SECTION, **fields}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            _source(kind="folder", location="x", pages={"limit": 3}),
            "sources[0].pages: a folder source has no 'pages' "
            "(only a feed, page or sitemap source has it)",
        ),
        (
            _source(kind="sitemap", location="https://a.example/s.xml", fulltext=True),
            "sources[0].fulltext: a sitemap source has no 'fulltext' (only a feed source has it)",
        ),
        (
            _source(location="x"),
            "sources[0].kind: required key is missing (known: feed, folder, page, sitemap)",
        ),
        (
            _source(kind="pigeon", location="x"),
            "sources[0].kind: unknown kind 'pigeon' (known: feed, folder, page, sitemap)",
        ),
        (_source(kind="feed"), "sources[0].location: required key is missing"),
    ],
)
def test_source_options_are_typed_by_kind(
    write_config: Callable[..., Path], source: dict[str, Any], expected: str
) -> None:
    assert _problems(write_config, sources=[source]) == [expected]


def test_delivery_option_of_another_kind_names_the_kind(
    write_config: Callable[..., Path],
) -> None:
    digest = dict(BASE_CONFIG["digests"][0], delivery={"kind": "file", "host": "mail"})
    assert _problems(write_config, digests=[digest]) == [
        "digests[0].delivery.host: a file delivery has no 'host' (only a smtp delivery has it)"
    ]


class Recorder:
    """A transport that keeps messages in memory."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.written: list[Path] = []

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def send(self, message: transports.Outgoing, recipient: str) -> None:
        self.sent.append(recipient)


def test_a_delivery_kind_is_one_registry_entry(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    recorder = Recorder()
    fake = deliveries.DeliveryKind(
        transport=lambda config, settings: recorder,
        batch_size=lambda settings: 7,
        output=lambda config, settings: tmp_path / "a-file" / "inside",
        environment=lambda settings: [("folder", "pigeons are not ready")],
        output_key="folder",
    )
    monkeypatch.setitem(deliveries.DELIVERY_KINDS, "file", fake)
    (tmp_path / "a-file").write_text("not a folder")
    config = load_config(write_config())
    digest = config.digests[0]
    assert transports.make_transport(config, digest) is recorder
    assert pipeline._batch_size(digest) == 7
    assert preflight.environment_problems(config) == [
        "digests[0].delivery.folder: pigeons are not ready"
    ]
    assert f"digests[0].delivery.folder: {tmp_path / 'a-file'} is not a folder" in (
        preflight.folder_problems(config)
    )


def test_a_source_kind_is_one_registry_entry(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    def read(source: Any, ctx: sources.SourceContext) -> sources.SourceResult:
        article = Article(
            source_id=source.id,
            guid="g1",
            url="https://news.example.kr/a/1",
            title="하나",
            section_id=source.section,
            published_at=datetime(2026, 11, 1, tzinfo=UTC),
        )
        return sources.SourceResult([article], SourceState(source.id))

    fake = sources.SourceKind(read, environment=lambda source: [("location", "no pigeons")])
    monkeypatch.setitem(sources.SOURCE_KINDS, "feed", fake)
    config = load_config(write_config(sources=[_source(kind="feed", location="/nowhere")]))
    assert preflight.environment_problems(config) == ["sources[0].location: no pigeons"]
    store = Store(sqlite_url)
    try:
        store.upgrade()
        outcome = collect.collect_source(config, store, config.sources[0])
    finally:
        store.close()
    assert (outcome.error, outcome.new) == (None, 1)


KIND_NAMES = {"FileDelivery", "SmtpDelivery", "FileTransport", "SmtpTransport"}
KIND_NAMES |= {model.__name__ for model in SOURCE_MODELS}


def _kind_tests(path: Path) -> list[str]:
    """``isinstance`` against a kind's class, or ``getattr`` of a kind's option, in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        if node.func.id == "isinstance" and names & KIND_NAMES:
            found.append(f"{path.name}:{node.lineno}")
        if node.func.id == "getattr" and any(
            isinstance(a, ast.Constant) and a.value in ("folder", "batch_size", "password_env")
            for a in node.args
        ):
            found.append(f"{path.name}:{node.lineno}")
    return found


@pytest.mark.parametrize(
    "module",
    [
        "cli.py",
        "pipeline.py",
        "preflight.py",
        "config.py",
        "delivery.py",
        "transports.py",
        "collect.py",
    ],
)
def test_no_module_switches_on_a_kind(module: str) -> None:
    assert _kind_tests(ROOT / "syndicate" / module) == []


def test_parsers_take_what_they_need_not_a_source_config() -> None:
    from pathlib import PurePosixPath
    from zoneinfo import ZoneInfo

    from syndicate.sources.feed import parse_feed
    from syndicate.sources.folder import file_to_article
    from syndicate.sources.markup import MarkdownConverter

    seoul = ZoneInfo("Asia/Seoul")
    rss = (
        b"<rss version='2.0'><channel><title>t</title><item><title>a</title>"
        b"<link>https://x.example/1</link><pubDate>Fri, 01 Nov 2024 09:00:00</pubDate>"
        b"</item></channel></rss>"
    )
    (item,) = parse_feed(rss, source_id="wire", section="it", zone=seoul)
    assert (item.source_id, item.section_id) == ("wire", "it")
    assert item.published_at == datetime(2024, 11, 1, 0, 0, tzinfo=UTC)
    text = "---\ntitle: 칼럼\ndate: 2024-11-01T09:00\n---\n본문\n"
    with MarkdownConverter() as converter:
        article = file_to_article(
            PurePosixPath("a.md"), text, source_id="desk", section="it", zone=seoul,
            public_base_url="https://news.example.kr/", sections={"it"}, converter=converter,
        )  # fmt: skip
    assert (article.source_id, article.section_id) == ("desk", "it")
    assert article.published_at == datetime(2024, 11, 1, 0, 0, tzinfo=UTC)
    assert article.url == "https://news.example.kr/articles/desk/a"
