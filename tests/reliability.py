"""docs/reliability.md: figures the fault, load and fuzz tests write on each run.

Each test owns one section between HTML comment markers and rewrites only that section, so
the page always shows the figures of the latest run of each test.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
HEAD = """# Reliability figures

Written by the tests on each run of the suite (CI sizes; the environment variables named in
each section make bigger runs). Nothing here is typed by hand.
"""


def rewrite_section(page: Path, head: str, section: str, body: str) -> None:
    """Replace (or append) the marked ``section`` of ``page`` with ``body``, under a lock (several
    writers at once); a page that lost its ``head`` starts again from it. Also bench/RESULTS.md."""
    start, end = f"<!-- {section} -->", f"<!-- /{section} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    with (page.parent / f".{page.stem.lower()}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = page.read_text() if page.exists() else head
        if not text.startswith(head.splitlines()[0]):
            text = head
        if start in text and end in text:
            before, rest = text.split(start, 1)
            text = before + block + rest.split(end, 1)[1]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        page.write_text(text)


def record(section: str, body: str) -> None:
    rewrite_section(PAGE, HEAD, section, body)


def record_row(section: str, intro: str, key: str, figures: str) -> None:
    """Keep one table row per run size (``key``) in ``section``: a CI run does not wipe the
    figures of the last big run, and each size shows its latest figures."""
    start, end = f"<!-- {section} -->", f"<!-- /{section} -->"
    text = PAGE.read_text() if PAGE.exists() else ""
    rows: dict[str, str] = {}
    if start in text and end in text:
        for line in text.split(start, 1)[1].split(end, 1)[0].splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if line.startswith("| ") and len(cells) == 2 and cells[0] not in ("run", "size", "---", "latest"):
                rows[cells[0]] = cells[1]
    rows[key] = figures
    table = "\n".join(f"| {k} | {v} |" for k, v in sorted(rows.items(), key=lambda kv: _size(kv[0])))
    record(section, f"{intro.strip()}\n\n| size | figures |\n| --- | --- |\n{table}")


def _size(key: str) -> tuple[int, str]:
    digits = "".join(c if c.isdigit() else " " for c in key).split()
    return (int(digits[0]) if digits else 0, key)
