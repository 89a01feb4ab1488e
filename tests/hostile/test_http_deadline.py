"""Hostile HTTP behaviour (class 8): every fetch has one total deadline.

A real server on 127.0.0.1 drips one byte every 0.4 s, which no per-read timeout
ever catches; the fetch is cut at the configured limit with one line naming the
source and the URL, and the other sources of the run are still collected.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from syndicate.collect import collect_all
from syndicate.config import load_config
from syndicate.errors import SourceError
from syndicate.model import SourceState
from syndicate.sources.retrieve import make_client, retrieve
from syndicate.store import Store
from tests.conftest import HttpServe

# Each byte comes well within any one read timeout; only the total deadline can stop it.
DRIP_SECONDS = 0.4
LIMIT = 1.2
FEED = (
    b'<rss version="2.0"><channel><title>t</title><link>https://x.example/</link>'
    b"<item><title>dripped</title><link>https://x.example/1</link></item></channel></rss>"
)
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: %d\r\n\r\n"


def _drip(sock: socket.socket, data: bytes, stop: threading.Event) -> None:
    for index in range(len(data)):
        if index and stop.wait(DRIP_SECONDS):
            return
        try:
            sock.sendall(data[index : index + 1])
        except OSError:
            return


class _Handler(socketserver.BaseRequestHandler):
    mode: ClassVar[str] = "body"
    stop: ClassVar[threading.Event] = threading.Event()

    def handle(self) -> None:
        self.request.recv(65536)
        if self.mode == "headers":
            _drip(self.request, HEAD % len(FEED) + FEED, self.stop)
            return
        self.request.sendall(HEAD % len(FEED))
        _drip(self.request, FEED, self.stop)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True


def finishes(call: Callable[[], Any], within: float) -> Any:
    """Run ``call`` in a thread; fail if it is still running after ``within`` seconds."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within)
    assert not thread.is_alive(), f"still running after {within:g}s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.fixture(params=["body", "headers"])
def dripping(request: pytest.FixtureRequest, serve_http: HttpServe) -> Iterator[str]:
    """A real TCP server that answers one byte every DRIP_SECONDS (in the body or headers)."""

    class Dripping(_Handler):
        mode = request.param
        stop = threading.Event()

    try:
        yield serve_http(Dripping, _Server) + "feed.xml"
    finally:
        Dripping.stop.set()


def test_slow_drip_is_cut_at_the_total_deadline(dripping: str) -> None:
    def fetch() -> Any:
        return retrieve(
            dripping, state=SourceState("drip"), timeout=LIMIT,
            user_agent="t", max_bytes=1_000_000,
        )  # fmt: skip

    with pytest.raises(SourceError) as info:
        finishes(fetch, within=LIMIT + DRIP_SECONDS + 1.5)
    message = str(info.value)
    assert "\n" not in message and "'drip'" in message and dripping in message
    assert f"timed out after {LIMIT:g}s" in message


def test_a_dripping_source_does_not_hold_the_run(
    dripping: str, tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    good = tmp_path / "good.xml"
    good.write_bytes(FEED.replace(b"dripped", b"good"))
    config = load_config(
        write_config(
            store=f"sqlite:///{tmp_path / 'store.db'}",
            collect={"timeout": LIMIT},
            sources=[
                {"id": "drip", "kind": "feed", "location": dripping, "section": "it"},
                {"id": "good", "kind": "feed", "location": str(good), "section": "it"},
            ],
        )
    )

    def run() -> tuple[dict[str, Any], list[str]]:
        with Store(config.store) as store:
            store.upgrade()
            outcomes = {o.source_id: o for o in collect_all(config, store)}
            return outcomes, [a.title for a in store.latest_articles(limit=10)]

    outcomes, stored = finishes(run, within=LIMIT + DRIP_SECONDS + 5)
    assert outcomes["good"].error is None and stored == ["good"]
    error = outcomes["drip"].error
    assert error and "\n" not in error and "timed out" in error and dripping in error


class _SecondDrips(socketserver.BaseRequestHandler):
    """Answers the first request of a connection at once (kept alive), then drips the
    headers of the next one: a reused connection must be held to the deadline too."""

    stop: ClassVar[threading.Event] = threading.Event()

    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(HEAD % len(FEED) + FEED)
        if self.request.recv(65536):
            _drip(self.request, HEAD % len(FEED) + FEED, self.stop)


def test_a_reused_connection_is_cut_at_the_total_deadline(serve_http: HttpServe) -> None:
    class Dripping(_SecondDrips):
        stop = threading.Event()

    url = serve_http(Dripping, _Server) + "feed.xml"
    client = make_client(timeout=LIMIT, user_agent="t", keepalive=4)

    def fetch(source_id: str) -> Any:
        return retrieve(
            url, state=SourceState(source_id), timeout=LIMIT, user_agent="t",
            max_bytes=1_000_000, client=client,
        )  # fmt: skip

    try:
        assert finishes(lambda: fetch("first"), within=LIMIT).content == FEED
        with pytest.raises(SourceError) as info:
            finishes(lambda: fetch("second"), within=LIMIT + DRIP_SECONDS + 1.5)
    finally:
        Dripping.stop.set()
        client.close()
    assert f"timed out after {LIMIT:g}s" in str(info.value)
