"""Web throughput on 127.0.0.1: feeds answered 304 and archive pages, with Starlette's
own ``StaticFiles`` serving the same feed files in the same run as the baseline.

Run: .venv/bin/python benchmarks/bench_web.py [SECONDS] [CONNECTIONS]

The example site is run once (collect, feeds, one edition) in a temporary folder;
then ``syndicate serve`` (a real process: uvicorn, every middleware, security
headers) and a bare Starlette app mounting ``StaticFiles`` on the same feeds folder
(also under uvicorn, in its own process) are started. A small keep-alive HTTP/1.1
client (asyncio, CONNECTIONS connections) sends requests for SECONDS each and
counts answers with the expected status: the whole path from socket to socket.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
STATIC_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
app = Starlette(routes=[Mount("/feeds", StaticFiles(directory=sys.argv[1]))])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", lifespan="off")
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(site: Path) -> None:
    """Copy the example site and run it once: articles, feeds, an edition."""
    shutil.copy(ROOT / "schedules.yaml", site / "schedules.yaml")
    shutil.copytree(ROOT / "examples", site / "examples")
    syndicate = [sys.executable, "-m", "syndicate"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    for args in (["db", "upgrade"], ["subscribers", "import", "examples/subscribers.csv"]):
        subprocess.run([*syndicate, *args], cwd=site, env=env, check=True, capture_output=True)
    subprocess.run(
        [*syndicate, "run", "--once"], cwd=site, env=env, check=False, capture_output=True
    )


def start(args: list[str], cwd: Path, url: str) -> subprocess.Popen[bytes]:
    """Start a server process and wait until ``url`` answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{args} did not start: {process.stderr.read() if process.stderr else ''}")


async def one_connection(port: int, request: bytes, status: bytes, until: float) -> int:
    """Send ``request`` again and again on one keep-alive connection; count ``status`` answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    count = 0
    while time.perf_counter() < until:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length and not head.startswith(b"HTTP/1.1 304"):
            await reader.readexactly(length)
        count += head[9:12] == status
    writer.close()
    return count


async def rate(
    port: int, path: str, headers: dict[str, str], status: int, *, seconds: float, connections: int
) -> float:
    """Answers with ``status`` per second for GET ``path`` over ``connections`` connections."""
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    await asyncio.gather(
        *(
            one_connection(port, request, str(status).encode(), time.perf_counter() + 0.3)
            for _ in range(connections)
        )
    )
    begin = time.perf_counter()
    until = begin + seconds
    counts = await asyncio.gather(
        *(one_connection(port, request, str(status).encode(), until) for _ in range(connections))
    )
    return sum(counts) / (time.perf_counter() - begin)


def measure(
    port: int, path: str, headers: dict[str, str], status: int, *, seconds: float, connections: int
) -> float:
    """:func:`rate` after checking one answer really has ``status``."""
    answer = httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers)
    assert answer.status_code == status, (path, answer.status_code)
    return asyncio.run(rate(port, path, headers, status, seconds=seconds, connections=connections))


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    connections = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder)
        prepare(site)
        feeds = site / "public" / "feeds"
        ours, theirs = free_port(), free_port()
        servers = [
            start(
                [sys.executable, "-m", "syndicate", "serve", "--port", str(ours)],
                site,
                f"http://127.0.0.1:{ours}/healthz",
            ),
            start(
                [sys.executable, "-c", STATIC_APP, str(feeds), str(theirs)],
                site,
                f"http://127.0.0.1:{theirs}/feeds/all.rss.xml",
            ),
        ]
        try:
            report(ours, theirs, seconds, connections)
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=30)


def report(ours: int, theirs: int, seconds: float, connections: int) -> None:
    """Measure and print every case."""
    feed = "/feeds/all.rss.xml"
    plain = {"Accept-Encoding": "identity"}
    our_tag = httpx.get(f"http://127.0.0.1:{ours}{feed}", headers=plain).headers["etag"]
    their_tag = httpx.get(f"http://127.0.0.1:{theirs}{feed}", headers=plain).headers["etag"]
    listing = httpx.get(f"http://127.0.0.1:{ours}/archive").text
    edition = listing.split('href="/archive/morning/')[1].split('"')[0]
    size = len(httpx.get(f"http://127.0.0.1:{ours}{feed}", headers=plain).content)
    print(
        f"web throughput, {connections} keep-alive connections, {seconds:g} s each, "
        f"feed {feed} ({size // 1024} KB)"
    )
    cases = [
        (
            "304 by If-None-Match",
            feed,
            {"If-None-Match": our_tag, **plain},
            {"If-None-Match": their_tag, **plain},
            304,
        ),
        ("200 full feed", feed, plain, plain, 200),
    ]
    for label, path, mine, base, status in cases:
        a = measure(ours, path, mine, status, seconds=seconds, connections=connections)
        b = measure(theirs, path, base, status, seconds=seconds, connections=connections)
        print(f"  {label:<24} syndicate {a:8.0f}/s   StaticFiles {b:8.0f}/s   ratio {a / b:5.2f}")
    gz = measure(
        ours, feed, {"Accept-Encoding": "gzip"}, 200, seconds=seconds, connections=connections
    )
    print(f"  {'200 gzip feed':<24} syndicate {gz:8.0f}/s   (StaticFiles has no gzip)")
    for label, path in (
        ("archive edition page", f"/archive/morning/{edition}"),
        ("archive list page", "/archive"),
    ):
        views = measure(ours, path, {}, 200, seconds=seconds, connections=connections)
        print(f"  {label:<24} syndicate {views:8.0f}/s")


if __name__ == "__main__":
    main()
