"""Hostile feed bytes (class 3): XML that declares entities or DTDs never reaches a parser.

Every refusal is a one-line :class:`SourceError` naming the source, wherever the
DOCTYPE stands (after junk, comments, PIs, a BOM, in UTF-16/32); harmless feeds
(the Netscape RSS 0.91 DOCTYPE, ``<!DOCTYPE html>`` quoted inside CDATA) still parse.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syndicate.errors import SourceError
from syndicate.sources.feed import parse_feed

SEOUL = ZoneInfo("Asia/Seoul")
ROOT = Path(__file__).resolve().parents[2]
BODY = (
    '<rss version="2.0"><channel><title>t</title><link>https://x.example/</link>'
    "<item><title>{title}</title><link>https://x.example/1</link>"
    "<description>{title}</description></item></channel></rss>"
)
LAUGHS = "".join(
    f'\n<!ENTITY l{n} "{("&l" + str(n - 1) + ";") * 10}">' for n in range(1, 10)
).replace("&l0;" * 10, "lol")


def quadratic(value_chars: int = 50_000, refs: int = 20_000, junk: str = "junk\n") -> str:
    subset = f'\n<!ENTITY a "{"a" * value_chars}">\n'
    return f"{junk}<!DOCTYPE rss [{subset}]>\n" + BODY.format(title="&a;" * refs)


class Reached(BaseException):
    """Raised by a stand-in feedparser; no ``except Exception`` can swallow it."""


@pytest.fixture
def no_feedparser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any call into feedparser fail the test: refused bytes must not reach it."""
    import feedparser

    def boom(*args: Any, **kwargs: Any) -> None:
        raise Reached

    monkeypatch.setattr(feedparser, "parse", boom)


def refused(document: bytes, content_type: str | None = None) -> str:
    with pytest.raises(SourceError) as info:
        parse_feed(document, source_id="evil", section="it", zone=SEOUL, content_type=content_type)
    message = str(info.value)
    assert "\n" not in message and "'evil'" in message
    assert "root:" not in message
    return message


