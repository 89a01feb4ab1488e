"""Addresses are validated once, by email-validator, wherever they come in.

The same cases are tried on the function itself and through every place that
takes an address: a subscribers file, the config (sender, reply_to) and
unsubscribe-by-address.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from syndicate.addresses import _PLAIN, _SPECIAL_TLDS, _validated, plain_address
from syndicate.config import load_config
from syndicate.errors import ConfigError, SubscriberFileError
from syndicate.store import Store
from syndicate.subscribers import import_subscribers, read_subscribers, unsubscribe
from tests.conftest import BASE_CONFIG

LONG_DOMAIN = ".".join(["a" * 60] * 4) + ".kr"  # 247 + 3 characters: over 255 with the rest
REJECTED = [
    "<x@y.kr>",
    "Kim <x@y.kr>",
    "x@-y.kr",
    "x@y-.kr",
    "x@exa_mple.kr",
    "a" * 65 + "@y.kr",
    "x@" + "a" * 64 + ".kr",
    "x@" + LONG_DOMAIN + ".example.kr",
    "x\x00@y.kr",
    "x@y.kr\x00",
    "x y@y.kr",
    "x\r\n@y.kr",
    "x@y.kr\r\nBcc: evil@evil.example",
    "x@y.kr\u2028",
    "x@y..kr",
    ".x@y.kr",
    "x@localhost",
    "x@y",
    "x@[127.0.0.1]",
    "x@y.local",
    "김@y.kr",
    "=?utf-8?q?abc?=@y.kr",
    '"=?utf-8?q?abc?="@y.kr',
    "x@y.kr, z@y.kr",
    "",
    "@y.kr",
]


@pytest.mark.parametrize("value", REJECTED)
def test_rejected_with_a_one_line_reason(value: str) -> None:
    from syndicate.addresses import AddressError, normalize_address

    with pytest.raises(AddressError) as info:
        normalize_address(value)
    message = str(info.value)
    assert info.value.reason
    assert "\n" not in message and "\r" not in message and "\x00" not in message
    assert len(message) < 300


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("user@한국.kr", "user@xn--3e0b707e.kr"),
        ("USER@XN--3E0B707E.KR", "user@xn--3e0b707e.kr"),
        ("Kim.Minji@뉴스.한국", "kim.minji@xn--vg1b002a.xn--3e0b707e"),
        (" Kim@Example.KR\t", "kim@example.kr"),
        ('"john doe"@example.kr', '"john doe"@example.kr'),
        ("o'brien+tag@example.com", "o'brien+tag@example.com"),
        ("a" * 64 + "@example.kr", "a" * 64 + "@example.kr"),
    ],
)
def test_accepted_and_normalised(value: str, normal: str) -> None:
    from syndicate.addresses import normalize_address

    assert normalize_address(value) == normal
    assert normalize_address(normal) == normal


@pytest.mark.parametrize("value", REJECTED)
def test_import_refuses_the_line(write_config: Callable[..., Path], value: str) -> None:
    config = load_config(write_config())
    path = write_config().parent / "list.csv"
    path.write_text('email,name\n"' + value.replace('"', '""') + '",김\n', encoding="utf-8")
    with pytest.raises(SubscriberFileError) as info:
        read_subscribers(path, config)
    assert str(info.value).startswith(f"{path}:2: ")
    assert "Traceback" not in str(info.value)


@pytest.mark.parametrize("key", ["sender", "reply_to"])
@pytest.mark.parametrize(
    "value",
    ["<x@-y.kr>", "News <x@exa_mple.kr>", "News <" + "a" * 65 + "@y.kr>", "News <x@y.kr> <z@y.kr>"],
)
def test_config_refuses_bad_sender_and_reply_to(
    write_config: Callable[..., Path], key: str, value: str
) -> None:
    data = copy.deepcopy(BASE_CONFIG)
    data["digests"][0][key] = value
    with pytest.raises(ConfigError) as info:
        load_config(write_config(data))
    (line,) = info.value.lines()
    assert f"digests[0].{key}: " in line


def test_config_accepts_korean_sender_with_idna_domain(write_config: Callable[..., Path]) -> None:
    data = copy.deepcopy(BASE_CONFIG)
    data["digests"][0]["sender"] = "한국뉴스 <News@뉴스.한국>"
    data["digests"][0]["reply_to"] = '"데스크, 편집국" <desk@뉴스.한국>'
    config = load_config(write_config(data))
    assert config.digests[0].sender == "한국뉴스 <News@뉴스.한국>"


def test_unsubscribe_by_address_uses_the_same_rules(
    write_config: Callable[..., Path], sqlite_url: str
) -> None:
    config = load_config(write_config())
    store = Store(sqlite_url)
    store.upgrade()
    path = write_config().parent / "list.csv"
    path.write_text("email,name\nuser@한국.kr,김\n", encoding="utf-8")
    import_subscribers(config, store, path)
    for bad in ("<user@한국.kr>", "user@-y.kr", "user@exa_mple.kr"):
        with pytest.raises(SubscriberFileError) as info:
            unsubscribe(store, bad)
        assert "\n" not in str(info.value)
    (changed,) = unsubscribe(store, "USER@xn--3E0B707E.KR")
    assert changed.subscriber.email == "user@xn--3e0b707e.kr"


PLAIN_EXAMPLES = ["a@b.kr", "Kim.Min-ji+news@Mail.News.KR", "x@y.local", "x@xn--3e0b707e.kr"]


@given(
    st.one_of(
        st.from_regex(_PLAIN, fullmatch=True),
        st.sampled_from(PLAIN_EXAMPLES + [v for v in REJECTED if "@" in v]),
        st.text(alphabet="aZ09.-_+@'\"가 ", max_size=30),
    )
)
@example("a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".kr")
@example("a" * 65 + "@y.kr")
@example("x@ab--c.kr")
def test_the_plain_pattern_decides_as_the_library_does(text: str) -> None:
    """What the fast path accepts, email-validator accepts too, with the same normal form."""
    fast = plain_address(text)
    if fast is not None:
        assert fast == _validated(text, text)


def test_the_plain_pattern_leaves_every_special_use_name_to_the_library() -> None:
    import email_validator

    tlds = {name.rpartition(".")[2] for name in email_validator.SPECIAL_USE_DOMAIN_NAMES}
    assert tlds <= _SPECIAL_TLDS


def test_the_plain_pattern_takes_the_common_addresses() -> None:
    assert plain_address("Newsletter@News.Example.KR") == "newsletter@news.example.kr"
    assert plain_address("kim.min-ji+tag@mail.example.com") == "kim.min-ji+tag@mail.example.com"
    assert plain_address("user@한국.kr") is None
    assert plain_address("x@y.test") is None


def test_the_subscribe_form_path_asks_only_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    from syndicate import addresses

    monkeypatch.setattr(addresses, "plain_address", lambda text: "wrong@answer.example")
    assert addresses.normalize_address("Kim@Example.KR", fast=False) == "kim@example.kr"
    assert addresses.normalize_address("Kim@Example.KR") == "wrong@answer.example"


def test_the_subscribe_form_validates_with_the_library() -> None:
    source = (Path(__file__).parents[2] / "syndicate" / "web" / "subscribe.py").read_text()
    calls = [line for line in source.splitlines() if "normalize_address(" in line]
    assert calls and all("fast=False" in line for line in calls)


_LOCAL_CHARS = "abcXYZ019_+-.'\"! "
_DOMAINS = [
    "example.kr",
    "Example.KR",
    "한국.kr",
    "y.local",
    "localhost",
    "-y.kr",
    "y..kr",
    "exa_mple.kr",
    "x." + "a" * 64 + ".kr",
    LONG_DOMAIN,
    LONG_DOMAIN[:190] + ".kr",
    "[127.0.0.1]",
    "y.kr ",
]


def _outcome(check: Callable[[str], str], value: str) -> str:
    from syndicate.addresses import AddressError

    try:
        return check(value)
    except AddressError as exc:
        return f"refused: {exc}"


def test_the_quick_path_answers_like_the_full_check() -> None:
    """Plain addresses skip email-validator per address; the answer (or refusal) is the same."""
    from hypothesis import given
    from hypothesis import strategies as st

    from syndicate.addresses import normalize_address

    @given(st.text(_LOCAL_CHARS, min_size=0, max_size=70), st.sampled_from(_DOMAINS))
    def same(local: str, domain: str) -> None:
        value = f"{local}@{domain}"
        full = _outcome(lambda v: normalize_address(v, fast=False), value)
        assert _outcome(normalize_address, value) == full

    same()
