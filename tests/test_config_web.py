"""The ``web:`` section and ``digests[].archive``: defaults, and errors named by key path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from syndicate.config import load_config
from syndicate.errors import ConfigError
from tests.conftest import BASE_CONFIG, invoke_syndicate


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def test_defaults_without_a_web_section(write_config: Callable[..., Path]) -> None:
    config = load_config(write_config())
    assert config.web.confirm_ttl == timedelta(hours=48)
    assert (config.web.rate_limits.per_address, config.web.rate_limits.per_client) == (3, 20)
    assert config.web.feeds_cache_control == "public, max-age=300"
    assert config.web.trusted_proxies == ("127.0.0.1", "::1")
    assert config.digests[0].archive is True


def test_web_values_are_read(write_config: Callable[..., Path]) -> None:
    web = {
        "confirm_ttl": "2d",
        "rate_limits": {"per_address": 5, "per_client": 50},
        "feeds_cache_control": "public, max-age=60",
        "trusted_proxies": ["10.0.0.0/8"],
    }
    digests: list[dict[str, Any]] = copy.deepcopy(BASE_CONFIG["digests"])
    digests[0]["archive"] = False
    config = load_config(write_config(web=web, digests=digests))
    assert config.web.confirm_ttl == timedelta(days=2)
    assert config.web.rate_limits.per_client == 50
    assert config.web.trusted_proxies == ("10.0.0.0/8",)
    assert config.digests[0].archive is False


@pytest.mark.parametrize(
    ("web", "problem"),
    [
        ({"rate_limits": {"per_address": 0}}, "web.rate_limits.per_address: "),
        ({"rate_limits": {"per_adress": 3}}, "web.rate_limits.per_adress: unknown key (did you "),
        ({"confirm_ttl": "1m"}, "web.confirm_ttl: invalid duration '1m': between 10m and 30d"),
        ({"confirm_ttl": 48}, "web.confirm_ttl: expected a duration such as 48h or 2d"),
        ({"confirm_ttl": "soon"}, "web.confirm_ttl: "),
        ({"feeds_cache_control": "max-age=1\nX: y"}, "web.feeds_cache_control: "),
        ({"trusted_proxies": ["nginx"]}, "web.trusted_proxies[0]: 'nginx' is not an IP address"),
        ({"port": 8080}, "web.port: unknown key"),
        ("yes", "web: expected a mapping of keys, not text"),
    ],
)
def test_bad_web_values_are_named_by_key_path(
    write_config: Callable[..., Path], web: Any, problem: str
) -> None:
    problems = _problems(write_config(web=web))
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem), problems


def test_archive_must_be_true_or_false(write_config: Callable[..., Path]) -> None:
    digests: list[dict[str, Any]] = copy.deepcopy(BASE_CONFIG["digests"])
    digests[0]["archive"] = "no"
    assert _problems(write_config(digests=digests)) == [
        "digests[0].archive: expected true or false, not text"
    ]


def test_check_reports_a_web_key_by_its_path(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    write_config(web={"rate_limits": {"per_client": -1}})
    done = invoke_syndicate("check", cwd=tmp_path)
    assert done.returncode == 1
    assert "web.rate_limits.per_client: " in done.stderr