HOSTILE = {
    "quadratic-behind-junk": quadratic(50, 20),
    "billion-laughs-behind-junk": f"garbage <!DOCTYPE rss [{LAUGHS}]>" + BODY.format(title="&l9;"),
    "xxe-behind-nul-and-text": "\x00 hi <!DOCTYPE rss [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
    + BODY.format(title="&x;"),
    "parameter-entity": '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % p SYSTEM '
    '"file:///etc/passwd"> %p;]>' + BODY.format(title="x"),
    "external-dtd-behind-junk": 'x<!DOCTYPE rss SYSTEM "http://127.0.0.1:1/e.dtd">'
    + BODY.format(title="x"),
    "lowercase-doctype": "<!doctype rss [<!entity a 'b'>]>" + BODY.format(title="&a;"),
    "entity-without-doctype": "<!ENTITY a 'bbbb'>" + BODY.format(title="&a;"),
    "doctype-inside-cdata-before-root": "<![CDATA[<!DOCTYPE rss [<!ENTITY a 'b'>]>]]>"
    + BODY.format(title="&a;"),
    "doctype-after-root-start": '<rss version="2.0"><!DOCTYPE rss [<!ENTITY a "b">]>'
    "<channel><title>&a;</title></channel></rss>",
    "comment-hides-entity-from-xml-but-not-loose-parser": "<!--\n<!ENTITY a 'x'>\n-->"
    + BODY.format(title="&a;"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32-le"])
def test_declarations_refused_wherever_they_stand(
    name: str, encoding: str, no_feedparser: None
) -> None:
    message = refused(HOSTILE[name].encode(encoding))
    assert "DTD" in message or "entities" in message


def test_harmless_doctypes_still_parse() -> None:
    netscape = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<!DOCTYPE rss PUBLIC '
        '"-//Netscape Communications//DTD RSS 0.91//EN" '
        '"http://my.netscape.com/publish/formats/rss-0.91.dtd">\n'
    )
    quoted = BODY.format(title="<![CDATA[<!DOCTYPE html> <!ENTITY is text> &lt;!DOCTYPE]]>")
    for document in (netscape + BODY.format(title="Caf\xe9"), "<!DOCTYPE rss>" + quoted):
        (article,) = parse_feed(
            document.encode("latin-1"), source_id="evil", section="it", zone=SEOUL
        )
        assert article.title == "Caf\xe9" or "<!ENTITY is text> <!DOCTYPE" in article.title


def test_xinclude_is_never_processed() -> None:
    document = BODY.format(
        title='<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
        'href="file:///etc/passwd" parse="text"/>x'
    )
    articles = parse_feed(document.encode(), source_id="evil", section="it", zone=SEOUL)
    dumped = repr(articles)
    assert "root:" not in dumped and "/bin/" not in dumped


PREFIXES = st.lists(
    st.sampled_from(
        ["", " ", "\n", "\t", "junk", "\x00", '<?xml version="1.0"?>', "<?pi x?>", "<!-- c -->",
         "<!-- <rss> -->", "\ufeff", "\u00e9", "<![CDATA[x]]>", "</x>", "<!DOCTYPE rss>"]
    ),
    max_size=6,
).map("".join)  # fmt: skip
DECLARATIONS = st.sampled_from(
    [
        "<!DOCTYPE rss [<!ENTITY a 'b'>]>",
        "<!DOCTYPE rss[]>",
        '<!DOCTYPE rss SYSTEM "file:///etc/passwd">',
        '<!DOCTYPE rss PUBLIC "-//X//Y" "http://127.0.0.1:1/x.dtd">',
        "<!ENTITY a SYSTEM 'file:///etc/passwd'>",
        "<!DocType rss [ <!ENTITY % p 'x'> ]>",
        "<!ELEMENT rss ANY>",
        "<!ATTLIST rss a CDATA 'x'>",
    ]
)


@given(
    prefix=PREFIXES,
    declaration=DECLARATIONS,
    encoding=st.sampled_from(["utf-8", "utf-16-le", "utf-16-be", "utf-32-be", "utf-16", "cp949"]),
)
def test_any_prefix_any_encoding_is_refused(prefix: str, declaration: str, encoding: str) -> None:
    import feedparser

    def reached(*args: Any, **kwargs: Any) -> None:
        raise Reached

    original = feedparser.parse
    feedparser.parse = reached
    try:
        document = (prefix + declaration + BODY.format(title="&a;")).encode(encoding, "replace")
        with pytest.raises(SourceError) as info:
            parse_feed(document, source_id="evil", section="it", zone=SEOUL)
    finally:
        feedparser.parse = original
    message = str(info.value)
    assert "\n" not in message and "'evil'" in message
    assert "DTD" in message or "entities" in message


COLLECT_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, yaml
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    from syndicate.collect import collect_all
    from syndicate.config import load_config
    from syndicate.store import Store
    config = load_config(sys.argv[1])
    with Store(config.store) as store:
        store.upgrade()
        outcomes = collect_all(config, store)
    print(json.dumps([[o.source_id, o.new, o.error] for o in outcomes]))
    """
)


def test_quadratic_blowup_behind_junk_is_one_line_and_good_sources_are_collected(
    tmp_path: Path, write_config: Any
) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(quadratic(), encoding="utf-8")
    good = tmp_path / "good.xml"
    good.write_text(BODY.format(title="good news"), encoding="utf-8")
    config = write_config(
        store=f"sqlite:///{tmp_path / 'store.db'}",
        sources=[
            {"id": "bad", "kind": "feed", "location": str(bad), "section": "it"},
            {"id": "good", "kind": "feed", "location": str(good), "section": "it"},
        ],
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", COLLECT_SCRIPT, str(config)],
        check=False, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    outcomes = {row[0]: row for row in json.loads(done.stdout.strip().splitlines()[-1])}
    assert outcomes["good"][1] == 1 and outcomes["good"][2] is None
    error = outcomes["bad"][2]
    assert error and "\n" not in error and "'bad'" in error and "entities" in error
    assert elapsed < 60


@pytest.mark.parametrize(
    "body",
    ["<![CDATA[" * 200_000, "<!DOCTYPE rss '" * 100_000, "<!ENTITY" + "x" * 2_000_000,
     "\x00<" * 1_000_000, "]]>" * 300_000 + "<![CDATA[" * 100_000],
)  # fmt: skip
def test_pathological_markup_is_checked_in_linear_time(body: str) -> None:
    document = (BODY.format(title="x")[:-6] + body + "</rss>").encode()
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(parse_feed(document, source_id="evil", section="it", zone=SEOUL))
        except SourceError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive() and outcome


@pytest.mark.parametrize("target", ["fifo", "/dev/zero", "/dev/urandom", "folder"])
def test_a_local_feed_that_is_not_a_regular_file_is_one_line(
    tmp_path: Path, write_config: Any, target: str
) -> None:
    """A FIFO hung the run and /dev/zero was read until the process was killed (23 GB)."""
    if target == "fifo":
        location = tmp_path / "pipe.xml"
        os.mkfifo(location)
    elif target == "folder":
        location = tmp_path / "feeds"
        location.mkdir()
    else:
        location = Path(target)
    good = tmp_path / "good.xml"
    good.write_text(BODY.format(title="good news"), encoding="utf-8")
    config = write_config(
        store=f"sqlite:///{tmp_path / 'store.db'}",
        sources=[
            {"id": "bad", "kind": "feed", "location": str(location), "section": "it"},
            {"id": "good", "kind": "feed", "location": str(good), "section": "it"},
        ],
    )
    done = subprocess.run(
        [sys.executable, "-c", COLLECT_SCRIPT, str(config)],
        check=False, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    outcomes = {row[0]: row for row in json.loads(done.stdout.strip().splitlines()[-1])}
    assert outcomes["good"][1] == 1 and outcomes["good"][2] is None
    error = outcomes["bad"][2]
    assert error and "\n" not in error and "'bad'" in error and "not a regular file" in error
