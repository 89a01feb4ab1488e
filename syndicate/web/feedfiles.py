"""``/feeds/<file>``: the files ``syndicate feeds`` writes, served fast and cache-friendly.

The folder is served at ``feeds.url_path`` (``feeds/`` unless configured), the
path every feed's self link names.

Each request costs one ``stat``: a file's bytes, strong ``ETag`` (a hash of its
content), ``Last-Modified`` and gzip form are kept in memory until its
(mtime, size, inode) changes, which is when ``syndicate feeds`` replaced it.
``If-None-Match`` (weak comparison, and it wins over ``If-Modified-Since``) and
``If-Modified-Since`` get 304. The gzip form has its own ETag and every answer
says ``Vary: Accept-Encoding``. Only plain file names with a known feed suffix
are served, so no path leaves the folder; symlinks and folders are 404.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from syndicate.web.conditional import accepts_gzip, not_modified
from syndicate.web.context import WebContext

FEEDS_ROUTE = "/{prefix}{{name:path}}"
MEDIA_TYPES = (
    (".rss.xml", b"application/rss+xml; charset=utf-8"),
    (".atom.xml", b"application/atom+xml; charset=utf-8"),
    (".opml", b"text/x-opml; charset=utf-8"),
    (".json", b"application/feed+json; charset=utf-8"),
    (".xml", b"application/xml; charset=utf-8"),
)
MAX_CACHED_BYTES = 16 * 1024 * 1024  # a larger file is still served, compressed each time
MIN_GZIP_BYTES = 256
MAX_ENTRIES = 1024
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")

StatKey = tuple[int, int, int]


def media_type(name: str) -> bytes | None:
    """The Content-Type for a feed file name; None for a name that is not served."""
    if not _NAME_RE.fullmatch(name) or ".." in name:
        return None
    return next((kind for suffix, kind in MEDIA_TYPES if name.endswith(suffix)), None)


@dataclass(frozen=True)
class Variant:
    """One representation of a file (identity or gzip): its bytes and prepared headers."""

    body: bytes
    etag: str
    ok_headers: list[tuple[bytes, bytes]]
    not_modified_headers: list[tuple[bytes, bytes]]


def make_variant(
    body: bytes, etag: str, common: list[tuple[bytes, bytes]], gzipped: bool
) -> Variant:
    """A variant with the headers of its 200 and its 304 answers."""
    tagged = [*common, (b"etag", etag.encode("ascii"))]
    ok = [*tagged, (b"content-length", str(len(body)).encode("ascii"))]
    if gzipped:
        ok.append((b"content-encoding", b"gzip"))
    return Variant(body, etag, ok, tagged)


@dataclass
class CachedFile:
    """A feed file as last read: its stat key, mtime, and variants (gzip made on demand)."""

    key: StatKey
    mtime: int
    identity: Variant
    common: list[tuple[bytes, bytes]]
    gzip: Variant | None = None
    gzip_tried: bool = False


def stat_key(info: os.stat_result) -> StatKey:
    """What changes when ``syndicate feeds`` replaces a file."""
    return (info.st_mtime_ns, info.st_size, info.st_ino)


def read_file(path: Path, kind: bytes, cache_control: bytes) -> CachedFile | None:
    """Read a regular file into a :class:`CachedFile`; None when there is none to serve."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        body = handle.read()
    common = [
        (b"content-type", kind),
        (b"cache-control", cache_control),
        (b"vary", b"Accept-Encoding"),
        (b"last-modified", formatdate(info.st_mtime, usegmt=True).encode("ascii")),
    ]
    etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    identity = make_variant(body, etag, common, gzipped=False)
    return CachedFile(stat_key(info), int(info.st_mtime), identity, common)


def gzip_variant(entry: CachedFile) -> Variant | None:
    """The gzip variant of ``entry`` (None when compressing does not pay)."""
    body = entry.identity.body
    if len(body) < MIN_GZIP_BYTES:
        return None
    packed = gzip.compress(body, compresslevel=6, mtime=0)
    if len(packed) >= len(body):
        return None
    etag = entry.identity.etag[:-1] + '-gzip"'
    return make_variant(packed, etag, entry.common, gzipped=True)


@dataclass
class FeedFiles:
    """The ASGI endpoint of ``/feeds/{name}`` over one folder."""

    folder: Path
    cache_control: bytes
    cache: dict[str, CachedFile] = field(default_factory=dict)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer GET or HEAD for one feed file: 200, 304 or 404."""
        name = scope["path_params"]["name"]
        entry = await self.entry(name)
        headers = dict(scope["headers"])
        variant = entry.identity
        encoding = headers.get(b"accept-encoding")
        if encoding is not None and accepts_gzip(encoding.decode("latin-1")):
            variant = await self.gzipped(entry) or variant
        inm, ims = headers.get(b"if-none-match"), headers.get(b"if-modified-since")
        if (inm is not None or ims is not None) and not_modified(
            None if inm is None else inm.decode("latin-1"),
            None if ims is None else ims.decode("latin-1"),
            variant.etag,
            entry.mtime,
        ):
            await send_response(send, 304, variant.not_modified_headers, b"")
            return
        body = b"" if scope["method"] == "HEAD" else variant.body
        await send_response(send, 200, variant.ok_headers, body)

    async def entry(self, name: str) -> CachedFile:
        """The cached file ``name``, re-read when it changed on disk; 404 when not served."""
        kind = media_type(name)
        if kind is None:
            raise HTTPException(404)
        path = self.folder / name
        cached = self.cache.get(name)
        try:
            info = os.stat(path, follow_symlinks=False)
        except OSError:
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            self.cache.pop(name, None)
            raise HTTPException(404)
        if cached is not None and cached.key == stat_key(info):
            return cached
        return await self.reload(name, path, kind, info.st_size)

    async def reload(self, name: str, path: Path, kind: bytes, size: int) -> CachedFile:
        """Read ``path`` again (in a worker thread when it is large) and cache it."""
        if size > 256 * 1024:
            fresh = await anyio.to_thread.run_sync(read_file, path, kind, self.cache_control)
        else:
            fresh = read_file(path, kind, self.cache_control)
        if fresh is None:
            raise HTTPException(404)
        if len(fresh.identity.body) <= MAX_CACHED_BYTES:
            if len(self.cache) >= MAX_ENTRIES:
                self.cache.clear()
            self.cache[name] = fresh
        return fresh

    async def gzipped(self, entry: CachedFile) -> Variant | None:
        """The gzip variant, compressed once per file version (in a worker thread)."""
        if not entry.gzip_tried:
            entry.gzip = await anyio.to_thread.run_sync(gzip_variant, entry)
            entry.gzip_tried = True
        return entry.gzip


async def send_response(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    """Send a complete response in two ASGI messages."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def routes(ctx: WebContext) -> list[BaseRoute]:
    """The feed files route: ``feeds.output`` served at ``feeds.url_path``."""
    folder = ctx.config.resolve(ctx.config.feeds.output)
    cache_control = ctx.config.web.feeds_cache_control.encode("ascii")
    path = FEEDS_ROUTE.format(prefix=ctx.config.feeds.url_path)
    return [Route(path, FeedFiles(folder, cache_control), methods=["GET", "HEAD"])]
