"""A TCP proxy on 127.0.0.1 that a test can cut or pause, in front of a real server.

``cut()`` drops every open connection and refuses new ones until ``restore()``
(a database restart, a short outage); ``pause()`` keeps every connection open
but forwards nothing, and new connections are accepted and left silent (a
network partition). ``sent`` counts the bytes clients sent through the proxy.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator

CHUNK = 65536


class TcpProxy:
    """Forward 127.0.0.1:``port`` to ``target``; see the module docstring."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.sent = 0
        self.refused = 0
        self._open = threading.Event()
        self._open.set()
        self._flowing = threading.Event()
        self._flowing.set()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Drop every connection now and refuse new ones until :meth:`restore`."""
        self._open.clear()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _close(sock)

    def pause(self) -> None:
        """Forward nothing, in either direction, until :meth:`restore`."""
        self._flowing.clear()

    def restore(self) -> None:
        """Accept and forward again."""
        self._open.set()
        self._flowing.set()

    def close(self) -> None:
        """Stop listening and drop every connection."""
        self._closed = True
        self.cut()
        self._flowing.set()
        _close(self.listener)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self._open.is_set():
                self.refused += 1
                _close(client)
                continue
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._flowing.wait()
        try:
            server = socket.create_connection(self.target)
        except OSError:
            _close(client)
            return
        with self._lock:
            self._pairs.append((client, server))
        threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        with contextlib.suppress(OSError, ValueError):
            while True:
                readable, _, _ = select.select([source], [], [], 0.1)
                if not readable:
                    continue
                self._flowing.wait()
                data = source.recv(CHUNK)
                if not data:
                    break
                if upstream:
                    self.sent += len(data)
                sink.sendall(data)
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@contextlib.contextmanager
def proxying(target: tuple[str, int]) -> Iterator[TcpProxy]:
    """A running :class:`TcpProxy` to ``target``, closed afterwards."""
    proxy = TcpProxy(target)
    try:
        yield proxy
    finally:
        proxy.close()
