"""Store URLs: read without SQLAlchemy, yet exactly as SQLAlchemy reads them; a missing
PostgreSQL driver is one line naming the extra that installs it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import requires
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from syndicate.dburl import check_store_url, parse_store_url, sqlite_path
from tests.conftest import BASE_CONFIG

URLS = [
    "sqlite:///var/syndicate.db",
    "sqlite:////abs/path.db",
    "sqlite://",
    "sqlite:///:memory:",
    "sqlite+pysqlite:///x.db?mode=ro",
    "sqlite:///file:x.db?uri=true",
    "sqlite:///%EB%89%B4%EC%8A%A4.db",
    "sqlite:///뉴스.db",
    "postgresql+psycopg://news:s3cr%40t@db.example.kr:5433/news?sslmode=require",
    "postgresql://u@[::1]:5432/db",
    "postgresql://u:@h/db",
    "postgresql://:pw@h",
    "postgresql://h:/db",
    "postgresql://h:abc/db",
    "postgresql://h:１２/db",
    "postgresql://h:99999/db",
    "postgresql+asyncpg://h/db",
    "mysql+pymysql://h/db",
    "not a url",
    "",
    "://h/db",
    "+://h",
    "a+b+c://h",
    "sqlite:/x.db",
    "sqlite:///x.db\n?q=1",
    "postgresql://user:pa:ss@h@h2/db",
]


def _agree(url: str) -> None:
    """Whatever parse_store_url accepts, sa.make_url reads with the same parts."""
    try:
        parsed = parse_store_url(url)
    except ValueError:
        return
    expected = sa.make_url(url)
    assert parsed.backend == expected.get_backend_name()
    assert parsed.driver == (expected.drivername.partition("+")[2] or None)
    assert parsed.port == expected.port
    assert parsed.database == expected.database
    assert ("***" in parsed.shown) == (expected.password is not None or "***" in url)
    if expected.password is not None and "***" not in url:
        assert sa.make_url(parsed.shown).password == "***"


@pytest.mark.parametrize("url", URLS)
def test_known_urls_parse_as_sqlalchemy_parses_them(url: str) -> None:
    _agree(url)


@pytest.mark.parametrize("url", URLS[:12])
def test_the_urls_people_write_are_read(url: str) -> None:
    parsed = parse_store_url(url)
    assert parsed.backend == sa.make_url(url).get_backend_name()


URL_PARTS = st.text(alphabet="ab1:/@?+=&[]%.-_ \n한", max_size=12)


@given(st.sampled_from(["sqlite", "postgresql", "postgresql+psycopg", "x+y", ""]), URL_PARTS)
def test_any_url_parses_as_sqlalchemy_parses_it(scheme: str, rest: str) -> None:
    _agree(f"{scheme}://{rest}")


def test_sqlite_path_of_relative_memory_and_other_urls() -> None:
    assert sqlite_path("sqlite:////srv/news/var/a.db") == Path("/srv/news/var/a.db")
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("sqlite://") is None
    assert sqlite_path("sqlite:///file:a.db?uri=true") is None
    assert sqlite_path("postgresql+psycopg://h/db") is None


def test_password_is_hidden_in_errors() -> None:
    with pytest.raises(ValueError, match=r"^postgresql\+psycopg://u:\*\*\*@h:0/db: port 0"):
        check_store_url("postgresql+psycopg://u:hunter2@h:0/db")


# psycopg made unimportable the way an environment without the extra has it, or
# installed but unable to load (no libpq): a fake package first on sys.path.
CHECK_WITHOUT_DRIVER = """
import sys
if sys.argv[1] == "absent":
    sys.modules["psycopg"] = None
    sys.modules["psycopg2"] = None
else:
    sys.path.insert(0, sys.argv[1])
from click.testing import CliRunner
from syndicate.cli import cli
result = CliRunner().invoke(cli, ["check"], catch_exceptions=False)
sys.stdout.write(result.output)
sys.exit(result.exit_code)
"""
BROKEN_PSYCOPG = (
    'raise ImportError("no pq wrapper available.\\nAttempts made:\\n'
    "- couldn't import psycopg 'c' implementation: No module named 'psycopg_c'\\n"
    "- couldn't import psycopg 'python' implementation: libpq library not found\")\n"
)


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql+psycopg://news@db.example.kr/news", "absent"),
        ("postgresql://news:s3cret@db.example.kr/news", "absent"),
        ("postgresql+psycopg2://news@db.example.kr/news", "absent"),
        ("postgresql+psycopg://news:s3cret@db.example.kr/news", "broken"),
        ("postgresql://news@db.example.kr/news", "broken"),
    ],
)
def test_postgresql_without_the_driver_names_the_extra(
    write_config: Callable[..., Path], tmp_path: Path, url: str, driver: str
) -> None:
    path = write_config(BASE_CONFIG, store=url)
    if driver == "broken":
        (tmp_path / "fake" / "psycopg").mkdir(parents=True)
        (tmp_path / "fake" / "psycopg" / "__init__.py").write_text(BROKEN_PSYCOPG)
        driver = str(tmp_path / "fake")
    done = subprocess.run(
        [sys.executable, "-c", CHECK_WITHOUT_DRIVER, driver],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SYNDICATE_CONFIG": str(path)},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: store: postgresql")
    assert "PostgreSQL driver not available" in lines[0]
    assert "pip install 'syndicate[postgres]'" in lines[0]
    assert "s3cret" not in lines[0]
    assert "Traceback" not in done.stderr


def test_the_postgresql_driver_is_the_postgres_extra() -> None:
    declared = requires("syndicate") or []
    psycopg = [r for r in declared if r.startswith("psycopg")]
    assert psycopg, declared
    assert all('extra == "postgres"' in r.replace("'", '"') for r in psycopg), psycopg
