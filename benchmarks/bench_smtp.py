"""SMTP throughput of one digest edition with 1, 4 and 8 parallel connections.

Run: .venv/bin/python benchmarks/bench_smtp.py [--messages N]   (default 20,000)

The relay: an aiosmtpd server in another process on 127.0.0.1 that answers
each message 20 ms after its data arrived (a real relay's latency) and counts
what it received (it reads DATA in bulk: see :func:`relay_child`). The
sender: the real send path, ``pipeline.send_edition`` in a child process, on
a real SQLite file set up as in ``bench_digest.py`` (20 section sets, 6
sections x 10 articles with images, ~107 KB a message; set-up not timed):
keyset pages, claims in batches under a lease, the crash journal, bodies
rendered once per section set, messages assembled, and the ``smtp`` delivery
with ``connections`` set to 1, 4 and 8 (``batch_size`` 100, no TLS). Each
connection count gets a fresh copy of the same store and a fresh relay.
Printed per count: messages the relay received, wall time of
``send_edition`` and messages/s; then the ``ratio`` line: 4 connections / 1.
The 20 bodies are rendered into the store during set-up (premailer takes
seconds a body; ``bench_digest.py`` measures it), so each run sends what a
resumed edition sends.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from syndicate.config import load_config
from syndicate.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_digest import SLOT, set_up

DELAY = 0.020
COUNTS = (1, 4, 8)
BATCH = 100


END = b"\r\n.\r\n"


def relay_child(port: int) -> None:
    """In a child process: serve on 127.0.0.1:port until SIGTERM, then print the count.

    The relay is aiosmtpd with one change: it reads a message's DATA in bulk up to
    the final ``CRLF.CRLF`` instead of line by line (aiosmtpd spends ~10 ms of
    Python per 100 KB message on that, which would measure the sink, not the
    sender; a real relay takes well under a millisecond), then answers after
    DELAY seconds.
    """
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    received = [0]

    class Relay(SMTP):
        async def smtp_DATA(self, arg: str) -> None:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            data = bytearray()
            while not data.endswith(END) and data != END[2:]:
                chunk = await self._reader.read(1 << 16)
                if not chunk:
                    return
                data += chunk
            await asyncio.sleep(DELAY)
            received[0] += 1
            self._set_post_data_state()
            await self.push("250 OK queued")

    class Serving(Controller):
        def factory(self) -> SMTP:
            return Relay(self.handler, **self.SMTP_kwargs)

    controller = Serving(object(), hostname="127.0.0.1", port=port)
    controller.start()
    done = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal done
        done = True

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while not done:
        time.sleep(0.05)
    controller.stop()
    print(received[0], flush=True)


def render_bodies(base: Path) -> int:
    """Render and store the edition's body of each section set (set-up, not timed):
    the SMTP runs read them from the store, as a resumed edition does."""
    from syndicate import digest, render
    from syndicate.assemble import Bodies
    from syndicate.model import body_variant

    config = load_config(base / "schedules.yaml")
    store = Store(config.store)
    edition = store.get_edition("morning", SLOT)
    assert edition is not None
    bodies = Bodies(store, lambda: render.Renderer.for_config(config))
    firsts = {}
    for item in digest.digests_for(config, edition, store.subscription_page("morning", limit=100)):
        firsts.setdefault(body_variant(item), item)
    for item in firsts.values():
        bodies.message(item)
    store.close()
    return len(firsts)


def send_child(config_path: Path) -> None:
    """In a child process: send the edition through the real path; print one JSON line."""
    from syndicate import pipeline

    config = load_config(config_path)
    store = Store(config.store)
    edition = store.get_edition("morning", SLOT)
    if edition is None:
        raise SystemExit("no edition: set-up failed")
    start, cpu = time.perf_counter(), time.process_time()
    run = pipeline.send_edition(config, store, edition)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    store.close()
    failed = len(run.failed) + run.deferred + run.uncertain
    print(json.dumps({"sent": run.sent, "failed": failed, "seconds": elapsed, "cpu": cpu}))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_relay(port: int) -> subprocess.Popen[str]:
    """Start the relay process and wait until it listens."""
    relay = subprocess.Popen(
        [sys.executable, __file__, "--relay", str(port)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert relay.stdout is not None
    if relay.stdout.readline().strip() != "ready":
        raise SystemExit("the relay did not start")
    return relay


def stop_relay(relay: subprocess.Popen[str]) -> int:
    """Stop the relay; the number of messages it received."""
    relay.send_signal(signal.SIGTERM)
    out, _ = relay.communicate(timeout=30)
    return int(out.strip().splitlines()[-1])


def prepare(base: Path, folder: Path, port: int, connections: int) -> Path:
    """A copy of the set-up store in ``folder``, its digest sending to the relay."""
    folder.mkdir()
    shutil.copy(base / "bench.db", folder / "bench.db")
    data = yaml.safe_load((base / "schedules.yaml").read_text(encoding="utf-8"))
    data["digests"][0]["delivery"] = {
        "kind": "smtp", "host": "127.0.0.1", "port": port, "security": "none",
        "timeout": 30, "batch_size": BATCH, "connections": connections,
    }  # fmt: skip
    path = folder / "schedules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def run_count(base: Path, connections: int) -> dict[str, Any]:
    """Send the edition with ``connections`` to a fresh relay; the child's numbers."""
    port = free_port()
    config_path = prepare(base, base / f"c{connections}", port, connections)
    relay = start_relay(port)
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--send", str(config_path)],
            capture_output=True, text=True, check=False, cwd=config_path.parent,
        )  # fmt: skip
    finally:
        received = stop_relay(relay)
    if done.returncode:
        raise SystemExit(f"send child failed ({done.returncode}): {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["received"] = received
    return result


def messages_option() -> int:
    """The ``--messages N`` option (default 20,000)."""
    args = sys.argv[1:]
    if "--messages" in args:
        return int(args[args.index("--messages") + 1])
    return 20_000


def main() -> None:
    """Set up once, send with each connection count, print rates and the ratio."""
    messages = messages_option()
    print(
        f"SMTP send: {messages:,} messages through pipeline.send_edition (SQLite, batches of"
        f" {BATCH}) to an aiosmtpd relay in another process answering each after"
        f" {DELAY * 1000:.0f} ms"
    )
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        set_up(base, messages)
        bodies = render_bodies(base)
        print(f"  set-up: {bodies} section-set bodies rendered and stored with the edition")
        for connections in COUNTS:
            result = run_count(base, connections)
            rate = result["sent"] / result["seconds"]
            rates[connections] = rate
            print(
                f"  {connections} connection{'s' if connections > 1 else ''}:"
                f" {result['sent']:,} sent ({result['failed']} not), relay received"
                f" {result['received']:,}, {result['seconds']:.1f} s = {rate:,.1f} messages/s;"
                f" sender CPU {1000 * result['cpu'] / max(1, result['sent']):.1f} ms a message"
            )
    print(f"ratio {rates[4] / rates[1]:.2f} (4 connections / 1 connection messages/s)")
    print(f"  8 connections / 1: {rates[8] / rates[1]:.2f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--send"]:
        send_child(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["--relay"]:
        relay_child(int(sys.argv[2]))
    else:
        main()
