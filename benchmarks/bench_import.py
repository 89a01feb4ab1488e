"""Speed of ``syndicate subscribers import``: rows per second for a whole process.

Run: .venv/bin/python benchmarks/bench_import.py [ROWS]

Generates ROWS (default 100,000) subscribers with Korean names, then runs
``syndicate subscribers import`` as a subprocess (start-up, validation of the
whole file and the writes included) into a fresh SQLite file, and into
PostgreSQL when SYNDICATE_TEST_DATABASE_URL is set (a fresh schema). It is run
twice per database: the first import creates every subscription, the second
finds them all unchanged. Baselines in the same run: the CSV parse and
validation alone (``read_subscribers``, in this process), and the row-by-row
store path (one ``upsert_subscriber`` and one ``set_subscription`` per row, as
imports worked before they were batched) on a sample of 2,000 rows.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from syndicate.config import load_config
from syndicate.store import Store
from syndicate.subscribers import read_subscribers

ROOT = Path(__file__).resolve().parent.parent
FAMILY = "김이박최정강조윤장임한오서신권황안송류홍"
GIVEN = [
    "민준",
    "서연",
    "도윤",
    "하은",
    "지호",
    "수아",
    "예준",
    "지우",
    "시우",
    "하린",
    "주원",
    "유나",
]
SECTIONS = ["it", "industry", "economy", "politics", "society", "culture", "national", "global"]
SAMPLE = 2_000


def write_csv(path: Path, rows: int) -> None:
    """A subscribers file of ``rows`` lines with Korean names and varied sections."""
    lines = ["email,name,digest,sections,consented_at"]
    for i in range(rows):
        name = FAMILY[i % len(FAMILY)] + GIVEN[(i // len(FAMILY)) % len(GIVEN)]
        sections = " ".join(SECTIONS[j] for j in range(len(SECTIONS)) if (i >> j) & 1)
        day = 1 + i % 28
        consent = f"2026-11-{day:02d}T08:00:00+09:00"
        lines.append(f"reader{i}@example{i % 7}.kr,{name},morning,{sections},{consent}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def site(folder: Path, store_url: str) -> Path:
    """The bundled example config in ``folder``, storing to ``store_url``."""
    folder.mkdir(exist_ok=True)
    text = (ROOT / "schedules.yaml").read_text(encoding="utf-8")
    config = folder / "schedules.yaml"
    config.write_text(text.replace("sqlite:///var/syndicate.db", store_url), encoding="utf-8")
    shutil.copytree(ROOT / "examples", folder / "examples")
    return config


def run_import(config: Path, csv_path: Path) -> tuple[float, str]:
    """Wall time of one ``syndicate subscribers import`` process, and its output line."""
    args = [sys.executable, "-m", "syndicate", "-c", str(config), "subscribers", "import"]
    start = time.perf_counter()
    done = subprocess.run([*args, str(csv_path)], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"import failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, done.stdout.strip().rsplit(": ", 1)[-1]


def per_row(store_url: str, csv_path: Path, config: Path) -> float:
    """Rows/s of the row-by-row store path (two transactions per row) on the first SAMPLE rows."""
    rows = read_subscribers(csv_path, load_config(config))[:SAMPLE]
    store = Store(store_url)
    start = time.perf_counter()
    for row in rows:
        person = store.upsert_subscriber(row.email, row.name)
        store.set_subscription(
            person.id, row.digest_id, row.sections, status=row.status, consent_at=row.consent_at
        )
    elapsed = time.perf_counter() - start
    store.close()
    return len(rows) / elapsed


@contextmanager
def pg_schema(url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards; yields a URL that uses it."""
    schema = f"bench_import_{secrets.token_hex(4)}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield str(sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}))
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def bench(label: str, store_url: str, folder: Path, csv_path: Path, rows: int) -> None:
    """Print the import rates for one database, then the per-row baseline into a second one."""
    config = site(folder, store_url)
    subprocess.run(
        [sys.executable, "-m", "syndicate", "-c", str(config), "db", "upgrade"],
        check=True,
        capture_output=True,
    )
    for run in ("first import", "re-import"):
        elapsed, summary = run_import(config, csv_path)
        print(
            f"  {label:<10} {run:<14} {rows / elapsed:9.0f} rows/s  {elapsed:6.1f} s  ({summary})"
        )


def main() -> None:
    """Print rows/s of the import and of its baselines."""
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_path = folder / "subscribers.csv"
        write_csv(csv_path, rows)
        print(
            f"subscribers import, {rows} rows ({csv_path.stat().st_size // 1024} KB), whole process"
        )
        config = site(folder / "parse", "sqlite:///unused.db")
        start = time.perf_counter()
        read_subscribers(csv_path, load_config(config))
        parse = rows / (time.perf_counter() - start)
        print(f"  {'baseline':<10} {'parse+validate':<14} {parse:9.0f} rows/s  (in process)")
        sqlite_folder = folder / "sqlite"
        bench("sqlite", f"sqlite:///{sqlite_folder / 'bench.db'}", sqlite_folder, csv_path, rows)
        baseline_db = folder / "per-row.db"
        store = Store(f"sqlite:///{baseline_db}")
        store.upgrade()
        store.close()
        rate = per_row(f"sqlite:///{baseline_db}", csv_path, config)
        print(f"  {'baseline':<10} {'per-row sqlite':<14} {rate:9.0f} rows/s  ({SAMPLE} rows)")
        url = os.environ.get("SYNDICATE_TEST_DATABASE_URL")
        if url:
            with pg_schema(url) as pg_url:
                bench("postgresql", pg_url, folder / "pg", csv_path, rows)
            with pg_schema(url) as pg_url:
                store = Store(pg_url)
                store.upgrade()
                store.close()
                rate = per_row(pg_url, csv_path, config)
            print(f"  {'baseline':<10} {'per-row pg':<14} {rate:9.0f} rows/s  ({SAMPLE} rows)")


if __name__ == "__main__":
    main()
