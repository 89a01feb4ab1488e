"""Start-up cost of commands: modules loaded, wall and CPU time, with baselines in the same run.

Run: .venv/bin/python benchmarks/bench_startup.py [RUNS] [--breakdown]

Each command runs in a fresh interpreter on a copy of the bundled example
site; ``check`` and ``jobs`` read the config, ``--help`` does not. ``jobs``
creates the database on its first run (Alembic); the modules are counted after
the timed runs, when it exists. Baselines:
Python's own start, click alone (all ``--help`` needs), and the floor of
``check``: importing click and PyYAML and reading the config's YAML (what any
``check`` does before validating). The package is byte-compiled first, so
the numbers do not depend on PYTHONDONTWRITEBYTECODE. CPU time (user + system
of the child) is shown as well: on a shared machine it varies less than wall
time. Runs are interleaved (one of each, then again), so a busy moment of the
machine weighs on every row alike.

``--breakdown`` adds where ``check``'s import time goes (``-X importtime``,
each module's own time, the least over the runs), summed per library that
imports it: the standard modules click or PyYAML load count as theirs.
"""

from __future__ import annotations

import collections
import compileall
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = (["--help"], ["check"], ["jobs"])
FLOOR = (
    "import click, yaml\n"
    "with open('schedules.yaml', encoding='utf-8') as f:\n"
    "    yaml.load(f, Loader=getattr(yaml, 'CSafeLoader', yaml.SafeLoader))"
)
BASELINES = (
    ("python -c pass", "pass"),
    ("import click", "import click"),
    ("floor: click+yaml+read", FLOOR),
)
COUNT = (
    "import sys\nfrom syndicate.cli import main\nsys.argv = ['syndicate', *sys.argv[1:]]\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\nprint(len(sys.modules), file=sys.stderr)"
)
LIBRARIES = {
    "yaml": ("yaml", "_yaml"),
    "click": ("click",),
    "syndicate": ("syndicate",),
}
SCRIPT = Path(sys.executable).with_name("syndicate")
SYNDICATE = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "syndicate"]
"""The installed console script (what users run), else ``python -m syndicate``."""


def run_once(args: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU time (user + system of the child) of one run, in ms."""
    before = os.times()
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=False, capture_output=True)
    wall = (time.perf_counter() - start) * 1000
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu * 1000


def timed(cases: dict[str, list[str]], cwd: Path, runs: int) -> dict[str, tuple[float, ...]]:
    """Best and median wall time and median CPU time of each case, runs interleaved, in ms."""
    walls: dict[str, list[float]] = collections.defaultdict(list)
    cpus: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(runs):
        for name, args in cases.items():
            wall, cpu = run_once(args, cwd)
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {
        name: (min(walls[name]), statistics.median(walls[name]), statistics.median(cpus[name]))
        for name in cases
    }


def modules(command: list[str], cwd: Path) -> int:
    """How many modules are in sys.modules after running the command in-process."""
    done = subprocess.run(
        [sys.executable, "-c", COUNT, *command], cwd=cwd, check=False, capture_output=True
    )
    return int(done.stderr.split()[-1])


def line(name: str, count: str, times: tuple[float, ...]) -> str:
    """One row of the table."""
    best, median, cpu = times
    return f"{name:<28} {count:>12} best {best:5.0f} ms  median {median:5.0f} ms  cpu {cpu:5.0f} ms"


def library(module: str) -> str | None:
    """The library a module belongs to, as the breakdown groups them; None for Python's own."""
    top = module.split(".", maxsplit=1)[0]
    return next((name for name, tops in LIBRARIES.items() if top in tops), None)


def owners(report: str) -> list[tuple[str, float]]:
    """Each module of an ``-X importtime`` report with its own time (ms) and its owner.

    The owner is the nearest library on the chain of imports that loaded the module
    (click owns the ``inspect`` it imports), "python" when there is none (the
    interpreter's own start).
    """
    rows = re.findall(r"import time:\s+(\d+) \|\s+\d+ \|( *)(\S+)", report)
    chain: list[str] = []
    found = []
    for own, indent, module in reversed(rows):  # a package is printed after what it imports
        chain = [*chain[: (len(indent) - 1) // 2], module]
        owner = next((lib for lib in map(library, reversed(chain)) if lib), "python")
        found.append((f"{owner} {module}", int(own) / 1000))
    return found


def breakdown(cwd: Path, runs: int) -> dict[str, float]:
    """Import time of ``check`` per owner in ms: each module's least own time over the runs."""
    least: dict[str, float] = {}
    args = [sys.executable, "-X", "importtime", "-m", "syndicate", "check"]
    for _ in range(runs):
        done = subprocess.run(args, cwd=cwd, check=False, capture_output=True, text=True)
        for key, own in owners(done.stderr):
            least[key] = min(own, least.get(key, own))
    totals: dict[str, float] = collections.Counter()
    for key, own in least.items():
        totals[key.split()[0]] += own
    return dict(totals)


def main() -> None:
    """Print one line per baseline and per command (and the breakdown when asked)."""
    numbers = [arg for arg in sys.argv[1:] if arg.isdigit()]
    runs = int(numbers[0]) if numbers else 10
    compileall.compile_dir(ROOT / "syndicate", quiet=1)
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder)
        shutil.copy(ROOT / "schedules.yaml", site / "schedules.yaml")
        shutil.copytree(ROOT / "examples", site / "examples")
        cases = {name: [sys.executable, "-c", code] for name, code in BASELINES}
        for command in COMMANDS:
            cases[f"syndicate {' '.join(command)}"] = [*SYNDICATE, *command]
        results = timed(cases, site, runs)
        print(f"{runs} runs each, interleaved; times in ms")
        for name, _ in BASELINES:
            print(line(name, "", results[name]))
        for command in COMMANDS:
            name = f"syndicate {' '.join(command)}"
            print(line(name, f"{modules(command, site):4d} modules", results[name]))
        if "--breakdown" in sys.argv:
            print("import time of check by who imports (least own time per module, summed):")
            for name, total in sorted(breakdown(site, runs).items(), key=lambda kv: -kv[1]):
                print(f"  {name:<20} {total:6.1f} ms")


if __name__ == "__main__":
    main()
