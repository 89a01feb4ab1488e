"""Start-up cost of commands: modules loaded and wall time, with Python's own start as baseline.

Run: .venv/bin/python benchmarks/bench_startup.py [RUNS]

Each command runs in a fresh interpreter on a copy of the bundled example
site; ``check`` and ``jobs`` read the config, ``--help`` does not.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = (["--help"], ["check"], ["jobs"])
COUNT = (
    "import sys\nfrom syndicate.cli import main\nsys.argv = ['syndicate', *sys.argv[1:]]\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\nprint(len(sys.modules), file=sys.stderr)"
)


def wall(args: list[str], cwd: Path, runs: int) -> tuple[float, float]:
    """Best and median wall time of ``args`` over ``runs`` runs, in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, cwd=cwd, check=False, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    return min(times), statistics.median(times)


def modules(command: list[str], cwd: Path) -> int:
    """How many modules are in sys.modules after running the command in-process."""
    done = subprocess.run(
        [sys.executable, "-c", COUNT, *command], cwd=cwd, check=False, capture_output=True
    )
    return int(done.stderr.split()[-1])


def main() -> None:
    """Print one line per command."""
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder)
        shutil.copy(ROOT / "schedules.yaml", site / "schedules.yaml")
        shutil.copytree(ROOT / "examples", site / "examples")
        best, median = wall([sys.executable, "-c", "pass"], site, runs)
        print(f"{'python -c pass':<18} {'':>12} best {best:5.0f} ms  median {median:5.0f} ms")
        for command in COMMANDS:
            count = modules(command, site)
            best, median = wall([sys.executable, "-m", "syndicate", *command], site, runs)
            print(
                f"syndicate {' '.join(command):<8} {count:4d} modules "
                f"best {best:5.0f} ms  median {median:5.0f} ms"
            )


if __name__ == "__main__":
    main()
