"""The benchmarks run at tiny sizes, so they cannot rot between the times someone measures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "command",
    [
        ["bench/bench_store.py", "2000"],
        ["bench/bench_joins.py", "--burst", "1", "--rooms", "2", "--commands", "1"],
        ["bench/bench_ingest.py", "--messages", "40", "--rooms", "2", "--senders", "2", "--rounds", "1"],
        ["bench/bench_latency.py", "--commands", "5"],
        ["bench/bench_footprint.py", "--sizes", "3"],
        ["bench/bench_report.py", "--rows", "20000", "--people", "100", "--rounds", "1", "--reports", "1"],
        [
            "bench/bench_expiry.py",
            "--rows",
            "20000",
            "--messages",
            "30",
            "--commands",
            "5",
            "--backlog",
            "100",
            "--per-event-backlog",
            "100",
            "--rounds",
            "1",
        ],
    ],
    ids=["store", "joins", "ingest", "latency", "footprint", "report", "expiry"],
)
def test_benchmark_runs(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, *command],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        # Tiny sizes are no figures: bench/RESULTS.md keeps the last real run.
        env={**os.environ, "LOTSE_BENCH_NO_RECORD": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ratio" in done.stdout, done.stdout
