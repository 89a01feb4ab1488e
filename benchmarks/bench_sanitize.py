"""Sanitizing and text extraction scale linearly, however deep or broken the markup.

Run: .venv/bin/python benchmarks/bench_sanitize.py

For each hostile shape the time is printed at growing sizes; a linear pass
roughly doubles when the size doubles. A normal article is the baseline.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from syndicate.sanitize import clean_html, html_to_text

SHAPES: dict[str, Callable[[int], str]] = {
    "nested <div>": lambda n: "<div>" * n + "글" + "</div>" * n,
    "unclosed <b>": lambda n: "<b>" * n + "글",
    "nested tables": lambda n: "<table><tr><td>" * (n // 3) + "글",
    "open tags '<a '": lambda n: "<a " * n,
    "unclosed '<!--'": lambda n: "<!--" * n,
    "paragraphs '<p>'": lambda n: "<p>문단 " * n,
}
SIZES = (12_500, 25_000, 50_000, 100_000)
NORMAL = "<p>" + "한국어 기사 본문입니다. <b>강조</b>와 <a href='/x'>링크</a>. " * 40 + "</p>"


def best(func: Callable[[], object], repeat: int = 3) -> float:
    """The best wall time of ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Print clean_html and html_to_text times per shape and size."""
    normal = best(lambda: clean_html(NORMAL, "https://news.example.kr/"), repeat=20)
    print(f"baseline: one normal article ({len(NORMAL):,} chars): {normal * 1000:.2f} ms")
    for name, make in SHAPES.items():
        cells = []
        for size in SIZES:
            html = make(size)
            clean = best(lambda html=html: clean_html(html, "https://news.example.kr/"))
            text = best(lambda html=html: html_to_text(html))
            cells.append(f"{size:>7,}: {clean:5.2f}s/{text:5.2f}s")
        print(f"{name:<18} clean/text  " + "  ".join(cells))


if __name__ == "__main__":
    main()
