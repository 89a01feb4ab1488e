"""Collect speed: 500 local feeds x 20 Korean items, cold and warm (all 304), against rss2email.

Run: .venv/bin/python benchmarks/bench_collect.py [FEEDS] [ITEMS] [--no-baseline]

The feeds are served with ETags by a ThreadingHTTPServer in its own process on
127.0.0.1 (HTTP/1.1, so connections may be reused). ``syndicate collect`` runs
as a subprocess (the real CLI path) into a fresh SQLite store: once cold (every
entry new), once warm (every feed answers 304), and once changed (every feed
rewritten with one more entry: the steady state of real feeds, where a changed
feed repeats most of its entries). The baseline, rss2email without
sending mail (``r2e run --no-send``), reads the same feeds; it is installed from
PyPI into a temporary venv and its config and data file are written directly,
both before any timing. Printed: wall time, CPU time (user + system of the
collecting process), entries/s, sources/s, peak RSS, and the ratios.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

import yaml

ROOT = Path(__file__).resolve().parent.parent
SYNDICATE = [sys.executable, "-m", "syndicate"]
TOPICS = ["반도체", "수출", "금리", "부동산", "선거", "날씨", "축구", "인공지능", "배터리", "환율"]
WORKERS_NOTE = "syndicate: 4 reader threads, host_concurrency 4, host_delay 0"
# The libraries every collect loads before its first request (the command line,
# the config file and models, the store, HTTP): what no collect can go below.
FLOOR = "import click, yaml, sqlalchemy, httpx"


# --- the feeds and their server -------------------------------------------------


def make_feed(number: int, items: int) -> bytes:
    """RSS 2.0 with ``items`` Korean items (HTML descriptions, categories, dates)."""
    base = datetime(2026, 11, 27, 9, 0)
    parts = []
    for i in range(items):
        topic = TOPICS[(number + i) % len(TOPICS)]
        when = (base - timedelta(minutes=13 * i + number)).strftime("%a, %d %b %Y %H:%M:%S +0900")
        url = f"https://news{number % 7}.example.kr/article/{number}/{i}"
        body = f"{topic} 관련 업계는 {i}일 발표에서 전년 대비 {number % 40}% 증가를 전망했다. " * 6
        parts.append(
            f"<item><title>[{topic}] {number}번 매체 {i}번째 기사: {topic} 시장 동향 분석</title>"
            f'<link>{url}</link><guid isPermaLink="true">{url}</guid>'
            f"<category>{topic}</category><pubDate>{when}</pubDate>"
            f'<description>&lt;p&gt;{body}&lt;a href="/more/{i}"&gt;더보기&lt;/a&gt;&lt;/p&gt;'
            f"</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{number}번 매체</title><link>https://news{number % 7}.example.kr/</link>"
        "<description>벤치마크</description>" + "".join(parts) + "</channel></rss>"
    ).encode()


class FeedHandler(http.server.BaseHTTPRequestHandler):
    """Serves the files of ``folder`` with a strong ETag; answers 304 when it matches."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes. With Nagle's algorithm on (the
    # standard library's default here) the body then waits for the client's
    # delayed ACK of the headers, about 40 ms per response on a kept-alive
    # connection. Web servers set TCP_NODELAY (nginx's tcp_nodelay, Apache,
    # asyncio servers), so this server does too.
    disable_nagle_algorithm = True
    folder: ClassVar[Path] = Path()
    cache: ClassVar[dict[str, tuple[bytes, str]]] = {}

    def do_GET(self) -> None:
        """Answer one feed (200 or 304), keeping the connection open."""
        path = self.folder / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        key = f"{path.name}@{path.stat().st_mtime_ns}"  # a rewritten feed is read again
        if key not in self.cache:
            body = path.read_bytes()
            self.cache[key] = (body, '"' + hashlib.sha1(body).hexdigest() + '"')
        body, etag = self.cache[key]
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def serve(folder: str) -> None:
    """Serve ``folder`` on a free port of 127.0.0.1; print the port, serve until killed."""
    FeedHandler.folder = Path(folder)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FeedHandler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


# --- running and measuring ----------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One timed process: wall and CPU seconds, peak RSS in MiB, its output."""

    wall: float
    cpu: float
    peak_mib: float
    output: str


