"""bench/RESULTS.md: each benchmark rewrites only its own section between HTML comment markers.

So a run of one benchmark keeps the others' figures, and a full run (``python3 dev.py bench``)
rewrites all of them. The "before" figures of a fix are part of a section's text once they were
measured (they cannot be measured again after the fix landed) and are passed in by the script.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.reliability import rewrite_section

PAGE = Path(__file__).resolve().parent / "RESULTS.md"
HEAD = """# Benchmark results

Written by the benchmarks themselves (`python3 dev.py bench`, or one script at a time; see
the README's "Benchmarks"). Ratios are measured side by side in one run on the same Synapse; absolute
seconds on a shared 2-core machine are noise, compare the ratios. Nothing here is typed by hand
except the "before" columns, which were measured before a fix landed and are kept by the scripts.
"""


def machine() -> str:
    """One line: where and with what a figure was measured."""
    versions = []
    for package in ("matrix-nio", "matrix-synapse", "aiosqlite"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{package} {metadata.version(package)}")
    cpus = os.cpu_count() or 0
    today = datetime.date.today().isoformat()
    return f"{today}, {platform.machine()} × {cpus} cores, Python {platform.python_version()}, " + ", ".join(
        versions
    )


def spread(values: Sequence[float]) -> str:
    """Median and the range around it, e.g. ``0.18 s (0.12–0.31)``."""
    if not values:
        return "–"
    return f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def record(section: str, body: str) -> None:
    """Replace (or append) the section ``section`` of RESULTS.md with ``body``."""
    if os.environ.get("LOTSE_BENCH_NO_RECORD"):  # the suite's smoke runs leave the page alone
        print(body)
        return
    rewrite_section(PAGE, HEAD, section, body)
    print(body)


if __name__ == "__main__":  # pragma: no cover - a quick look at what would be written
    print(machine(), file=sys.stderr)
