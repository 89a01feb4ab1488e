"""The config's validation layer: frozen models, strict types, key paths, replace without checks."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from syndicate.config import DigestConfig, FeedsConfig, RetryConfig, SmtpDelivery, load_config
from syndicate.config_checks import Invalid, Length, Range
from syndicate.config_model import json_values, kind_of
from syndicate.config_sources import SOURCE_MODELS, PagesConfig, RuleConfig
from tests.conftest import BASE_CONFIG

SMTP = {"kind": "smtp", "host": "mail.example.kr"}


def problems_of(model: Any, data: Any) -> list[str]:
    """The problem lines of validating ``data`` as ``model`` (fails if it is valid)."""
    with pytest.raises(Invalid) as info:
        model.from_mapping(data)
    return info.value.lines()


def test_a_model_is_frozen() -> None:
    rule = RuleConfig.from_mapping({"section": "it", "path": "/it/"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.section = "economy"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del rule.section
    assert dataclasses.is_dataclass(rule)
    assert [f.name for f in dataclasses.fields(rule)] == ["section", "category", "path"]


def test_a_model_copies_and_pickles(write_config: Callable[..., Path]) -> None:
    config = load_config(write_config())
    assert copy.deepcopy(config) == config
    assert pickle.loads(pickle.dumps(config)) == config


def test_a_model_is_validated_from_a_mapping_only() -> None:
    assert problems_of(RuleConfig, ["section"]) == [
        "(top level): expected a mapping of keys, not a list"
    ]


def test_models_compare_and_hash_by_value() -> None:
    one = RuleConfig.from_mapping({"section": "it", "category": "IT"})
    two = RuleConfig(section="it", category="IT")
    assert one == two and hash(one) == hash(two)
    assert one != RuleConfig(section="it", category="AI")
    assert repr(one) == "RuleConfig(section='it', category='IT', path=None)"


def test_replace_does_not_validate(write_config: Callable[..., Path]) -> None:
    """``dataclasses.replace`` (and the constructor) take values as given: for code and tests."""
    config = load_config(write_config())
    digest = dataclasses.replace(config.digests[0], title="a\r\nBcc: x@example.kr")
    assert digest.title == "a\r\nBcc: x@example.kr"
    assert digest.sender == config.digests[0].sender
    assert problems_of(DigestConfig, {**BASE_CONFIG["digests"][0], "title": digest.title}) == [
        "title: must be one line (no line breaks or tabs)"
    ]


def test_every_problem_is_listed_with_its_key_path() -> None:
    data = {**SMTP, "port": 0, "timeout": "10", "security": "tls", "connections": True}
    assert problems_of(SmtpDelivery, data) == [
        "port: Input should be greater than or equal to 1",
        "security: Input should be 'starttls', 'ssl' or 'none'",
        "timeout: expected a number, not text",
        "connections: expected a whole number, not true/false",
    ]


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("limit", "5", "limit: expected a whole number, not text"),
        ("limit", 5.0, "limit: expected a whole number, not a number"),
        ("limit", True, "limit: expected a whole number, not true/false"),
        ("delay", False, "delay: expected a number, not true/false"),
        ("delay", float("nan"), "delay: Input should be a finite number"),
        ("delay", 10**400, "delay: Input should be a finite number (this one is too large)"),
        ("urls", "https://a.example/", "urls: expected a list, not text"),
        ("select", 3, "select: expected text, not a number"),
        ("select", "", "select: String should have at least 1 character"),
        ("select", "a" * 301, "select: String should have at most 300 characters"),
    ],
)
def test_types_are_strict(key: str, value: Any, problem: str) -> None:
    assert problems_of(PagesConfig, {key: value}) == [problem]


def test_a_whole_number_is_a_number() -> None:
    pages = PagesConfig.from_mapping({"delay": 2})
    assert pages.delay == 2.0 and isinstance(pages.delay, float)


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (Range(gt=0), 0, "Input should be greater than 0"),
        (Range(ge=1), 0.5, "Input should be greater than or equal to 1"),
        (Range(le=10), 11, "Input should be less than or equal to 10"),
        (Length(1), (), "List should have at least 1 item, not 0"),
        (Length(2), "a", "String should have at least 2 characters"),
        (Length(0, 3), "abcd", "String should have at most 3 characters"),
    ],
)
def test_bounds_and_lengths_say_what_is_allowed(
    check: Callable[[Any], Any], value: Any, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        check(value)
    assert str(info.value) == message


def test_unknown_keys_are_refused_with_a_guess() -> None:
    assert problems_of(PagesConfig, {"limt": 3}) == ["limt: unknown key (did you mean 'limit'?)"]
    # a key of another model is misplaced, not misspelt: no guess from elsewhere
    assert problems_of(PagesConfig, {"fulltext": True}) == ["fulltext: unknown key"]


def test_a_tagged_union_names_the_kinds() -> None:
    digest = {**BASE_CONFIG["digests"][0], "delivery": {"kind": "file", "port": 25}}
    assert problems_of(DigestConfig, digest) == [
        "delivery.port: a file delivery has no 'port' (only a smtp delivery has it)"
    ]
    digest["delivery"] = {"kind": ["file"]}
    assert problems_of(DigestConfig, digest) == [
        "delivery.kind: unknown kind ['file'] (known: file, smtp)"
    ]
    assert [kind_of(model) for model in SOURCE_MODELS] == ["feed", "folder", "page", "sitemap"]


def test_a_missing_nested_model_holds_its_defaults(write_config: Callable[..., Path]) -> None:
    """Defaults are taken as given (not checked): a default path stays relative."""
    data = copy.deepcopy(BASE_CONFIG)
    del data["feeds"]
    config = load_config(write_config(data))
    assert config.feeds == FeedsConfig()
    assert config.resolve(config.feeds.output) == config.base_dir / "public" / "feeds"


def test_a_mapping_value_is_read_only() -> None:
    smtp = SmtpDelivery.from_mapping({**SMTP, "domain_limits": {"NAVER.com": 10}})
    assert dict(smtp.domain_limits) == {"naver.com": 10.0}
    with pytest.raises(TypeError):
        smtp.domain_limits["daum.net"] = 1  # type: ignore[index]


def test_a_cross_check_sees_which_keys_were_given() -> None:
    """``max_delay`` is checked against ``first_delay`` only when the file gives it."""
    assert RetryConfig.from_mapping({"first_delay": "4h"}).max_delay == timedelta(hours=3)
    assert problems_of(RetryConfig, {"first_delay": "4h", "max_delay": "1h"}) == [
        "max_delay: must not be shorter than first_delay"
    ]
    assert problems_of(RuleConfig, {"section": "it"}) == [
        "(top level): a rule needs exactly one of 'category' or 'path'"
    ]


def test_the_loader_sets_the_path_not_the_file(write_config: Callable[..., Path]) -> None:
    path = write_config(path="elsewhere.yaml")
    assert load_config(path).path == path.resolve()


def test_json_values_are_what_feed_state_hashes(write_config: Callable[..., Path]) -> None:
    config = load_config(write_config(feeds={"output": "/srv/feeds", "hubs": ["https://h.kr/"]}))
    values = json_values(config.feeds)
    assert values["output"] == "/srv/feeds" and values["hubs"] == ["https://h.kr/"]
    assert values["formats"] == ["rss", "atom"]
    with pytest.raises(TypeError, match="no JSON form for "):
        json_values(config.collect)
