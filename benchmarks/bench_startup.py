"""Start-up cost of commands: modules loaded, wall and CPU time, with baselines in the same run.

Run: .venv/bin/python benchmarks/bench_startup.py [RUNS]

Each command runs in a fresh interpreter on a copy of the bundled example
site; ``check`` and ``jobs`` read the config, ``--help`` does not. Baselines:
Python's own start, and importing the libraries ``check`` cannot do without
(click, pydantic, PyYAML). The package is byte-compiled first, so the numbers
do not depend on PYTHONDONTWRITEBYTECODE. CPU time (user + system of the
child) is shown as well: on a shared machine it varies less than wall time.
"""

from __future__ import annotations

import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = (["--help"], ["check"], ["jobs"])
BASELINES = (
    ("python -c pass", "pass"),
    ("import click+pydantic+yaml", "import click, pydantic.main, yaml"),
)
COUNT = (
    "import sys\nfrom syndicate.cli import main\nsys.argv = ['syndicate', *sys.argv[1:]]\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\nprint(len(sys.modules), file=sys.stderr)"
)


def timed(args: list[str], cwd: Path, runs: int) -> tuple[float, float, float]:
    """Best and median wall time and best CPU time of ``args`` over ``runs`` runs, in ms."""
    walls, cpus = [], []
    for _ in range(runs):
        before = os.times()
        start = time.perf_counter()
        subprocess.run(args, cwd=cwd, check=False, capture_output=True)
        walls.append((time.perf_counter() - start) * 1000)
        after = os.times()
        cpus.append(
            (after.children_user - before.children_user)
            + (after.children_system - before.children_system)
        )
    return min(walls), statistics.median(walls), min(cpus) * 1000


def modules(command: list[str], cwd: Path) -> int:
    """How many modules are in sys.modules after running the command in-process."""
    done = subprocess.run(
        [sys.executable, "-c", COUNT, *command], cwd=cwd, check=False, capture_output=True
    )
    return int(done.stderr.split()[-1])


def line(name: str, count: str, times: tuple[float, float, float]) -> str:
    """One row of the table."""
    best, median, cpu = times
    return f"{name:<28} {count:>12} best {best:5.0f} ms  median {median:5.0f} ms  cpu {cpu:5.0f} ms"


def main() -> None:
    """Print one line per baseline and per command."""
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    compileall.compile_dir(ROOT / "syndicate", quiet=1)
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder)
        shutil.copy(ROOT / "schedules.yaml", site / "schedules.yaml")
        shutil.copytree(ROOT / "examples", site / "examples")
        for name, code in BASELINES:
            print(line(name, "", timed([sys.executable, "-c", code], site, runs)))
        for command in COMMANDS:
            count = f"{modules(command, site):4d} modules"
            times = timed([sys.executable, "-m", "syndicate", *command], site, runs)
            print(line(f"syndicate {' '.join(command)}", count, times))


if __name__ == "__main__":
    main()
