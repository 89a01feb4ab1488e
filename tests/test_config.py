"""Loading schedules.yaml: validation, key paths, path resolution."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest

from syndicate.config import load_config
from syndicate.errors import ConfigError
from syndicate.preflight import environment_problems
from tests.conftest import BASE_CONFIG, ROOT


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.lines()


def test_bundled_config_is_valid() -> None:
    config = load_config(ROOT / "schedules.yaml")
    assert str(config.timezone) == "Asia/Seoul"
    assert config.store.startswith(f"sqlite:///{ROOT}")
    assert [s.name for s in config.section_list()][:2] == ["IT·과학", "산업"]
    assert environment_problems(config) == []


def test_relative_paths_resolve_against_config_folder(
    write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(
        sources=[{"id": "a", "kind": "folder", "location": "articles", "section": "it"}]
    )
    monkeypatch.chdir(ROOT)
    config = load_config(path)
    assert config.sources[0].location == str(tmp_path / "articles")
    assert config.feeds.output == tmp_path / "public" / "feeds"
    assert config.store == f"sqlite:///{tmp_path / 'var' / 'test.db'}"
    assert config.digests[0].delivery.folder == tmp_path / "outbox"  # type: ignore[union-attr]


def test_bad_schedule_and_unknown_section_named_by_key_path(
    write_config: Callable[..., Path],
) -> None:
    data = copy.deepcopy(BASE_CONFIG)
    data["digests"][0]["schedule"] = "0 25 * * *"
    data["sources"] = [{"id": "x", "kind": "feed", "location": "x.xml", "section": "sports"}]
    path = write_config(data)
    lines = _problems(path)
    assert lines == [
        f"{path}: digests[0].schedule: invalid schedule '0 25 * * *': hour: 25 is outside 0-23",
        f"{path}: sources[0].section: unknown section 'sports' (known: economy, it, society)",
    ]


def test_a_digest_section_must_exist(write_config: Callable[..., Path]) -> None:
    data = copy.deepcopy(BASE_CONFIG)
    data["digests"][0]["sections"] = ["it", "sports", "economy", "weather"]
    path = write_config(data)
    assert _problems(path) == [
        f"{path}: digests[0].sections[1]: unknown section 'sports' (known: economy, it, society)",
        f"{path}: digests[0].sections[3]: unknown section 'weather' (known: economy, it, society)",
    ]


def test_every_problem_is_reported_once_per_line(write_config: Callable[..., Path]) -> None:
    data = copy.deepcopy(BASE_CONFIG)
    data["timezone"] = "Mars/Olympus"
    data["digests"][0]["schedule"] = "every fortnight"
    data["digests"][0]["delivery"] = {"kind": "pigeon"}
    data["feeds"]["formats"] = ["rss", "rdf"]
    data["surprise"] = 1
    lines = _problems(write_config(data))
    joined = "\n".join(lines)
    assert "timezone: unknown timezone 'Mars/Olympus'" in joined
    assert "digests[0].schedule: invalid duration" in joined
    assert "digests[0].delivery.kind: unknown kind 'pigeon' (known: file, smtp)" in joined
    assert "feeds.formats[1]: " in joined
    assert "surprise: unknown key" in joined
    assert all(line.startswith(str(write_config(data))) for line in lines)


def test_duplicates_and_rule_sections(write_config: Callable[..., Path]) -> None:
    data = copy.deepcopy(BASE_CONFIG)
    data["sources"] = [
        {
            "id": "a",
            "kind": "feed",
            "location": "a.xml",
            "section": "it",
            "rules": [{"category": "x", "section": "nope"}, {"section": "it"}],
        },
    ]
    path = write_config(data)
    assert _problems(path) == [
        f"{path}: sources[0].rules[1]: a rule needs exactly one of 'category' or 'path'",
        f"{path}: sources[0].rules[0].section: unknown section 'nope' "
        "(known: economy, it, society)",
    ]
    data["sources"][0]["rules"] = [{"category": "x", "section": "nope"}]
    data["sections"].append({"id": "it", "name": "again"})
    lines = _problems(write_config(data))
    assert any("sections[3].id: duplicate id 'it'" in line for line in lines)
    assert any("sources[0].rules[0].section: unknown section 'nope'" in line for line in lines)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "schedules.yaml"
    path.write_text("timezone: Asia/Seoul\nsections: [\n", encoding="utf-8")
    (line,) = _problems(path)
    assert line.startswith(f"{path}: line ")
    assert "YAML syntax error" in line


def test_missing_file(tmp_path: Path) -> None:
    (line,) = _problems(tmp_path / "nope.yaml")
    assert "file not found" in line


def test_environment_problems(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = copy.deepcopy(BASE_CONFIG)
    data["sources"] = [{"id": "a", "kind": "folder", "location": "missing", "section": "it"}]
    data["digests"][0]["delivery"] = {"kind": "smtp", "host": "127.0.0.1", "password_env": "SYN_PW"}
    monkeypatch.delenv("SYN_PW", raising=False)
    problems = environment_problems(load_config(write_config(data)))
    assert problems[0].startswith("sources[0].location: ")
    assert problems[1] == "digests[0].delivery.password_env: environment variable SYN_PW is not set"


def test_store_url_env_override(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNDICATE_STORE_URL", "postgresql+psycopg://u@h/db")
    assert load_config(write_config()).store == "postgresql+psycopg://u@h/db"
