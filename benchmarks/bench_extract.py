"""Article extraction: pages/s of syndicate against trafilatura alone, and fields right on each.

Run: .venv/bin/python benchmarks/bench_extract.py [ROUNDS]

The pages are the team-written ones in tests/data/pages (the seed page, pages
in the structures of other Korean outlets, and small English, German and Japanese
pages in patterns met on foreign sites), each with hand-written truths in
expected.json. trafilatura runs as ``bare_extraction(with_metadata=True)``
on the same text; syndicate's time includes decoding the bytes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.extract_truth import FIELDS, PAGES, ours, score, theirs, truths  # noqa: E402


def _rate(run: Callable[[bytes, str], Any], pages: list[tuple[bytes, str]], rounds: int) -> float:
    run(*pages[0])  # warm up imports and caches
    start = time.perf_counter()
    for _ in range(rounds):
        for content, url in pages:
            run(content, url)
    return len(pages) * rounds / (time.perf_counter() - start)


def _fields(run: Callable[[bytes, str], dict[str, Any]]) -> dict[str, int]:
    totals = dict.fromkeys(FIELDS, 0)
    for name, truth in truths().items():
        content = (PAGES / name).read_bytes()
        for field, ok in score(run(content, truth["url"]), truth, content).items():
            totals[field] += ok
    return totals


def main() -> None:
    """Print the field table and the speed of both extractors."""
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    cases = truths()
    pages = [((PAGES / name).read_bytes(), truth["url"]) for name, truth in cases.items()]
    mine, baseline = _fields(ours), _fields(theirs)
    print(f"extraction fields right on {len(cases)} pages: syndicate vs trafilatura")
    total = len(cases)
    for field in FIELDS:
        flag = "" if mine[field] >= baseline[field] else "  <-- worse"
        print(f"  {field:14} {mine[field]:3d} / {total}   {baseline[field]:3d} / {total}{flag}")
    _speed(f"speed ({rounds} rounds of {len(pages)} pages):", pages, rounds)
    padded = [(_pad(content), url) for content, url in pages]
    size = sum(len(content) for content, _ in padded) // len(padded) // 1024
    _speed(f"speed on the same pages padded like real ones (~{size} KB each):", padded, rounds)


def _pad(content: bytes) -> bytes:
    """The page inside the menus, scripts and boxes a real news page carries."""
    menu = "<ul class='gnb'>" + "<li><a href='/section/1'>섹션 메뉴 항목</a></li>" * 400 + "</ul>"
    script = "<script>var config = {" + "'key': 'value', " * 4000 + "};</script>"
    boxes = "<div class='rank_news'>" + "<p><a href='/v/1'>많이 본 뉴스 제목입니다</a></p>" * 300
    extra = (menu + script).encode()
    tail = (boxes + "</div>").encode()
    return content.replace(b"<body>", b"<body>" + extra, 1).replace(b"</body>", tail + b"</body>")


def _speed(label: str, pages: list[tuple[bytes, str]], rounds: int) -> None:
    ours_rate = _rate(ours, pages, rounds)
    theirs_rate = _rate(theirs, pages, rounds)
    print(label)
    print(f"  syndicate extract_article     {ours_rate:8.1f} pages/s")
    print(f"  trafilatura bare_extraction   {theirs_rate:8.1f} pages/s")
    print(f"  ratio                         {ours_rate / theirs_rate:8.2f}x")


if __name__ == "__main__":
    main()
