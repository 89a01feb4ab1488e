"""The command line, end to end on the bundled example in a temporary folder."""

from __future__ import annotations

import copy
import email
import email.policy
import re
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import click
import feedparser
from click.testing import CliRunner

from syndicate.config import load_config
from tests.conftest import BASE_CONFIG, CliOutcome, invoke_syndicate, run_syndicate

HANGUL = range(0xAC00, 0xD7A4)
# examples/subscribers.csv: how many sections each reader's digest has (no sections = all 8)
SECTIONS_OF = {
    "kim.minji@example.kr": 2,
    "lee.jiwoo@example.kr": 3,
    "park.seojun@example.com": 2,
    "choi.yuna@example.com": 8,
    "jung.haneul@example.kr": 2,
    "kang.doyoon@example.com": 3,
}


def has_hangul(text: str) -> bool:
    """True when the text holds at least one Hangul syllable."""
    return any(ord(c) in HANGUL for c in text)


def syndicate(*args: str, cwd: Path, env: dict[str, str] | None = None) -> CliOutcome:
    """Run the command line in this process; the smoke tests below use a real process."""
    return invoke_syndicate(*args, cwd=cwd, env=env)


def _emails(folder: Path) -> list[EmailMessage]:
    messages = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


def test_demo_cycle_end_to_end(example_site: Path) -> None:
    for step in (
        ["check"],
        ["db", "upgrade"],
        ["subscribers", "import", "examples/subscribers.csv"],
        ["run", "--once"],
    ):
        result = run_syndicate(*step, cwd=example_site)
        assert result.returncode == 0, (step, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr

    feeds = sorted((example_site / "public" / "feeds").glob("*.xml"))
    with_entries = 0
    for path in feeds:
        parsed = feedparser.parse(path.read_bytes())
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        assert all(has_hangul(e.title) for e in parsed.entries)
        with_entries += bool(parsed.entries)
    # sections without articles yet still get a valid, empty feed (4 of the 22 files)
    assert (len(feeds), with_entries) == (22, 18)
    assert {"all.rss.xml", "all.atom.xml", "it.rss.xml"} <= {p.name for p in feeds}

    messages = _emails(example_site / "outbox")
    assert len(messages) == len(SECTIONS_OF)
    order = [s.name for s in load_config(example_site / "schedules.yaml").section_list()]
    for message in messages:
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert text is not None and html is not None
        body = html.get_content()
        assert body.lstrip().startswith("<!DOCTYPE html>")
        assert 'style="' in body
        headings = [h.strip() for h in re.findall(r"<h2[^>]*>([^<]*)</h2>", body)]
        (to,) = message["To"].addresses
        assert len(headings) == SECTIONS_OF[to.addr_spec] and set(headings) <= set(order)
        assert headings == sorted(headings, key=order.index)
        assert has_hangul(str(message["Subject"]))
        assert "=?utf-8?" in message.as_string(policy=email.policy.SMTP).lower()

    again = run_syndicate("run", "--once", cwd=example_site)
    assert again.returncode == 0, again.stderr
    assert len(_emails(example_site / "outbox")) == len(messages)
    assert "0 sent" in again.stdout


def test_check_names_every_error(write_config: Callable[..., Path], tmp_path: Path) -> None:
    data = copy.deepcopy(BASE_CONFIG)
    data["digests"][0]["schedule"] = "61 7 * * *"
    data["sources"] = [{"id": "x", "kind": "feed", "location": "x.xml", "section": "sports"}]
    path = write_config(data)
    result = syndicate("-c", str(path), "check", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}: digests[0].schedule: invalid schedule")
    assert lines[1].startswith(f"{path}: sources[0].section: unknown section 'sports'")


def test_check_ok_and_usage_errors(example_site: Path) -> None:
    ok = syndicate("check", cwd=example_site)
    assert ok.returncode == 0 and ok.stdout.startswith("OK")
    assert syndicate("digest", "nope", cwd=example_site).returncode == 2
    assert syndicate("frobnicate", cwd=example_site).returncode == 2
    missing = syndicate("-c", "nowhere.yaml", "collect", cwd=example_site)
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("nowhere.yaml: file not found")


def test_config_from_environment(example_site: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"SYNDICATE_CONFIG": str(example_site / "schedules.yaml")}
    result = syndicate("check", cwd=elsewhere, env=env)
    assert result.returncode == 0, result.stderr


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand of ``group``, as argument tuples, the group first."""
    paths = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, (*prefix, name)))
        else:
            paths.append((*prefix, name))
    return paths


def test_every_command_has_help_with_example() -> None:
    from syndicate.cli import cli as root

    paths = _command_paths(root)
    assert ("extract",) in paths and ("subscribers", "import") in paths
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(root, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Example:" in result.output, path


def test_help_in_a_real_process(example_site: Path) -> None:
    result = run_syndicate("--help", cwd=example_site)
    assert result.returncode == 0 and "Example:" in result.stdout


def test_jobs_lists_next_runs_in_seoul(example_site: Path) -> None:
    result = syndicate("jobs", cwd=example_site)
    assert result.returncode == 0, result.stderr
    assert "collect" in result.stdout and "digest:morning" in result.stdout
    assert "+0900" in result.stdout


def test_partial_failure_exit_code(example_site: Path) -> None:
    config = example_site / "schedules.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("examples/feeds/economy.atom.xml", "examples/feeds/missing.atom.xml"),
        encoding="utf-8",
    )
    assert syndicate("db", "upgrade", cwd=example_site).returncode == 0
    result = syndicate("collect", cwd=example_site)
    assert result.returncode == 3
    assert "economy-atom: FAILED" in result.stdout
    assert "it-rss: " in result.stdout and "Traceback" not in result.stderr


def test_cycle_on_postgresql(example_site: Path, pg_url: str) -> None:
    env = {"SYNDICATE_STORE_URL": pg_url}
    for step in (
        ["db", "upgrade"],
        ["subscribers", "import", "examples/subscribers.csv"],
        ["run", "--once"],
    ):
        result = syndicate(*step, cwd=example_site, env=env)
        assert result.returncode == 0, (step, result.stdout, result.stderr)
    assert not (example_site / "var").exists()  # nothing went to the SQLite default
    sent = len(_emails(example_site / "outbox"))
    assert sent == len(SECTIONS_OF)
    again = syndicate("run", "--once", cwd=example_site, env=env)
    assert again.returncode == 0, again.stderr
    assert "it-rss: 0 new" in again.stdout
    assert len(_emails(example_site / "outbox")) == sent


def test_subscribers_list(example_site: Path) -> None:
    assert (
        syndicate("subscribers", "import", "examples/subscribers.csv", cwd=example_site).returncode
        == 0
    )
    result = syndicate("subscribers", "list", "--digest", "morning", cwd=example_site)
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    by_email = {row[0]: row for row in rows}
    assert by_email["lee.jiwoo@example.kr"][1:] == [
        "이지우",
        "morning",
        "active",
        "politics economy industry",
        "",
    ]
    assert by_email["choi.yuna@example.com"][4] == "*"


def test_bad_subscriber_file_is_one_line_per_problem(example_site: Path) -> None:
    bad = example_site / "bad.csv"
    bad.write_text("email,sections\nnobody,it\nok@example.kr,sports\n", encoding="utf-8")
    result = syndicate("subscribers", "import", str(bad), cwd=example_site)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {bad}:2: 'nobody' is not an e-mail address: an email address must have an @-sign",
        f"error: {bad}:3: unknown section 'sports'",
    ]
