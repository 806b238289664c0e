"""Every benchmark at its full size, one after another: ``python3 dev.py bench [NAME ...]``.

Each ``bench/bench_NAME.py`` rewrites its own section of ``bench/RESULTS.md``. With names, only
those run (``python3 dev.py bench joins store``). They run one at a time: side by side with each
other they would measure each other.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def scripts(names: list[str]) -> list[Path]:
    found = {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}
    unknown = [n for n in names if n not in found]
    if unknown:
        raise SystemExit(f"no benchmark named {', '.join(unknown)}; there are: {', '.join(found)}")
    return [found[n] for n in names] if names else list(found.values())


def main(argv: list[str]) -> int:
    failed = []
    for script in scripts(argv):
        print(f"== {script.name}", flush=True)
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, check=False)  # noqa: S603 - our own scripts
        print(f"== {script.name}: {time.monotonic() - started:.0f} s, exit {done.returncode}", flush=True)
        if done.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"results: {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
