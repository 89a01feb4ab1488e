"""Run the web application under uvicorn: ``syndicate serve``.

The listening socket is bound here first, so a taken port is one clear
:class:`~syndicate.errors.WebError` line. SIGTERM and SIGINT stop the server
gracefully (requests in flight finish) and the command exits 0.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import signal
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from syndicate.errors import WebError

if TYPE_CHECKING:
    from syndicate.config import Config
    from syndicate.store import Store

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
BACKLOG = 2048


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: any free port); WebError when it cannot."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError, OverflowError) as exc:
        raise WebError(f"cannot listen on {host}:{port}: {exc}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise WebError(
                f"cannot listen on {host}:{port}: the port is already in use "
                "(another server runs there; choose another with --port)"
            ) from None
        raise WebError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(BACKLOG)  # connections wait in the queue until uvicorn accepts them
    return sock


def listening_url(sock: socket.socket, prefix: str) -> str:
    """``http://host:port/prefix/`` of a bound socket, for the start-up line."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{prefix}"


def uvicorn_server(app: Any, config: Config) -> Any:
    """A uvicorn server for ``app``: no access log of its own format, proxies from the config."""
    import uvicorn

    settings = uvicorn.Config(
        app,
        log_config=None,
        lifespan="off",
        server_header=False,
        proxy_headers=True,
        forwarded_allow_ips=list(config.web.trusted_proxies),
        timeout_graceful_shutdown=10,
    )
    return uvicorn.Server(settings)


@contextlib.contextmanager
def graceful_signals() -> Iterator[None]:
    """While serving, SIGTERM/SIGINT only stop uvicorn (which re-raises them afterwards).

    uvicorn installs its own handlers and, after a graceful stop, raises the
    signal again for the handler it found; this one ignores it, so the process
    exits normally with code 0.
    """
    previous = {sig: signal.signal(sig, _ignore) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore(_sig: int, _frame: Any) -> None:
    logger.debug("stop signal after shutdown ignored")


def serve(
    config: Config,
    store: Store,
    host: str,
    port: int,
    *,
    on_start: Callable[[str], None] = lambda _url: None,
) -> None:
    """Serve the web application until SIGTERM or SIGINT; ``on_start(url)`` once listening."""
    from syndicate.web.app import create_app
    from syndicate.web.context import base_path

    sock = bind_socket(host, port)
    server = uvicorn_server(create_app(config, store), config)
    on_start(listening_url(sock, base_path(config.public_base_url)))
    with sock, graceful_signals():
        server.run(sockets=[sock])