def timed(args: list[str], env: dict[str, str] | None = None) -> Run:
    """Run ``args`` to the end; measure it alone (``wait4`` gives this child's usage)."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if process.returncode not in (0, 3):
        raise SystemExit(f"{args[0]} failed ({process.returncode}):\n{text[-2000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, text)


def syndicate_site(folder: Path, base: str, feeds: int) -> Path:
    """A config with one feed source per served feed and a fresh SQLite store."""
    data = {
        "timezone": "Asia/Seoul",
        "public_base_url": "https://news.example.kr/",
        "store": f"sqlite:///{folder / 'bench.db'}",
        "sections": [{"id": "news", "name": "뉴스"}],
        "sources": [
            {"id": f"f{n:04d}", "kind": "feed", "section": "news", "location": url}
            for n, url in ((n, f"{base}f{n:04d}.xml") for n in range(feeds))
        ],
        "collect": {"host_concurrency": 4, "host_delay": 0.0, "timeout": 30.0},
    }
    path = folder / "schedules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    subprocess.run([*SYNDICATE, "--config", str(path), "db", "upgrade"], check=True,
                   capture_output=True)  # fmt: skip
    return path


def rss2email_site(folder: Path, base: str, feeds: int) -> list[str]:
    """A venv with rss2email from PyPI, its config and an empty data file; the r2e command."""
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "rss2email"]
    subprocess.run(pip, check=True, capture_output=True)
    lines = ["[DEFAULT]", "to = bench@example.kr", "from = r2e@example.kr",
             "same-server-fetch-interval = 0", ""]  # fmt: skip
    for n in range(feeds):
        lines += [f"[feed.f{n:04d}]", f"url = {base}f{n:04d}.xml", ""]
    (folder / "r2e.cfg").write_text("\n".join(lines), encoding="utf-8")
    (folder / "r2e.json").write_text(json.dumps({"version": 2, "feeds": []}), encoding="utf-8")
    return [str(venv / "bin" / "r2e"), "-c", str(folder / "r2e.cfg"), "-d",
            str(folder / "r2e.json"), "run", "--no-send"]  # fmt: skip


def r2e_seen(folder: Path) -> int:
    """How many entries rss2email remembers."""
    data = json.loads((folder / "r2e.json").read_text(encoding="utf-8"))
    return sum(len(feed.get("seen") or {}) for feed in data["feeds"])


def stored_articles(config: Path) -> int:
    """How many articles the syndicate store holds."""
    from syndicate.config import load_config
    from syndicate.store import Store

    with Store(load_config(config).store) as store:
        return store.count_articles()


def line(label: str, run: Run, entries: int, sources: int) -> None:
    """Print one measured run."""
    print(f"  {label:<22} wall {run.wall:7.2f} s  cpu {run.cpu:7.2f} s  "
          f"{entries / run.wall:9.0f} entries/s  {sources / run.wall:7.1f} sources/s  "
          f"peak {run.peak_mib:6.1f} MiB")  # fmt: skip


def main() -> None:
    """Generate, serve, collect cold and warm with syndicate and rss2email; print ratios."""
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    feeds = int(args[0]) if args else 500
    items = int(args[1]) if len(args) > 1 else 20
    baseline = "--no-baseline" not in sys.argv
    entries = feeds * items
    with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
        folder = Path(tmp)
        (folder / "www").mkdir()
        write_feeds(folder / "www", feeds, items)
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(folder / "www")],
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            assert server.stdout is not None
            base = f"http://127.0.0.1:{server.stdout.readline().strip()}/"
            measure(folder, base, feeds, entries, baseline)
        finally:
            server.kill()
            server.wait()


def write_feeds(folder: Path, feeds: int, items: int) -> None:
    """Write ``feeds`` feeds of ``items`` items into ``folder`` (a later mtime each time)."""
    stamp = time.time() + 60 * items
    for n in range(feeds):
        path = folder / f"f{n:04d}.xml"
        path.write_bytes(make_feed(n, items))
        os.utime(path, (stamp, stamp))


def measure(folder: Path, base: str, feeds: int, entries: int, baseline: bool) -> None:
    """The timed part: syndicate cold and warm, then rss2email cold and warm; then every
    feed gains one entry and both read them again ("changed")."""
    print(f"{feeds} feeds x {entries // feeds} items = {entries} entries ({WORKERS_NOTE})")
    # An installed package has its bytecode compiled (pip compiles rss2email's); an
    # editable checkout may not (PYTHONDONTWRITEBYTECODE): compile it before timing.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "syndicate")],
                   check=True, capture_output=True)  # fmt: skip
    config = syndicate_site(folder, base, feeds)
    collect = [*SYNDICATE, "--config", str(config), "collect"]
    cold = timed(collect)
    stored = stored_articles(config)
    warm = timed(collect)
    unchanged = warm.output.count(": not modified")
    floor = timed([sys.executable, "-c", FLOOR])
    print("syndicate collect (CLI, SQLite)")
    line("cold", cold, entries, feeds)
    line("warm (all 304)", warm, entries, feeds)
    share = 100 * floor.wall / warm.wall
    print(f"  floor: importing {FLOOR[7:]} alone takes {floor.wall:.2f} s "
          f"(cpu {floor.cpu:.2f} s), {share:.0f}% of the warm run")  # fmt: skip
    print(f"  stored {stored} of {entries}; warm: {unchanged} of {feeds} not modified")
    r2e = rss2email_site(folder, base, feeds) if baseline else []
    if baseline:
        r2e_cold = timed(r2e)
        seen = r2e_seen(folder)
        r2e_warm = timed(r2e)
    write_feeds(folder / "www", feeds, entries // feeds + 1)
    changed = timed(collect)
    print(f"syndicate, every feed changed (1 new entry of {entries // feeds + 1})")
    line("changed", changed, entries + feeds, feeds)
    if not baseline:
        return
    r2e_changed = timed(r2e)
    print("rss2email run --no-send (baseline)")
    line("cold", r2e_cold, entries, feeds)
    line("warm (all 304)", r2e_warm, entries, feeds)
    line("changed", r2e_changed, entries + feeds, feeds)
    print(f"  remembered {seen} of {entries}")
    print("ratios (syndicate / rss2email; speed higher is better, CPU lower is better)")
    print(f"  cold entries/s  {r2e_cold.wall / cold.wall:6.2f}x   (target >= 10x)   "
          f"cold CPU {cold.cpu / r2e_cold.cpu:5.2f}x")  # fmt: skip
    print(f"  warm sources/s  {r2e_warm.wall / warm.wall:6.2f}x   (target >= 3x)    "
          f"warm CPU {warm.cpu / r2e_warm.cpu:5.2f}x")  # fmt: skip
    print(f"  changed         {r2e_changed.wall / changed.wall:6.2f}x                     "
          f"changed CPU {changed.cpu / r2e_changed.cpu:5.2f}x")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
    else:
        main()
